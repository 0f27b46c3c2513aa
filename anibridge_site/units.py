"""Numbers as people read them: sizes, rates and durations (admin columns, progress)."""

from __future__ import annotations

_UNITS = ("B", "KB", "MB", "GB", "TB")


def human_bytes(count: float | None) -> str:
    """1234567 -> "1.2 MB" (decimal units, as browsers and Sonarr show sizes)."""
    if count is None:
        return ""
    value = float(count)
    for unit in _UNITS:
        if abs(value) < 1000 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def human_rate(bytes_per_second: float | None) -> str:
    """10240 -> "10.2 KB/s"; "" when there is no rate."""
    if not bytes_per_second:
        return ""
    return human_bytes(bytes_per_second) + "/s"


def human_duration(seconds: float | None) -> str:
    """200 -> "3m 20s", 7500 -> "2h 5m"; "" when unknown."""
    if seconds is None:
        return ""
    total = int(max(0, seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"
