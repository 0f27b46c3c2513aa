"""The STRM proxy: serve an episode's stream and everything its playlists point to.

Two kinds of request arrive (strm.views parses them): the entry URL of a .strm file
(an identity) and `/strm/proxy/<token>/...` for a URI of a playlist we rewrote (a
strm.signing.ProxyToken). Both end here as a Target. Playlists come back rewritten
(200, exact length, never upstream's 206); everything else streams through with
Range passed on. The proxy never redirects a client to the CDN.

When upstream refuses (403/404/410/429/451) or cannot be reached before a byte was
sent to the client, the identity is re-resolved (strm.resolved, one re-resolve per
identity at a time) and the same resource is located in the fresh playlist tree by
its token's locator chain; then the request is tried once more. A token whose URL
belongs to an older resolution is served by that walk straight away.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from catalog.egress import fetch, hls, ssrf, upstream
from catalog.egress.hls import Locator, UriRef
from catalog.identity import EpisodeIdentity
from catalog.memo import TtlMemo
from catalog.streams import ResolveError
from strm import bandwidth, media_types, resolved, stream_info
from strm.media_body import UNSATISFIABLE, MediaBody, parse_range
from strm.resolved import Resolution
from strm.signing import ProxyToken, TokenTooLarge
from strm.stream_urls import proxy_file_name, proxy_prefix, proxy_url, with_query

log = logging.getLogger(__name__)

REFRESH_STATUSES = fetch.EXPIRED_STATUSES
PLAYLIST_CONTENT_TYPE = "application/vnd.apple.mpegurl"
# Far above any real VOD playlist, far below what would hurt a worker's memory.
MAX_PLAYLIST_BYTES = 8 * 1024 * 1024
# Real trees are master -> media (-> rendition report); deeper means a loop or a trap,
# and every level makes each token longer and each re-find walk longer.
MAX_PLAYLIST_DEPTH = 8
# Playlists fetched while re-finding a resource, kept so that the next segment of
# the same playback does not fetch them again (ffmpeg never reloads a VOD playlist,
# so after a re-resolve every further segment takes this path).
_memo: TtlMemo[tuple[str, ...], tuple[str, str]] = TtlMemo(600.0, size=32)
# Passed on as upstream sent them (catalog.egress.connections refused invalid values).
# Content-Type (strm.media_types) and Content-Length (the size the body really has, see
# _media_reply) are ours to state, never passed through.
_MEDIA_HEADERS = (
    "Content-Range",
    "Accept-Ranges",
    "ETag",
    "Last-Modified",
    "Content-Encoding",
)


@dataclass(frozen=True)
class ClientRequest:
    """What the media server asked for, beyond the resource itself."""

    method: str = "GET"  # GET or HEAD
    range: str | None = None
    if_range: str | None = None
    # LL-HLS blocking-reload parameters, passed on to upstream playlist requests.
    hls_query: tuple[tuple[str, str], ...] = ()
    # The client's socket when a media body may be spliced into it (catalog.egress.splice).
    sink: socket.socket | None = None
    # Where the client reached us, for playlist URIs (strm.public_url); None: configured.
    base_url: str | None = None
    # Who asks (address, User-Agent): the admin's "Active streams" (strm.activity).
    peer: str = ""
    agent: str = ""

    @property
    def head(self) -> bool:
        return self.method == "HEAD"


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    # bytes, or an iterator the web server must close (closing it frees the upstream).
    body: bytes | MediaBody = b""


@dataclass(frozen=True)
class Target:
    identity: EpisodeIdentity
    chain: tuple[Locator, ...] = ()
    url: str | None = None
    generation: str | None = None
    playlist: bool | None = None  # None: the entry, decided by looking at it
    extension: str = ""

    @property
    def kind(self) -> str | None:
        return self.chain[-1].kind if self.chain else None


class Failed(Exception):
    """This attempt gives the client `status` with a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Refreshable(Failed):
    """Upstream refused or was unreachable before we sent anything: re-resolve and retry."""

    def __init__(self, upstream_status: int | None, message: str) -> None:
        super().__init__(502, message)
        self.upstream_status = upstream_status


# --- entry points ------------------------------------------------------------------------


def serve_entry(identity: EpisodeIdentity, client: ClientRequest) -> Reply:
    return serve(Target(identity), client)


def serve_token(token: ProxyToken, client: ClientRequest, extension: str = "") -> Reply:
    """`extension`: of the proxy path (".ts", ".key", ...), for the Content-Type fallback."""
    target = Target(
        token.identity, token.chain, token.url, token.generation, token.playlist, extension
    )
    return serve(target, client)


