"""Fetching from hosters' CDNs: pooled connections, large reads, redirects checked per hop.

Every request carries the headers the resolver used (hosters bind links to
User-Agent/Referer/cookies), never the media server's own. Redirects are followed
here, so each hop passes the SSRF check (catalog.egress.ssrf) and the final URL is known:
relative playlist URIs resolve against it, as in ffmpeg.

Blocking code on purpose: under gunicorn's gevent workers each request is a
greenlet and these sockets are cooperative.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import logging
import socket
import zlib
from collections.abc import Generator, Iterator, Mapping
from urllib.parse import urldefrag, urljoin, urlsplit

from urllib3.util import parse_url

from catalog.egress import connections, splice, ssrf

log = logging.getLogger(__name__)

# Measured (bench/bench_strm_proxy.py): 512 KiB reads cost ~15% less CPU per 2 MiB
# segment than 256 KiB; 1 MiB reads each become a fresh mmap and double the cost.
CHUNK = 512 * 1024
# Over TLS, the rest of a body is copied to the client through one buffer of this size
# (as much as the client socket may hold unsent, catalog.egress.splice).
TLS_COPY = splice.CLIENT_NOTSENT_LOWAT
CONNECT_TIMEOUT = 10.0
# Between two reads, not for the whole body: a stalled CDN fails within this.
READ_TIMEOUT = 30.0
MAX_REDIRECTS = 10
# Hosters reject Python's own User-Agent; used only if the resolver stored none.
DEFAULT_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# A small redirect body is read so the connection can be reused; a bigger one is not worth it.
_DRAIN_LIMIT = 64 * 1024
# zlib's window bits: gzip framing, zlib framing, no framing (some servers' "deflate").
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_DEFAULT_PORTS = {"http": 80, "https": 443}
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


class BadResponse(UpstreamError):
    """The response head breaks HTTP/1.1's rules (catalog.egress.connections): refused,
    none of it passed on. A server that answers so is not asked again."""


class TooManyRedirects(UpstreamError):
    pass


class BodyTooLarge(UpstreamError):
    pass


class BodyInterrupted(UpstreamError):
    """The connection failed after the response head, while reading the body."""


class Upstream:
    """One upstream response whose body has not been read yet."""

    def __init__(
        self, conn: connections.Connection, response: connections.Response, url: str
    ) -> None:
        self.conn = conn
        self.response = response
        self.url = url  # after redirects
        self._done = False
        self._head = b""  # read by read_head(), not yet handed on
        self._head_decoded = False
        self._head_read = False
        self._decoded: Iterator[bytes] | None = None

    @property
    def status(self) -> int:
        return self.response.status

    def header(self, name: str) -> str | None:
        return self.response.getheader(name)

    def content_length(self) -> int | None:
        return self.response.content_length

    def is_encoded(self) -> bool:
        return self._encoding() != "identity"

    def _encoding(self) -> str:
        return (self.header("Content-Encoding") or "identity").strip().lower()

    def read_head(self, size: int) -> bytes:
        """The first bytes of the body (decoded if encoded), kept for the reads that follow.

        Reads only once: a second call returns the same bytes.
        """
        if self._head_read:
            return self._head
        self._head_read = True
        self._head_decoded = self.is_encoded()
        pieces = self._decoded_pieces() if self._head_decoded else self._raw_pieces(size)
        parts: list[bytes] = []
        wanted = size
        while wanted > 0 and (piece := next(pieces, b"")):
            parts.append(piece)
            wanted -= len(piece)
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
        parts: list[bytes] = []
        size = 0
        head, self._head = self._head, b""
        for piece in itertools.chain([head], self._decoded_pieces()):
            size += len(piece)
            if size > limit:
                self.abort()
                raise BodyTooLarge(f"{_host(self.url)} sent more than {limit} bytes")
            parts.append(piece)
        self.release()
        return b"".join(parts)

    def chunks(self) -> Generator[bytes]:
        """The rest of the body as sent, in large reads; returns the connection at the end."""
        if self._head_decoded:
            raise RuntimeError("chunks() passes raw bytes; read_head() decoded them")
        if self._head:
            head, self._head = self._head, b""
            yield head
        yield from self._raw_pieces(CHUNK)
        self.release()

    def _raw_pieces(self, size: int) -> Iterator[bytes]:
        """The body as sent (chunked framing undone), in reads of up to `size` bytes;
        BodyInterrupted if it is cut short."""
        try:
            while chunk := self.response.read1(size):
                yield chunk
        except (http.client.HTTPException, OSError) as exc:
            self.abort()
            raise BodyInterrupted(f"{_host(self.url)}: body cut off: {exc}") from exc

    def _decoded_pieces(self) -> Iterator[bytes]:
        """The body with its Content-Encoding undone, one generator for all reads."""
        if self._decoded is None:
            wbits = _WBITS.get(self._encoding())
            raw = self._raw_pieces(CHUNK)
            # An encoding we cannot undo passes through as sent (the caller sees junk).
            self._decoded = raw if wbits is None else self._inflate(raw, wbits)
        return self._decoded

    def _inflate(self, raw: Iterator[bytes], wbits: int) -> Iterator[bytes]:
        inflater = zlib.decompressobj(wbits)
        started = ended = False
        for data in raw:
            while data:
                try:
                    # In bounded steps: a few compressed bytes may inflate to gigabytes.
                    piece = inflater.decompress(data, CHUNK)
                except zlib.error as exc:
                    if ended:
                        break  # junk after a complete body: ignored, as browsers do
                    if not started and wbits == zlib.MAX_WBITS:
                        wbits = -zlib.MAX_WBITS  # "deflate" sent without its zlib framing
                        inflater = zlib.decompressobj(wbits)
                        continue
                    self.abort()
                    raise BodyInterrupted(f"{_host(self.url)}: undecodable body: {exc}") from exc
                started = True
                data = inflater.unconsumed_tail
                if inflater.eof:
                    ended = True
                    data = inflater.unused_data  # another gzip member, or junk
                    inflater = zlib.decompressobj(wbits)
                if piece:
                    yield piece
        if tail := inflater.flush():
            yield tail

    def can_splice(self) -> bool:
        """Whether the rest of the body may go to the client's socket directly, past the
        web server (see splice_rest)."""
        return bool(self.response.length) and not self.is_encoded()

    def take_buffered(self) -> bytes:
        """Before splice_rest: the body bytes already read (head) or received with the
        response head; the rest is still in the socket."""
        head, self._head = self._head, b""
        return head + self.response.read_buffered()

    def splice_rest(self, sink: socket.socket) -> int:
        """Send the rest of the body (can_splice() said yes) to `sink` in the kernel and
        return the connection to the pool; the number of bytes sent.

        BodyInterrupted when upstream failed; an OSError when the client went away.
        """
        remaining = self.response.length or 0
        if self.conn.tls:
            self._copy_rest(sink, remaining)
            self.release()
            return remaining
        try:
            splice.move(self.response.fileno(), sink, remaining, READ_TIMEOUT)
        except splice.SourceCut as exc:
            self.abort()
            raise BodyInterrupted(f"{_host(self.url)}: body cut off: {exc}") from exc
        self.response.moved(remaining)
        self.release()
        return remaining

    def _copy_rest(self, sink: socket.socket, remaining: int) -> None:
        """OpenSSL decrypts in user space, so the kernel cannot splice a TLS body: it is
        copied through one reused buffer instead, still past the web server (no bytes
        object per chunk, no WSGI iteration; see connections.Response._recv_gathered for
        what both saved)."""
        splice.limit_unsent(sink)
        with memoryview(bytearray(min(remaining, TLS_COPY))) as buffer:
            while remaining:
                try:
                    count = self.response.readinto(buffer)
                except (http.client.HTTPException, OSError) as exc:
                    self.abort()
                    raise BodyInterrupted(f"{_host(self.url)}: body cut off: {exc}") from exc
                sink.sendall(buffer[:count])
                remaining -= count

    def release(self) -> None:
        """Body fully read: the connection goes back to the pool for the next request."""
        if not self._done:
            self._done = True
            self.response.close()  # closes the connection too if it cannot be reused
            connections.give_back(self.conn)

    def abort(self) -> None:
        """Close the connection: unread body bytes must never reach the next request."""
        if not self._done:
            self._done = True
            self.response.close()
            self.conn.close()


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
        answer = _send(method, url, request_headers)
        location = answer.header("Location")
        if answer.status not in _REDIRECTS or not location:
            return answer
        _discard(answer)
        target = urldefrag(urljoin(url, location.strip())).url
        if answer.status == 303 and method != "HEAD":
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


def _send(method: str, url: str, headers: Mapping[str, str]) -> Upstream:
    parts = urlsplit(url)
    key = (parts.scheme, parts.hostname or "", parts.port or _DEFAULT_PORTS[parts.scheme])
    conn = connections.take(key, CONNECT_TIMEOUT, READ_TIMEOUT)
    try:
        # urllib3's parse_url percent-encodes what may not be sent as is (spaces, ...).
        return Upstream(conn, conn.request(method, parse_url(url).request_uri, headers), url)
    except http.client.InvalidURL as exc:  # its message holds the URL: not for the log
        conn.close()
        raise UpstreamError(
            f"{_host(url)}: request not sent: control characters in the URL"
        ) from exc
    except (http.client.HTTPException, OSError) as exc:
        conn.close()
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, OSError):  # RemoteDisconnected too: a pooled connection went stale
            raise Unreachable(f"{_host(url)}: {reason}") from exc
        raise BadResponse(f"{_host(url)}: malformed response: {reason}") from exc
    except ValueError as exc:  # a line break in a stored header: nothing was sent
        conn.close()
        raise UpstreamError(f"{_host(url)}: request not sent: {exc}") from exc
    except BaseException:  # BlockedTarget from connecting, among others
        conn.close()
        raise


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
