"""Reading from a hoster's CDN outside the proxy: answers sorted into usable, expired
(worth a re-resolve) and broken, and playlists read as tolerantly as the proxy reads them.

The availability probe and the downloads use this; the proxy shares `read_playlist`.
Every request goes through catalog.egress.upstream: the address check on every hop and
on the connected address, the resolver's headers, redirects resolved to the final URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from catalog.egress import hls, ssrf, upstream

# Answers that mean "this URL no longer works for us" (an expired or IP-bound token):
# a fresh resolve usually helps. The proxy re-resolves on the same statuses.
EXPIRED_STATUSES = frozenset({403, 404, 410, 429, 451})
MAX_PLAYLIST_BYTES = 8 * 1024 * 1024
# Keys and init sections are small; anything bigger is not what we asked for.
MAX_SMALL_BYTES = 4 * 1024 * 1024
_HTML_START = (b"<!doctype", b"<html", b"<head", b"<body", b"<?xml")
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)


class FetchFailed(Exception):
    """One line saying what went wrong. `expired`: the URL may work again after a
    re-resolve (a refused token, a dropped connection); else the stream is unusable."""

    def __init__(self, message: str, *, expired: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.expired = expired
        self.status = status


class AddressRefused(FetchFailed):
    """The address check refused a hop: nothing was sent there, and nothing will be."""

    def __init__(self, message: str) -> None:
        super().__init__(message, expired=False)


class NotAPlaylist(upstream.UpstreamError):
    """The body is something else: an HTML error page, media, a part of a playlist."""


@dataclass(frozen=True)
class Playlist:
    url: str  # after redirects: relative URIs resolve against it
    text: str  # decoded: BOM gone, "\n" line ends


def open_url(
    url: str,
    headers: dict[str, str],
    *,
    range_header: str | None = None,
    accept_gzip: bool = False,
) -> upstream.Upstream:
    """A 2xx answer (body unread); FetchFailed for anything else."""
    try:
        answer = upstream.open_url(url, headers, range_header=range_header, accept_gzip=accept_gzip)
    except ssrf.BlockedTarget as exc:
        raise AddressRefused(f"refused: {exc}") from exc
    except upstream.Unreachable as exc:
        raise FetchFailed(str(exc), expired=True) from exc
    except upstream.UpstreamError as exc:
        raise FetchFailed(str(exc), expired=False) from exc
    if 200 <= answer.status < 300:
        return answer
    answer.abort()
    status = answer.status
    message = f"{host(answer.url)} answered {status}"
    raise FetchFailed(message, expired=status in EXPIRED_STATUSES, status=status)


def fetch_playlist(url: str, headers: dict[str, str]) -> Playlist:
    """A playlist, read whole and decoded; FetchFailed when there is none to read."""
    answer = open_url(url, headers, accept_gzip=True)
    return Playlist(answer.url, _read(answer))


def read_playlist(answer: upstream.Upstream, max_bytes: int = MAX_PLAYLIST_BYTES) -> str:
    """The decoded text of a playlist answer (a 200, or a 206 holding all of it).

    Raises NotAPlaylist (HTML page, media, only a part), upstream.BodyTooLarge,
    upstream.BodyInterrupted or hls.PlaylistError.
    """
    if answer.status == 206 and not is_whole(answer):
        answer.abort()
        raise NotAPlaylist(f"{host(answer.url)} sent only part of a playlist")
    head = answer.read_head(hls.SNIFF_BYTES)
    if not hls.looks_like_playlist(head, answer.header("Content-Type"), answer.url):
        answer.abort()
        what = "an HTML page" if looks_like_html(head) else "something else"
        raise NotAPlaylist(f"{host(answer.url)} sent {what} instead of an HLS playlist")
    return hls.decode_playlist(answer.read_decoded(max_bytes))


def fetch_small(
    url: str,
    headers: dict[str, str],
    byterange: hls.ByteRange | None = None,
    limit: int = MAX_SMALL_BYTES,
) -> bytes:
    """A small resource (a key, an init section, one segment) read whole."""
    answer = open_url(url, headers, range_header=byterange.http_range() if byterange else None)
    try:
        body = answer.read_decoded(limit)
    except upstream.BodyInterrupted as exc:
        raise FetchFailed(str(exc), expired=True) from exc
    except upstream.UpstreamError as exc:
        raise FetchFailed(str(exc), expired=False) from exc
    if byterange is not None and answer.status == 200:
        # The server ignored the Range: cut the part out ourselves.
        end = None if byterange.length is None else byterange.offset + byterange.length
        body = body[byterange.offset : end]
    return body


def _read(answer: upstream.Upstream) -> str:
    try:
        return read_playlist(answer)
    except upstream.BodyInterrupted as exc:
        raise FetchFailed(str(exc), expired=True) from exc
    except (NotAPlaylist, upstream.UpstreamError) as exc:
        raise FetchFailed(str(exc), expired=False) from exc
    except hls.PlaylistError as exc:
        raise FetchFailed(
            f"unusable playlist from {host(answer.url)}: {exc}", expired=False
        ) from exc


def content_range(answer: upstream.Upstream) -> tuple[int, int, int | None] | None:
    """(first, last, total or None) of a Content-Range header, None without one."""
    match = _CONTENT_RANGE.fullmatch((answer.header("Content-Range") or "").strip())
    if match is None:
        return None
    first, last, total = match.groups()
    return int(first), int(last), None if total == "*" else int(total)


def is_whole(answer: upstream.Upstream) -> bool:
    """Whether a 206 answer holds the whole resource (some servers answer bytes=0- so)."""
    found = content_range(answer)
    if found is None:
        return False
    first, last, total = found
    return first == 0 and (total is None or last == total - 1)


def looks_like_html(head: bytes) -> bool:
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").lower().startswith(_HTML_START)


def host(url: str) -> str:
    return urlsplit(url).netloc or "upstream"
