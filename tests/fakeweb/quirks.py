"""Playlist quirks real hosters' CDNs have, served by the fake CDN on demand.

`FakeCdn.quirks` is a set of these names (empty: the files as they are):
- `bom-crlf`: playlists start with a UTF-8 BOM and use CRLF line ends, no final newline;
- `partial-text`: playlists are answered 206 (Content-Range of the whole body) as
  `text/plain`, whether or not a Range was asked for;
- `odd-extensions`: segment URIs end in `.jpg`, `.html` or no extension at all, variant
  URIs have no extension (the CDN maps them back to the real files);
- `moved`: a master playlist answers 302 to `moved/master.m3u8` next to it, and only
  paths through `moved/` serve what the playlists point to, so relative URIs work only
  when resolved against the URL after the redirect;
- `tags-between`: tags and comments between `#EXTINF` and its URI, and a comment and a
  blank line between `#EXT-X-STREAM-INF` and its URI.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from tests.fakeweb.server import Request, Response, redirect

QUIRKS = frozenset({"bom-crlf", "partial-text", "odd-extensions", "moved", "tags-between"})
MOVED = "moved"
_DISGUISES = (".jpg", ".html", "")  # "" : the extension's dot becomes "~"
_MEDIA_SUFFIXES = (".ts", ".m4s", ".m3u8")


def resource_for(resource: str, quirks: frozenset[str], media_root: Path) -> str | Response:
    """The media file behind a requested resource path, or the answer to give instead.
    Only HLS resources (`hls/...`) have quirks."""
    if not resource.startswith("hls/"):
        return resource
    if "moved" in quirks:
        parts = resource.split("/")
        if MOVED in parts:
            resource = "/".join(part for part in parts if part != MOVED)
        elif resource.endswith("/master.m3u8"):
            return redirect(f"{MOVED}/master.m3u8")
        else:
            return Response(404, b"not here: only under moved/", "text/plain")
    if "odd-extensions" in quirks and not (media_root / resource).is_file():
        resource = _undisguise(resource)
    return resource


def playlist_body(body: bytes, quirks: frozenset[str]) -> bytes:
    lines = body.decode().splitlines()
    if "tags-between" in quirks:
        lines = _tags_between(lines)
    if "odd-extensions" in quirks:
        lines = _disguised(lines)
    if "bom-crlf" in quirks:
        return b"\xef\xbb\xbf" + "\r\n".join(lines).encode()
    return ("\n".join(lines) + "\n").encode()


def playlist_response(request: Request, body: bytes, quirks: frozenset[str]) -> Response:
    if "partial-text" in quirks:
        headers = {"Content-Range": f"bytes 0-{len(body) - 1}/{len(body)}"}
        return Response(206, body, "text/plain", headers)
    return Response(200, body, "application/vnd.apple.mpegurl")


def _tags_between(lines: list[str]) -> list[str]:
    out: list[str] = []
    for number, line in enumerate(lines):
        out.append(line)
        if line.startswith("#EXTINF"):
            out += [f"#EXT-X-PROGRAM-DATE-TIME:2024-05-01T10:00:{number:02d}.000Z", "# cue"]
        elif line.startswith("#EXT-X-STREAM-INF"):
            out += ["# variant follows", ""]
    return out


def _disguised(lines: list[str]) -> list[str]:
    out = []
    count = 0
    for line in lines:
        if line.endswith(".m3u8") and not line.startswith("#"):
            line = _disguise(line, "")
        elif line.endswith(_MEDIA_SUFFIXES) and not line.startswith("#"):
            line = _disguise(line, _DISGUISES[count % len(_DISGUISES)])
            count += 1
        out.append(line)
    return out


def _disguise(uri: str, disguise: str) -> str:
    if disguise:
        return uri + disguise
    stem, extension = posixpath.splitext(uri)
    return f"{stem}~{extension[1:]}"


def _undisguise(resource: str) -> str:
    for disguise in _DISGUISES:
        if disguise and resource.endswith(disguise):
            return resource.removesuffix(disguise)
    return re.sub(r"~([a-z0-9]+)$", r".\1", resource)
