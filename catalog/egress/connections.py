"""Kept-alive HTTP/1.1 connections to upstreams, made only where catalog.egress.ssrf allows.

A lean HTTP/1.1 client of our own with a small pool. Not http.client: py-spy on the
proxy under bench/bench_strm_proxy.py showed it costing ~9% of all the proxy's CPU,
~6.6% parsing each response head through the email package and ~2.5% validating and
joining a request piece by piece. Here a request is one sendall of bytes built at
once, and a response head (a few hundred bytes, usually in the same recv as the first
body bytes) is split with str methods: sending a request and reading its head fell
from ~24% to ~15% of the proxy's CPU, most of the rest being the recv itself. Not
urllib3 either: its layers over http.client cost ~0.15 ms CPU per request under
gevent. Limits and exception classes are http.client's. No retries, as before with
urllib3 (retries=False): a failed request is strm.proxy's to re-resolve and retry.

Response heads are read strictly as RFC 9112 says (catalog.egress.http1), because the
proxy passes some of their fields on to players: a head with ambiguous framing
(Content-Length next to Transfer-Encoding), a field line that is not `token ":" value`
(whitespace before the colon, no colon), or a control character in a value (a bare CR, a
NUL) is refused with ProtocolError, never repaired. The whole head, interim responses
included, must arrive within the read timeout, not only each recv.
"""

from __future__ import annotations

import http.client
import re
import select
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from functools import lru_cache

from catalog.egress import proxies, ssrf, tunnel
from catalog.egress.http1 import (
    MAX_HEADERS,
    MAX_LINE,
    ProtocolError,
    content_length,
    host_header,
    parse_head,
    request_head,
    tokens,
    transfer_coding,
)

# As urllib3's PoolManager(num_pools=64, maxsize=64) kept them.
MAX_HOSTS = 64
MAX_IDLE_PER_HOST = 64
# One recv of this normally brings a whole response head and the first body bytes.
BUFFER = 64 * 1024
# A head may outgrow BUFFER (long header lines) up to this, never further.
MAX_HEAD = 4 * BUFFER

Key = tuple[str, str, int]  # scheme, host, port

_idle: OrderedDict[Key, list[Connection]] = OrderedDict()
_lock = threading.Lock()

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


class Connection:
    """One upstream connection; (re)connects only to an address catalog.egress.ssrf allows."""

    def __init__(self, key: Key, connect_timeout: float, read_timeout: float) -> None:
        self.key = key
        self.tls = key[0] == "https"
        self.timeout = read_timeout  # of each send and recv
        self.sock: socket.socket | None = None
        # Decided at connect (catalog.egress.tunnel); a pooled connection made under
        # other proxy settings is not reused (see take()).
        self.proxy = proxies.proxy_for(*key)
        self._connect_timeout = connect_timeout
        self._host = host_header(key[1], key[2], 443 if self.tls else 80)

    def request(self, method: str, target: str, headers: Mapping[str, str]) -> Response:
        """Send a request without a body; the final response, its head read."""
        data = request_head(method, target, self._host, headers)
        sock = self.sock or self._connect()
        sock.sendall(data)
        return Response(self, sock, head_only=method == "HEAD")

    def _connect(self) -> socket.socket:
        self.proxy = proxies.proxy_for(*self.key)
        sock = tunnel.open_connection(
            self.key[0],
            self.key[1],
            self.key[2],
            timeout=self._connect_timeout,
            policy=ssrf.current_policy(),
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )
        sock.settimeout(self.timeout)
        if self.tls:
            try:
                sock = _tls_context().wrap_socket(sock, server_hostname=self.key[1])
            except BaseException:
                sock.close()
                raise
        self.sock = sock
        return sock

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()


