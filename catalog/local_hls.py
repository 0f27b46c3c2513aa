"""An HLS media playlist as a local one: which resources to fetch, under which file names,
and the playlist text that points ffmpeg at those files instead of the CDN.

Downloads fetch every segment, key and init section into a directory and let ffmpeg
remux from the local playlist (`-c copy`: the frames as the CDN sent them; ffmpeg
decrypts AES-128 with the local key); the probe does the same with the first segment
only. Each byte range becomes a file of its own, so the local playlist has no ranges.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from catalog.egress import hls
from catalog.egress.hls import UriRef

# Arguments that keep ffmpeg on the local files: it may open nothing over the network.
FFMPEG_INPUT_OPTIONS = ("-allowed_extensions", "ALL", "-protocol_whitelist", "file,crypto")
_FETCHED_KINDS = frozenset({"segment", "key", "map"})
# Tags whose resources we do not fetch (low-latency parts, session data, ...) or whose
# byte ranges no longer apply: dropped from the local playlist.
_DROPPED_TAGS = frozenset(
    {
        "EXT-X-BYTERANGE",
        "EXT-X-PART",
        "EXT-X-PART-INF",
        "EXT-X-PRELOAD-HINT",
        "EXT-X-RENDITION-REPORT",
        "EXT-X-SERVER-CONTROL",
        "EXT-X-SKIP",
        "EXT-X-SESSION-DATA",
        "EXT-X-SESSION-KEY",
        "EXT-X-CONTENT-STEERING",
        "EXT-X-DATERANGE",
        "EXT-X-ENDLIST",  # added again at the end
    }
)
_MAP_BYTERANGE = re.compile(r',?\s*BYTERANGE="[^"]*"')
_KEY_METHODS = frozenset({"AES-128"})


class UnsupportedStream(ValueError):
    """A playlist we cannot turn into a file (DRM, sample encryption, a master)."""


def local_name(ref: UriRef) -> str:
    """The file name of a fetched resource: stable across re-resolves (by sequence number
    and position, never by URL), with the extension ffmpeg expects for its kind."""
    if ref.kind == "segment":
        return f"seg{ref.media_sequence:08d}{ref.extension}"
    if ref.kind == "key":
        return f"key{ref.position:04d}.key"
    if ref.kind == "map":
        return f"map{ref.position:04d}{ref.extension}"
    return f"unused-{ref.kind}"


def resources(refs: Iterable[UriRef], segments: int | None = None) -> list[UriRef]:
    """What must be fetched to play the playlist (or its first `segments` segments): the
    segments and the keys and init sections in effect for them, in playlist order."""
    wanted: list[UriRef] = []
    count = 0
    for ref in refs:
        if segments is not None and count >= segments:
            break  # what follows belongs to segments that are not wanted
        if ref.kind not in _FETCHED_KINDS:
            continue
        if ref.kind == "key":
            _check_key(ref)
        count += ref.kind == "segment"
        wanted.append(ref)
    return wanted


def local_playlist(text: str, base_url: str, segments: int | None = None) -> str:
    """The media playlist pointing at `local_name` files, ending after `segments` segments
    (all by default) with #EXT-X-ENDLIST: what was fetched is all there is."""
    if hls.is_master(text):
        raise UnsupportedStream("a master playlist, not a media playlist")
    out: list[str] = []
    seen = 0
    for line in hls.rewrite_playlist(text, base_url, local_name).splitlines():
        if line.startswith("#EXT") and _tag(line) in _DROPPED_TAGS:
            continue
        if line.startswith("#EXT-X-MAP"):
            line = _MAP_BYTERANGE.sub("", line).replace(":,", ":", 1)
        elif line.strip() and not line.startswith("#"):
            seen += 1
            if segments is not None and seen == segments:
                out.append(line)
                break  # tags after it belong to segments that are not there
        out.append(line)
    return "\n".join([*out, "#EXT-X-ENDLIST"]) + "\n"


def _tag(line: str) -> str:
    return line[1:].split(":", 1)[0].strip()


def _check_key(ref: UriRef) -> None:
    method = ref.attributes.get("METHOD", "")
    keyformat = ref.attributes.get("KEYFORMAT", "identity")
    if method not in _KEY_METHODS or keyformat != "identity":
        raise UnsupportedStream(
            f"encrypted with {method or 'an unknown method'} ({keyformat}): "
            "only AES-128 with a plain key can be downloaded"
        )
