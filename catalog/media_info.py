"""What a stream is: resolution, bit rate and codecs, from an HLS master's attributes or,
where the playlists do not say, from ffprobe reading its first media bytes.

Codecs come out as the RFC 6381 strings an HLS master's CODECS attribute carries
("avc1.64001f,mp4a.40.2"), so a synthetic master can be completed with them; a codec
we cannot name exactly leaves CODECS empty rather than wrong.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from catalog.egress.hls import UriRef

FFPROBE_TIMEOUT_SECONDS = 30
_RESOLUTION = re.compile(r"\s*(\d{1,5})\s*[xX]\s*(\d{1,5})\s*")
# H.264 profile name (as ffprobe prints it) -> profile_idc and constraint flags byte.
_AVC_PROFILES = {
    "constrained baseline": (66, 0xE0),
    "baseline": (66, 0x00),
    "main": (77, 0x40),
    "extended": (88, 0x00),
    "high": (100, 0x00),
    "high 10": (110, 0x00),
    "high 4:2:2": (122, 0x00),
    "high 4:4:4 predictive": (244, 0x00),
}
# HEVC profile -> the profile and compatibility part of "hvc1.<p>.<c>.L<level>.B0".
_HEVC_PROFILES = {"main": "1.6", "main 10": "2.4"}
_AAC_OBJECT_TYPES = {"lc": 2, "he-aac": 5, "he-aacv2": 29, "main": 1, "ltp": 4}
_OTHER_AUDIO = {"mp3": "mp4a.40.34", "ac3": "ac-3", "eac3": "ec-3", "opus": "opus", "flac": "fLaC"}
_VIDEO_CODEC_PREFIXES = ("avc1", "avc3", "hvc1", "hev1", "av01", "vp09", "vp8", "dvh1", "dvhe")


@dataclass(frozen=True)
class StreamInfo:
    """What is known about a stream; None or "" where nothing says."""

    width: int | None = None
    height: int | None = None
    bandwidth: int | None = None  # bits per second, the peak (HLS BANDWIDTH)
    codecs: str = ""  # RFC 6381, comma-separated
    vcodec: str = ""  # the video codec's name, for release names ("avc1.64001f", "h264")
    duration: float | None = None  # seconds, where ffprobe read a whole file's header

    @property
    def complete(self) -> bool:
        return bool(self.height and self.width and self.codecs and self.bandwidth)

    def merged(self, other: StreamInfo) -> StreamInfo:
        """This, with what it lacks taken from `other`."""
        return replace(
            self,
            width=self.width or other.width,
            height=self.height or other.height,
            bandwidth=self.bandwidth or other.bandwidth,
            codecs=self.codecs or other.codecs,
            vcodec=self.vcodec or other.vcodec,
            duration=self.duration or other.duration,
        )


def variant_info(attributes: Mapping[str, str]) -> StreamInfo:
    """What an EXT-X-STREAM-INF tag says about its variant."""
    width = height = None
    if match := _RESOLUTION.fullmatch(attributes.get("RESOLUTION", "")):
        width, height = int(match.group(1)) or None, int(match.group(2)) or None
    bandwidth = _positive(attributes.get("BANDWIDTH")) or _positive(
        attributes.get("AVERAGE-BANDWIDTH")
    )
    codecs = attributes.get("CODECS", "").strip()
    return StreamInfo(width, height, bandwidth, codecs, video_codec(codecs))


def best_variant(variants: Iterable[UriRef]) -> UriRef | None:
    """The variant with the most lines, then the highest bit rate (the first on ties)."""

    def rank(ref: UriRef) -> tuple[int, int]:
        info = variant_info(ref.attributes)
        return info.height or 0, info.bandwidth or 0

    best: UriRef | None = None
    for ref in variants:
        if ref.kind == "variant" and (best is None or rank(ref) > rank(best)):
            best = ref
    return best


def video_codec(codecs: str) -> str:
    """The video entry of a CODECS value ("" when it names none)."""
    for entry in codecs.split(","):
        if entry.strip().lower().startswith(_VIDEO_CODEC_PREFIXES):
            return entry.strip()
    return ""


def ffprobe(
    source: str | Path, input_options: Sequence[str] = (), stdin: bytes | None = None
) -> StreamInfo:
    """What ffprobe finds in a file, a local playlist or bytes on stdin ("pipe:0"),
    without a bit rate (the caller knows sizes and durations); empty if it finds nothing."""
    command = ["ffprobe", "-v", "error", *input_options, "-show_streams", "-show_format"]
    command += ["-of", "json", str(source)]
    try:
        result = subprocess.run(
            command, input=stdin, capture_output=True, timeout=FFPROBE_TIMEOUT_SECONDS, check=False
        )
        found = json.loads(result.stdout or b"{}")
    except (OSError, subprocess.SubprocessError, ValueError):
        return StreamInfo()
    return probed_info(found)


def probed_info(found: Mapping[str, Any]) -> StreamInfo:
    """StreamInfo from ffprobe's JSON (-show_streams -show_format), bit rate left out."""
    streams = [s for s in found.get("streams") or [] if isinstance(s, dict)]
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    names = [_codec_string(s) for s in ([video] if video else []) + audio[:1]]
    codecs = ",".join(names) if names and all(names) else ""
    width = _positive(video.get("width")) if video else None
    height = _positive(video.get("height")) if video else None
    vcodec = (names[0] or str(video.get("codec_name") or "")) if video else ""
    duration = _seconds((found.get("format") or {}).get("duration"))
    return StreamInfo(width, height, None, codecs, vcodec[:32], duration)


def _codec_string(stream: Mapping[str, Any]) -> str:
    name = str(stream.get("codec_name") or "").lower()
    profile = str(stream.get("profile") or "").lower()
    level = stream.get("level")
    if name == "h264" and profile in _AVC_PROFILES and isinstance(level, int) and level > 0:
        idc, constraints = _AVC_PROFILES[profile]
        return f"avc1.{idc:02x}{constraints:02x}{level:02x}"
    if name == "hevc" and profile in _HEVC_PROFILES and isinstance(level, int) and level > 0:
        return f"hvc1.{_HEVC_PROFILES[profile]}.L{level}.B0"
    if name == "aac" and profile in _AAC_OBJECT_TYPES:
        return f"mp4a.40.{_AAC_OBJECT_TYPES[profile]}"
    return _OTHER_AUDIO.get(name, "")


def _seconds(value: object) -> float | None:
    try:
        seconds = float(str(value))
    except ValueError:
        return None
    return seconds if 0 < seconds < 1e7 else None


def _positive(value: object) -> int | None:
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if number > 0 else None
