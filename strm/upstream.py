"""Fetching from hosters' CDNs: pooled connections, large reads, redirects checked per hop.

Every request carries the headers the resolver used (hosters bind links to
User-Agent/Referer/cookies), never the media server's own. Redirects are followed
here, not by urllib3, so each hop passes the SSRF check (strm.ssrf) and the final
URL is known: relative playlist URIs resolve against it, as in ffmpeg.

Blocking code on purpose: under gunicorn's gevent workers each request is a
greenlet and these sockets are cooperative.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Generator, Mapping
from urllib.parse import urldefrag, urljoin, urlsplit

import urllib3
from urllib3.exceptions import HTTPError
from urllib3.response import BaseHTTPResponse

from strm import ssrf

log = logging.getLogger(__name__)

# Measured (bench/bench_strm_proxy.py): 512 KiB reads cost ~15% less CPU per 2 MiB
# segment than 256 KiB; 1 MiB reads each become a fresh mmap and double the cost.
CHUNK = 512 * 1024
CONNECT_TIMEOUT = 10.0
# Between two reads, not for the whole body: a stalled CDN fails within this.
READ_TIMEOUT = 30.0
MAX_REDIRECTS = 10
# Hosters reject urllib3's own User-Agent; used only if the resolver stored none.
DEFAULT_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# A small redirect body is read so the connection can be reused; a bigger one is not worth it.
_DRAIN_LIMIT = 64 * 1024
# Stored resolver headers we never forward: framing and range are ours to decide.
_NOT_FORWARDED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "host",
        "content-length",
        "accept-encoding",
        "range",
        "if-range",
    }
)
_CREDENTIALS = frozenset({"cookie", "authorization"})


class UpstreamError(Exception):
    """The upstream gave no usable answer; str() is one line for the log and the client."""


class Unreachable(UpstreamError):
    """Connecting, sending or waiting for the response head failed or timed out."""


class TooManyRedirects(UpstreamError):
    pass


class BodyTooLarge(UpstreamError):
    pass


class BodyInterrupted(UpstreamError):
    """The connection failed after the response head, while reading the body."""


_manager: urllib3.PoolManager | None = None


def pool() -> urllib3.PoolManager:
    """This process's connection pools (created lazily: after gunicorn forks and patches)."""
    global _manager
    if _manager is None:
        manager = urllib3.PoolManager(num_pools=64, maxsize=64, block=False, retries=False)
        manager.pool_classes_by_scheme = dict(ssrf.POOL_CLASSES)
        _manager = manager
    return _manager


class Upstream:
    """One upstream response whose body has not been read yet."""

    def __init__(self, response: BaseHTTPResponse, url: str) -> None:
        self.response = response
        self.url = url  # after redirects
        self._done = False
        self._head = b""  # read by read_head(), not yet handed on
        self._head_decoded = False
        self._head_read = False

    @property
    def status(self) -> int:
        return self.response.status

    def header(self, name: str) -> str | None:
        value = self.response.headers.get(name)
        return None if value is None else str(value)

    def content_length(self) -> int | None:
        value = self.header("Content-Length")
        return int(value) if value is not None and value.strip().isdigit() else None

    def is_encoded(self) -> bool:
        encoding = (self.header("Content-Encoding") or "identity").strip().lower()
        return encoding != "identity"

    def read_head(self, size: int) -> bytes:
        """The first bytes of the body (decoded if encoded), kept for the reads that follow.

        Reads only once: a second call returns the same bytes.
        """
        if self._head_read:
            return self._head
        self._head_read = True
        self._head_decoded = self.is_encoded()
        parts: list[bytes] = []
        wanted = size
        try:
            while wanted > 0 and (
                chunk := self.response.read1(wanted, decode_content=self._head_decoded)
            ):
                parts.append(chunk)
                wanted -= len(chunk)
        except (HTTPError, OSError) as exc:
            self.abort()
            raise BodyInterrupted(f"{_host(self.url)}: body cut off: {exc}") from exc
        self._head = b"".join(parts)
        return self._head

    def read_decoded(self, limit: int) -> bytes:
        """The whole body, Content-Encoding undone; BodyTooLarge past `limit` bytes."""
        declared = self.content_length()
        if declared is not None and declared > limit and not self.is_encoded():
            self.abort()
            raise BodyTooLarge(f"{_host(self.url)} sent {declared} bytes, more than {limit}")
        if self._head and not self._head_decoded and self.is_encoded():
            raise RuntimeError("read_head() took raw bytes of an encoded body")
        parts: list[bytes] = [self._head]
        size = len(self._head)
        self._head = b""
        try:
            while chunk := self.response.read1(CHUNK, decode_content=True):
                size += len(chunk)
                if size > limit:
                    self.abort()
                    raise BodyTooLarge(f"{_host(self.url)} sent more than {limit} bytes")
                parts.append(chunk)
        except (HTTPError, OSError) as exc:
            self.abort()
            raise BodyInterrupted(f"{_host(self.url)}: body cut off: {exc}") from exc
        self.release()
        return b"".join(parts)

    def chunks(self) -> Generator[bytes]:
        """The rest of the body as sent, in large reads; returns the connection at the end."""
        if self._head_decoded:
            raise RuntimeError("chunks() passes raw bytes; read_head() decoded them")
        if self._head:
            head, self._head = self._head, b""
            yield head
        try:
            while chunk := self.response.read1(CHUNK, decode_content=False):
                yield chunk
        except (HTTPError, OSError) as exc:
            self.abort()
            raise BodyInterrupted(f"{_host(self.url)}: body cut off: {exc}") from exc
        self.release()

    def release(self) -> None:
        """Body fully read: the connection goes back to the pool for the next request."""
        if not self._done:
            self._done = True
            self.response.release_conn()

    def abort(self) -> None:
        """Close the connection: unread body bytes must never reach the next request."""
        if not self._done:
            self._done = True
            self.response.close()
            self.response.release_conn()