class Response:
    """A final response: status and headers read, the body framed as RFC 9112 6.3 says.

    `length` is the number of body bytes still to come when known: 0 for HEAD, 204 and
    304, None for chunked bodies and bodies that end when the connection does. Reads
    raise http.client's exceptions (or ProtocolError, one of them) and OSError.
    """

    def __init__(self, conn: Connection, sock: socket.socket, *, head_only: bool) -> None:
        self._conn = conn
        self._sock = sock
        self._buffer = bytearray(BUFFER)
        self._start = self._end = 0  # the bytes received and not read: [_start:_end]
        self._ended = False  # a chunked or until-close body came to its end
        self._closed = False
        self._chunk_left = 0  # of the current chunk's data
        self._chunk_crlf_due = False  # after a chunk's data, before the next size line
        # Interim responses (100 Continue, 103 Early Hints) come before the final one;
        # all of them count against one deadline, so a stream of them cannot hold us.
        deadline = time.monotonic() + conn.timeout
        while True:
            head = self._read_head(deadline)
            version, self.status, self.reason, self._headers = parse_head(head)
            if self.status == 101:
                raise ProtocolError("101 Switching Protocols, but no upgrade was asked for")
            if self.status >= 200:
                break
        if self._sock.gettimeout() != conn.timeout:  # shortened for the head's last recvs
            self._sock.settimeout(conn.timeout)
        connection = (self.getheader("Connection") or "").lower()
        self._keep_alive = version != "HTTP/1.0" and "close" not in tokens(connection)
        coding = transfer_coding(version, self._headers)
        # Declared even where no body follows (HEAD); never next to Transfer-Encoding.
        self.content_length = None if coding else content_length(self.getheader("Content-Length"))
        self.length: int | None = self.content_length
        self._chunked = False
        if head_only or self.status in (204, 304):
            self.length = 0
        elif coding:
            # Else the body ends with the connection (RFC 9112 6.3, rule 4).
            self._chunked = coding == "chunked"
            self._keep_alive &= self._chunked
        elif self.length is None:
            self._keep_alive = False  # the body ends with the connection

    def getheader(self, name: str, default: str | None = None) -> str | None:
        """A header's value; several with this name as one, joined by ", "."""
        return self._headers.get(name.lower(), default)

    def read1(self, n: int) -> bytes:
        """Up to `n` body bytes: buffered ones first, else what one recv brings; b"" at
        the end of the body, IncompleteRead when the body was cut short."""
        if self._chunked:
            return self._read_chunked(n)
        if self.length == 0 or self._ended:
            return b""
        data = self._read(n if self.length is None else min(n, self.length))
        if self.length is None:
            self._ended = not data
        elif data:
            self.length -= len(data)
        else:
            raise http.client.IncompleteRead(b"", self.length)
        return data

    def read_buffered(self) -> bytes:
        """The body bytes received already (with the head), without waiting for more."""
        if self._chunked:
            raise RuntimeError("a chunked body is read with read1()")
        return self.read1(self._end - self._start) if self._end > self._start else b""

    def fileno(self) -> int:
        """The socket, for moving the rest of the body past this object (catalog.egress.splice);
        then moved() says how much went."""
        if self._end > self._start:
            raise RuntimeError("body bytes are buffered here: read_buffered() first")
        return self._sock.fileno()

    def moved(self, count: int) -> None:
        """`count` body bytes were taken from fileno() directly."""
        if self.length is None or not 0 <= count <= self.length:
            raise ValueError(f"{count} bytes moved of a body with {self.length} to come")
        self.length -= count

    def close(self) -> None:
        """The connection stays open for the next request only if the body was read to
        its end, nothing came after it and the server keeps the connection alive."""
        if self._closed:
            return
        self._closed = True
        finished = (self.length == 0 or self._ended) and self._start == self._end
        if not (finished and self._keep_alive):
            self._conn.close()
        self._buffer = bytearray()
        self._start = self._end = 0

    def _read_head(self, deadline: float) -> str:
        """The next response head, without the blank line that ends it; TimeoutError
        when it is not complete at `deadline` (time.monotonic())."""
        searched = 0  # bytes after _start in which no head end was found
        while not (end := _HEAD_END.search(self._buffer, self._start + searched, self._end)):
            unread = self._end - self._start
            if unread >= MAX_HEAD:
                raise ProtocolError(f"response head longer than {MAX_HEAD} bytes")
            searched = max(0, unread - 3)  # a head end may straddle the next recv
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._late()
            if left < self._conn.timeout - 0.5:  # the first recv keeps the usual timeout
                self._sock.settimeout(left)
            try:
                received = self._fill()
            except TimeoutError:
                raise self._late() from None
            if not received:
                # Like a pooled connection the server closed: a connection failure.
                raise http.client.RemoteDisconnected(
                    "Remote end closed connection in the middle of the response head"
                    if unread
                    else "Remote end closed connection without response"
                )
        head = self._buffer[self._start : end.start()].decode("latin-1")
        self._start = end.end()
        return head

    def _late(self) -> TimeoutError:
        return TimeoutError(f"no complete response head within {self._conn.timeout:g} s")

    def _read_chunked(self, n: int) -> bytes:
        if self._ended:
            return b""
        if not self._chunk_left:
            if self._chunk_crlf_due and self._read_line("chunk end"):
                raise ProtocolError("chunk data longer than its size")
            self._chunk_crlf_due = False
            self._chunk_left = self._chunk_size()
            if not self._chunk_left:
                self._skip_trailers()
                self._ended = True
                return b""
        data = self._read(min(n, self._chunk_left))
        if not data:
            raise http.client.IncompleteRead(b"", self._chunk_left)
        self._chunk_left -= len(data)
        self._chunk_crlf_due = not self._chunk_left
        return data

    def _chunk_size(self) -> int:
        line = self._read_line("chunk size")
        size = line.split(b";", 1)[0].strip(b" \t")  # extensions ignored
        if not _CHUNK_SIZE.fullmatch(size):
            raise ProtocolError(f"bad chunk size line {line[:80]!r}")
        return int(size, 16)

    def _skip_trailers(self) -> None:
        for _ in range(MAX_HEADERS + 1):
            if not self._read_line("trailer line"):
                return
        raise ProtocolError(f"got more than {MAX_HEADERS} trailer lines")

    def _read_line(self, what: str) -> bytes:
        """The next line of the body's framing, without its line end."""
        searched = 0
        while (newline := self._buffer.find(b"\n", self._start + searched, self._end)) < 0:
            searched = self._end - self._start
            if searched > MAX_LINE:
                raise http.client.LineTooLong(what)
            if not self._fill():
                raise http.client.IncompleteRead(b"")
        if newline - self._start > MAX_LINE:
            raise http.client.LineTooLong(what)
        line = bytes(self._buffer[self._start : newline])
        self._start = newline + 1
        return line.removesuffix(b"\r")

    def _read(self, n: int) -> bytes:
        """Up to `n` bytes: buffered ones, else what one recv brings (b"" once the
        connection is closed)."""
        if self._start == self._end:
            if not self._conn.tls:
                return self._sock.recv(n)
            with memoryview(bytearray(n)) as gathered:
                return gathered[: self._recv_gathered(gathered)].tobytes()
        end = min(self._end, self._start + n)
        with memoryview(self._buffer) as view:
            data = view[self._start : end].tobytes()
        self._start = end
        return data

    def _recv_gathered(self, view: memoryview) -> int:
        """Receive into `view`: what one recv brings, and over TLS, the records that have
        arrived after it too. A TLS recv hands out one record (16 KiB) at a time, and gevent's
        socket wrapper costs more per record than OpenSSL's decryption does. The first recv
        waits; the records after it are taken while they are there, straight from the SSL
        object (ssl.SSLSocket's `_sslobj`). With Upstream._copy_rest this took the proxy
        from 5.8 to 4.4 ms of CPU per 2 MiB over TLS (bench/bench_strm_proxy_https.py)."""
        count: int = self._sock.recv_into(view, len(view))
        tls = getattr(self._sock, "_sslobj", None) if self._conn.tls else None
        while count and count < len(view) and tls is not None:
            try:
                more = tls.read(len(view) - count, view[count:])
            except ssl.SSLError:  # nothing more yet (WANT_READ), or an end recv_into meets
                break
            if not more:
                break
            count += more
        return count

    def readinto(self, view: memoryview) -> int:
        """Body bytes into `view`, for a body of known length (not chunked): the buffered
        ones, else what has arrived; 0 at its end, IncompleteRead when it was cut short."""
        if self._chunked or self.length is None:
            raise RuntimeError("readinto() reads bodies of known length")
        wanted = min(len(view), self.length)
        if not wanted:
            return 0
        if self._start < self._end:
            count = min(wanted, self._end - self._start)
            view[:count] = self._buffer[self._start : self._start + count]
            self._start += count
        else:
            count = self._recv_gathered(view[:wanted])
        if not count:
            raise http.client.IncompleteRead(b"", self.length)
        self.length -= count
        return count

    def _fill(self) -> int:
        """Receive more after the unread bytes, moved to the front or the buffer grown when
        it is full; how many came (0: the connection was closed)."""
        unread = self._end - self._start
        if not unread:
            self._start = self._end = 0
        elif self._end == len(self._buffer):
            if self._start:
                self._buffer[:unread] = self._buffer[self._start : self._end]
            else:
                self._buffer.extend(bytes(len(self._buffer)))
            self._start, self._end = 0, unread
        with memoryview(self._buffer) as view:
            received = self._sock.recv_into(view[self._end :])
        self._end += received
        return received