def serve(target: Target, client: ClientRequest) -> Reply:
    """One request: try, and on a refreshable failure re-resolve and try once more."""
    identity = target.identity
    try:
        resolution = resolved.current(identity)
    except ResolveError as exc:
        log.warning("strm: cannot resolve %s: %s", identity, exc)
        return _error(502, str(exc))
    try:
        return _attempt(target, client, resolution)
    except Refreshable as failure:
        log.info("strm: %s (%s); re-resolving %s", failure, target.kind or "entry", identity)
        resolved.record_failure(identity, failure.upstream_status, str(failure))
        return _retry(target, client, resolution, str(failure))
    except Failed as failure:
        log.warning("strm: %s for %s: %s", target.kind or "entry", identity, failure)
        return _error(failure.status, str(failure))


def _retry(target: Target, client: ClientRequest, stale: Resolution, why: str) -> Reply:
    identity = target.identity
    try:
        fresh = resolved.refresh(identity, stale=stale)
        if fresh.version == stale.version:  # re-resolved moments ago, and that failed too
            log.warning("strm: %s for %s: %s; re-resolved just now", target.kind, identity, why)
            return _error(502, f"{why}; re-resolved just now, trying again shortly")
        reply = _attempt(target, client, fresh)
    except ResolveError as exc:
        log.warning("strm: re-resolving %s failed: %s", identity, exc)
        return _error(502, str(exc))
    except Failed as failure:
        log.warning("strm: %s for %s failed after re-resolve: %s", target.kind, identity, failure)
        if isinstance(failure, Refreshable):
            resolved.record_failure(identity, failure.upstream_status, str(failure))
        return _error(failure.status, str(failure))
    resolved.record_success(identity, reply.status)
    return reply


def _attempt(target: Target, client: ClientRequest, resolution: Resolution) -> Reply:
    if target.url is not None and target.generation == resolution.generation:
        url = target.url
    else:
        url = _locate(target, resolution)
    if target.playlist is None:
        return _entry(target, client, resolution, url)
    if target.playlist:
        return _playlist(target, client, resolution, with_query(url, client.hls_query))
    return _media(target, client, resolution, url)


# --- the entry: playlist or progressive file ---------------------------------------------


def _entry(target: Target, client: ClientRequest, resolution: Resolution, url: str) -> Reply:
    # ffmpeg sends "Range: bytes=0-" first; a progressive file needs the range kept.
    answer = _open(url, resolution, range_header=client.range, if_range=client.if_range)
    if answer.status not in (200, 206):
        return _media_reply(answer, client, target, client.range, client.if_range)
    if _starts_at_zero(answer):
        head = _read_head(answer)
        is_playlist = hls.looks_like_playlist(head, answer.header("Content-Type"), answer.url)
    else:
        head = b""
        is_playlist = hls.looks_like_playlist(b"", answer.header("Content-Type"), answer.url)
    if is_playlist:
        if answer.status == 206 and not fetch.is_whole(answer):
            answer.abort()
            answer = _open(url, resolution, accept_gzip=True)
        return _playlist_reply(answer, target, client, resolution, entry=True)
    if fetch.looks_like_html(head):
        answer.abort()
        raise Failed(502, f"{_host(answer.url)} sent an HTML page instead of media")
    if answer.is_encoded():
        answer.abort()
        raise Failed(502, f"{_host(answer.url)} sent compressed media; cannot pass ranges through")
    return _media_reply(answer, client, target, client.range, client.if_range)


# --- playlists ---------------------------------------------------------------------------


def _playlist(target: Target, client: ClientRequest, resolution: Resolution, url: str) -> Reply:
    # Never forward the client's Range: the rewritten body has another length anyway.
    answer = _open(url, resolution, accept_gzip=True)
    if answer.status not in (200, 206):
        answer.abort()
        raise Failed(502, f"{_host(answer.url)} answered {answer.status} for a playlist")
    return _playlist_reply(answer, target, client, resolution, entry=False)


def _playlist_reply(
    answer: upstream.Upstream,
    target: Target,
    client: ClientRequest,
    resolution: Resolution,
    *,
    entry: bool,
) -> Reply:
    text = _read_playlist(answer)
    body = None
    if entry and not hls.is_master(text):
        body = _single_variant_master(text, answer.url, target, resolution, client.base_url)
    if body is None:
        body = _rewrite(text, answer.url, target, resolution, client.base_url)
    data = body.encode()
    headers = {
        "Content-Type": PLAYLIST_CONTENT_TYPE,
        "Content-Length": str(len(data)),
        "Cache-Control": "no-store",
    }
    return Reply(200, headers, b"" if client.head else data)