def open_url(
    url: str,
    headers: Mapping[str, str],
    *,
    method: str = "GET",
    range_header: str | None = None,
    if_range: str | None = None,
    accept_gzip: bool = False,
) -> Upstream:
    """Send the request and follow redirects; the body is left unread.

    Raises ssrf.BlockedTarget, Unreachable or TooManyRedirects.
    """
    request_headers = _request_headers(headers, range_header, if_range, accept_gzip)
    for _hop in range(MAX_REDIRECTS + 1):
        ssrf.check_url(url)
        response = _send(method, url, request_headers)
        location = response.headers.get("Location")
        if response.status not in _REDIRECTS or not location:
            return Upstream(response, url)
        _discard(Upstream(response, url))
        target = urldefrag(urljoin(url, location.strip())).url
        if response.status == 303 and method != "HEAD":
            method = "GET"
        if _origin(target) != _origin(url):
            # Cookies and credentials were given for the hoster's host, not the next one.
            request_headers = {
                k: v for k, v in request_headers.items() if k.lower() not in _CREDENTIALS
            }
        url = target
    raise TooManyRedirects(f"{_host(url)}: more than {MAX_REDIRECTS} redirects")


def _request_headers(
    stored: Mapping[str, str], range_header: str | None, if_range: str | None, accept_gzip: bool
) -> dict[str, str]:
    headers = {
        "User-Agent": DEFAULT_USER_AGENT,
        "Accept": "*/*",
        # Media bytes pass through untouched (ranges count raw bytes); playlists may shrink.
        "Accept-Encoding": "gzip, deflate" if accept_gzip else "identity",
    }
    for name, value in stored.items():
        if name.lower() not in _NOT_FORWARDED:
            _set_header(headers, name, value)
    if range_header:
        headers["Range"] = range_header
        if if_range:
            headers["If-Range"] = if_range
    return headers


def _set_header(headers: dict[str, str], name: str, value: str) -> None:
    for existing in [k for k in headers if k.lower() == name.lower()]:
        del headers[existing]
    headers[name] = value


def _send(method: str, url: str, headers: Mapping[str, str]) -> BaseHTTPResponse:
    try:
        return pool().urlopen(
            method,
            url,
            headers=dict(headers),
            redirect=False,
            retries=False,
            preload_content=False,
            decode_content=False,
            assert_same_host=False,
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
        )
    except HTTPError as exc:
        raise Unreachable(f"{_host(url)}: {exc}") from exc


def _discard(upstream: Upstream) -> None:
    length = upstream.content_length()
    if length is None or length > _DRAIN_LIMIT:
        upstream.abort()
        return
    # On failure read_decoded closed the connection; the redirect itself is what counts.
    with contextlib.suppress(UpstreamError):
        upstream.read_decoded(_DRAIN_LIMIT)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def _host(url: str) -> str:
    return urlsplit(url).netloc or url[:80]