def take(key: Key, connect_timeout: float, read_timeout: float) -> Connection:
    """An idle connection to `key` that the server kept open, else a new one (it
    connects when the first request is sent)."""
    while True:
        with _lock:
            idle = _idle.get(key)
            conn = idle.pop() if idle else None
        if conn is None:
            return Connection(key, connect_timeout, read_timeout)
        if (
            conn.sock is not None
            and conn.proxy == proxies.proxy_for(*key)
            and not _readable(conn.sock)
        ):
            conn.timeout = read_timeout
            conn.sock.settimeout(read_timeout)
            return conn
        conn.close()


def give_back(conn: Connection) -> None:
    """Keep a connection whose last response was read to its end, for the next request."""
    if conn.sock is None:  # closed: the server said it would, or the response was not read
        return
    closing: list[Connection] = []
    with _lock:
        idle = _idle.setdefault(conn.key, [])
        _idle.move_to_end(conn.key)
        if len(idle) < MAX_IDLE_PER_HOST:
            idle.append(conn)
        else:
            closing.append(conn)
        while len(_idle) > MAX_HOSTS:
            closing.extend(_idle.popitem(last=False)[1])
    for extra in closing:
        extra.close()


def _readable(sock: socket.socket) -> bool:
    """Whether an idle connection has something to read: the server closed it (or
    sent bytes nobody asked for); either way it cannot carry another request."""
    poller = _original_poll()()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))


@lru_cache(maxsize=1)
def _original_poll() -> type:
    # gevent's select.poll sets up watchers even for a zero timeout (urllib3's own check
    # cost ~2% of a request); the original cannot block with a zero timeout.
    from gevent.monkey import get_original

    return get_original("select", "poll")


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    # Made on first use: after gevent patched the ssl module in a web worker.
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])  # as http.client and urllib3 offer
    return context
