"""Parameters as qBittorrent reads them: query string and form body merged."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


class BadParams(ValueError):
    """The request's parameters cannot be used; the message says which and why."""


class QbParams:
    """Query string + urlencoded or multipart body (Sonarr switches to multipart for
    long fields; the qbittorrent-api client POSTs even read-only calls)."""

    def __init__(self, request: HttpRequest) -> None:
        try:
            body = request.POST if request.method == "POST" else {}
            self.files = request.FILES if request.method == "POST" else {}
        except (
            RequestDataTooBig,
            TooManyFieldsSent,
            TooManyFilesSent,
            MultiPartParserError,
        ) as exc:
            # Django would answer these with its HTML 400 page; qB clients read one line.
            raise BadParams(f"request body refused: {exc}") from None
        self._values: dict[str, str] = {k: str(v) for k, v in request.GET.items()}
        self._values.update({k: str(v) for k, v in body.items()})
        # No qB parameter is binary; PostgreSQL cannot store NUL in text at all. Magnets
        # (`urls`) are checked by the magnet parser, which answers qB's own "Fails.".
        for name, value in self._values.items():
            if "\x00" in name or ("\x00" in value and name != "urls"):
                raise BadParams(f"parameter {name[:40]!r} contains a NUL byte")

    def text(self, name: str, default: str = "") -> str:
        return self._values.get(name, default)

    def has(self, name: str) -> bool:
        return name in self._values

    def flag(self, name: str, default: bool = False) -> bool:
        """C# sends True/False, others true/false: compare case-insensitively."""
        raw = self._values.get(name)
        if raw is None:
            return default
        low = raw.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise BadParams(f"{name}={raw!r} is not a boolean (true/false)")

    def integer(self, name: str, default: int | None = None) -> int | None:
        raw = self._values.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise BadParams(f"{name}={raw[:40]!r} is not a whole number") from None

    def loose_integer(self, name: str) -> int:
        """A number read as qBittorrent reads `rid`, `limit` and `offset`: anything
        that is not a whole number counts as 0."""
        try:
            return int(self._values.get(name, "").strip())
        except ValueError:  # also numbers of more digits than Python converts
            return 0

    def require(self, *names: str) -> None:
        """400 when a parameter qBittorrent requires is absent (an empty value is present)."""
        missing = [n for n in names if n not in self._values]
        if missing:
            raise BadParams(f"Missing required parameters: {', '.join(missing)}")

    def hashes(self) -> list[str] | None:
        """An action's `hashes`, as qBittorrent reads it: required; the literal `all`
        means every torrent (None); otherwise `|`-separated hashes, so `hashes=` names
        none."""
        self.require("hashes")
        raw = self._values["hashes"]
        if raw == "all":
            return None
        return [h.strip().lower() for h in raw.split("|") if h.strip()]

    def hash_filter(self) -> tuple[str, ...] | None:
        """torrents/info's `hashes` filter: absent or empty means no filter (every
        torrent); `all` is not special there, it is a hash no torrent has."""
        hashes = tuple(h.strip().lower() for h in self.text("hashes").split("|") if h.strip())
        return hashes or None
