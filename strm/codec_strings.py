"""RFC 6381 codec strings (an HLS master's CODECS) from ffprobe's description of streams.

Jellyfin and hls.js check CODECS before they play a variant: a wrong string makes a
browser player drop it, a missing one only makes it look at the media first. So a
string is given only when every audio and video stream has an exact one; else none.
H.264 is read from its SPS bytes (profile, constraint flags, level), as ffmpeg's own
HLS muxer does; AAC from its profile.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_AAC_OBJECT_TYPES = {"LC": 2, "HE-AAC": 5, "HE-AACv2": 29, "Main": 1, "LD": 23, "ELD": 39}
_FIXED = {"mp3": "mp4a.40.34", "ac3": "ac-3", "eac3": "ec-3"}
# One line of ffprobe's -show_data hex dump: "00000010: 0300 0400 ...  ascii".
_DUMP_LINE = re.compile(r"[0-9a-f]{8}: ((?:[0-9a-f]{2,4} )+)")
_START_CODE = re.compile(rb"\x00\x00\x01")
_H264_SPS = 7


def codecs(streams: Iterable[Mapping[str, Any]]) -> str:
    """`avc1.64001f,mp4a.40.2` for ffprobe's `streams`, or "" when one is not known."""
    found: list[str] = []
    for stream in streams:
        if stream.get("codec_type") not in ("video", "audio"):
            continue  # ID3 timed metadata, subtitles: not in CODECS
        one = codec(stream)
        if one is None:
            return ""
        found.append(one)
    return ",".join(dict.fromkeys(found))


def codec(stream: Mapping[str, Any]) -> str | None:
    name = stream.get("codec_name")
    if name == "h264":
        return _avc(extradata(str(stream.get("extradata") or "")))
    if name == "aac":
        object_type = _AAC_OBJECT_TYPES.get(str(stream.get("profile")))
        return None if object_type is None else f"mp4a.40.{object_type}"
    return _FIXED.get(str(name))


def extradata(dump: str) -> bytes:
    """The bytes of ffprobe's extradata hex dump."""
    hex_digits = "".join(
        match.group(1).replace(" ", "")
        for line in dump.splitlines()
        if (match := _DUMP_LINE.match(line))
    )
    try:
        return bytes.fromhex(hex_digits)
    except ValueError:
        return b""


def _avc(data: bytes) -> str | None:
    """`avc1.PPCCLL` from an avcC record (MP4) or Annex B parameter sets (MPEG-TS)."""
    if len(data) >= 4 and data[0] == 1:  # avcC: version, profile, constraints, level
        return f"avc1.{data[1]:02x}{data[2]:02x}{data[3]:02x}"
    for match in _START_CODE.finditer(data):
        nal = data[match.end() : match.end() + 4]
        if len(nal) == 4 and nal[0] & 0x1F == _H264_SPS:
            return f"avc1.{nal[1]:02x}{nal[2]:02x}{nal[3]:02x}"
    return None