def _read_playlist(answer: upstream.Upstream) -> str:
    try:
        return fetch.read_playlist(answer, MAX_PLAYLIST_BYTES)
    except fetch.NotAPlaylist as exc:
        raise Failed(502, str(exc)) from exc
    except upstream.BodyTooLarge as exc:
        raise Failed(502, f"playlist too large: {exc}") from exc
    except upstream.BodyInterrupted as exc:
        raise Refreshable(None, str(exc)) from exc
    except hls.PlaylistError as exc:
        raise Failed(502, f"unusable playlist from {_host(answer.url)}: {exc}") from exc


def _rewrite(
    text: str, base_url: str, target: Target, resolution: Resolution, public: str | None
) -> str:
    if len(target.chain) >= MAX_PLAYLIST_DEPTH:
        raise Failed(
            502,
            f"playlists from {_host(base_url)} nest deeper than {MAX_PLAYLIST_DEPTH} levels "
            "(a loop?)",
        )

    def wrap(ref: UriRef) -> str:
        token = ProxyToken(
            identity=target.identity,
            chain=(*target.chain, ref.locator),
            url=ref.url,
            generation=resolution.generation,
            playlist=ref.is_playlist,
        )
        return proxy_url(token, proxy_file_name(ref.url, ref.kind, ref.extension), public)

    prefixes = tuple({proxy_prefix() + "/", proxy_prefix(public) + "/"})
    try:
        return hls.rewrite_playlist(
            text, base_url, wrap, is_proxied=lambda url: url.startswith(prefixes)
        )
    except (hls.PlaylistError, TokenTooLarge, ValueError) as exc:
        raise Failed(502, f"cannot rewrite the playlist from {_host(base_url)}: {exc}") from exc


def _single_variant_master(
    text: str, media_url: str, target: Target, resolution: Resolution, public: str | None
) -> str | None:
    """A master around a bare media playlist, so players see its bit rate (Jellyfin)."""
    try:
        estimate = hls.estimate_bandwidth(text) or bandwidth.measured(text, media_url, resolution)
    except hls.PlaylistError as exc:  # the same error _rewrite would meet: refuse alike
        raise Failed(502, f"unusable playlist from {_host(media_url)}: {exc}") from exc
    # Zero-length byte ranges give a zero bit rate, which no BANDWIDTH may carry.
    if estimate is None or min(estimate.peak, estimate.average) <= 0:
        log.warning("strm: no bit rate known for %s; serving the media playlist", target.identity)
        return None
    token = ProxyToken(target.identity, (), media_url, resolution.generation, playlist=True)
    info = stream_info.for_master(target.identity, text, media_url, resolution)
    return hls.synthesize_master(
        text,
        proxy_url(token, "index.m3u8", public),
        bandwidth=max(estimate.peak, estimate.average),
        average_bandwidth=estimate.average,
        resolution=info.resolution if info else None,
        codecs=info.codecs if info else None,
    )


# --- media: segments, keys, init sections, progressive files -----------------------------


def _media(target: Target, client: ClientRequest, resolution: Resolution, url: str) -> Reply:
    # A key is 16 bytes; a ranged key request (ffmpeg inherits a segment's range) gets it whole.
    ranged = target.kind not in ("key", "session-key")
    range_header = client.range if ranged else None
    if_range = client.if_range if ranged else None
    answer = _try_head(url, resolution, range_header, if_range) if client.head else None
    if answer is None:
        answer = _open(url, resolution, range_header=range_header, if_range=if_range)
    return _media_reply(answer, client, target, range_header, if_range)


def _try_head(
    url: str, resolution: Resolution, range_header: str | None, if_range: str | None
) -> upstream.Upstream | None:
    """Upstream's answer to HEAD, or None: some CDNs refuse HEAD (405, even 403) where
    GET works, so only a success counts and anything else is decided by a GET."""
    try:
        answer = upstream.open_url(
            url, resolution.headers, method="HEAD", range_header=range_header, if_range=if_range
        )
    except (upstream.UpstreamError, ssrf.BlockedTarget):
        return None
    if answer.status in (200, 206, 416):
        return answer
    answer.abort()
    return None


def _media_reply(
    answer: upstream.Upstream,
    client: ClientRequest,
    target: Target,
    range_header: str | None,
    if_range: str | None,
) -> Reply:
    if answer.status == 416:
        content_range = answer.header("Content-Range")  # "bytes */N": the size, for seeking
        answer.abort()
        headers = {"Content-Length": "0"} | (
            {"Content-Range": content_range} if content_range else {}
        )
        return Reply(416, headers)
    if answer.status not in (200, 206):
        answer.abort()
        raise Failed(502, f"{_host(answer.url)} answered {answer.status}")
    headers = {name: value for name in _MEDIA_HEADERS if (value := answer.header(name))}
    # The first bytes decide the type, so they are read before the head goes out; they
    # stay buffered in `answer` for the body (spliced or not) like any other bytes.
    head = b"" if client.head else _read_head(answer)
    headers["Content-Type"] = media_types.choose(
        head, answer.header("Content-Type"), target.kind, target.extension
    )
    skip, length = 0, None
    size = answer.content_length()  # parsed: "188, 188" is 188, a chunked body has none
    if size is not None:
        headers["Content-Length"] = str(size)
    if answer.status == 200 and range_header and not if_range and size is not None:
        # Upstream ignored the Range: cut the requested part out ourselves.
        wanted = parse_range(range_header, size)
        if wanted == UNSATISFIABLE:
            answer.abort()
            return Reply(416, {"Content-Range": f"bytes */{size}", "Content-Length": "0"})
        if wanted is not None:
            first, last = wanted
            skip, length = first, last - first + 1
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
            headers["Content-Length"] = str(length)
            headers["Accept-Ranges"] = "bytes"
    status = 206 if length is not None else answer.status
    if client.head:
        answer.abort()
        return Reply(status, headers)
    # The first bytes were read above: until the reply is returned a failure can still be
    # retried.
    sink = client.sink if not skip and length is None and answer.can_splice() else None
    body = MediaBody(answer, skip=skip, length=length, label=str(target.identity), sink=sink)
    return Reply(status, headers, body)


# --- finding a resource again ------------------------------------------------------------


def _locate(target: Target, resolution: Resolution) -> str:
    """The upstream URL of `target`'s resource within `resolution`'s playlist tree."""
    if not target.chain:
        return resolution.url
    base, text = _playlist_at(target, resolution, 0, resolution.url)
    for depth, locator in enumerate(target.chain):
        try:
            ref = hls.find_equivalent(locator, text, base)
        except hls.PlaylistError as exc:
            raise Failed(
                502, f"unusable playlist while re-finding a {locator.kind}: {exc}"
            ) from exc
        if ref is None:
            raise Refreshable(
                None, f"the {locator.kind} #{locator.position} is not in the current playlist"
            )
        if depth == len(target.chain) - 1:
            return ref.url
        base, text = _playlist_at(target, resolution, depth + 1, ref.url)
    raise AssertionError("unreachable")


def _playlist_at(target: Target, resolution: Resolution, depth: int, url: str) -> tuple[str, str]:
    key = (target.identity.key(), resolution.generation, repr(target.chain[:depth]))
    remembered = _memo.get(key)
    if remembered is not None:
        return remembered
    answer = _open(url, resolution, accept_gzip=True)
    if answer.status not in (200, 206):
        answer.abort()
        raise Failed(502, f"{_host(answer.url)} answered {answer.status} for a playlist")
    text = _read_playlist(answer)
    if hls.is_master(text) or "#EXT-X-ENDLIST" in text:  # live playlists change: never kept
        _memo.put(key, (answer.url, text))
    return answer.url, text


# --- small helpers -----------------------------------------------------------------------


def _open(
    url: str,
    resolution: Resolution,
    *,
    method: str = "GET",
    range_header: str | None = None,
    if_range: str | None = None,
    accept_gzip: bool = False,
) -> upstream.Upstream:
    """An upstream answer worth looking at; Refreshable/Failed for the rest."""
    try:
        answer = upstream.open_url(
            url,
            resolution.headers,
            method=method,
            range_header=range_header,
            if_range=if_range,
            accept_gzip=accept_gzip,
        )
    except upstream.Unreachable as exc:
        raise Refreshable(None, str(exc)) from exc
    except (ssrf.BlockedTarget, upstream.UpstreamError) as exc:
        raise Failed(502, str(exc)) from exc
    if answer.status in REFRESH_STATUSES:
        answer.abort()
        raise Refreshable(answer.status, f"{_host(answer.url)} answered {answer.status}")
    return answer


def _read_head(answer: upstream.Upstream) -> bytes:
    try:
        return answer.read_head(hls.SNIFF_BYTES)
    except upstream.BodyInterrupted as exc:
        raise Refreshable(None, str(exc)) from exc


def _starts_at_zero(answer: upstream.Upstream) -> bool:
    if answer.status == 200:
        return True
    content_range = fetch.content_range(answer)
    return content_range is not None and content_range[0] == 0


def _host(url: str) -> str:
    return urlsplit(url).netloc or "upstream"


def _error(status: int, message: str) -> Reply:
    body = (message.splitlines()[0] if message else "error")[:500].encode() + b"\n"
    headers = {
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Length": str(len(body)),
        "Cache-Control": "no-store",
    }
    return Reply(status, headers, body)
