"""Forward proxies on loopback that count what they carry: HTTP (CONNECT tunnels and
absolute-URI requests, as yt-dlp sends for http targets) and SOCKS5 (RFC 1928/1929).

Each records one `Carried(kind, target)` per tunnel or forwarded request, where
`target` is what the client asked for (`host:port`, the name as sent: a SOCKS5
client that resolves names itself sends an address). Targets off loopback are
refused (the tests' network guard would refuse them anyway). `login=(user, pw)`
makes the proxy demand credentials.

    with HttpProxy() as proxy:
        proxy.url                 # http://127.0.0.1:<port>
        proxy.targets()           # ["127.0.0.1:8080", ...]
"""

from __future__ import annotations

import base64
import contextlib
import socket
import socketserver
import struct
import threading
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


@dataclass(frozen=True)
class Carried:
    kind: str  # CONNECT, GET (forwarded), SOCKS5
    target: str  # host:port as the client named it


def _resolve(host: str) -> str:
    """The loopback address for `host`, or ConnectionRefusedError."""
    if host in _LOOPBACK_NAMES or host.startswith("127."):
        return "::1" if host == "::1" else ("127.0.0.1" if host == "localhost" else host)
    raise ConnectionRefusedError(f"fake proxy: {host} is not on loopback")


def _pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy both ways until either side closes."""

    def copy(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    other = threading.Thread(target=copy, args=(b, a), daemon=True)
    other.start()
    copy(a, b)
    other.join(timeout=30)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: FakeProxy


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        with contextlib.suppress(OSError):
            self.server.owner.serve(self.request)


class FakeProxy:
    scheme = ""

    def __init__(self, login: tuple[str, str] | None = None) -> None:
        self.login = login
        self._carried: list[Carried] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url_for(self, scheme: str | None = None) -> str:
        auth = f"{self.login[0]}:{self.login[1]}@" if self.login else ""
        return f"{scheme or self.scheme}://{auth}127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.url_for()

    def carried(self) -> list[Carried]:
        with self._lock:
            return list(self._carried)

    def targets(self) -> list[str]:
        return [c.target for c in self.carried()]

    def reset(self) -> None:
        with self._lock:
            self._carried.clear()

    def _record(self, kind: str, target: str) -> None:
        with self._lock:
            self._carried.append(Carried(kind, target))

    def serve(self, client: socket.socket) -> None:
        raise NotImplementedError

    def start(self) -> FakeProxy:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class HttpProxy(FakeProxy):
    """CONNECT tunnels, and absolute-URI requests forwarded one per connection."""

    scheme = "http"

    def serve(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(65536)
            if not chunk:
                return
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])
        }
        if self.login and not self._authorized(headers.get("proxy-authorization", "")):
            client.sendall(
                b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
            )
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            self._record("CONNECT", target)
            try:
                upstream = socket.create_connection((_resolve(host.strip("[]")), int(port)), 10)
            except OSError:
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                upstream.sendall(rest)
            with upstream:
                _pipe(client, upstream)
            return
        parts = urlsplit(target)
        target_port = parts.port or 80
        self._record(method, f"{parts.hostname}:{target_port}")
        try:
            upstream = socket.create_connection((_resolve(parts.hostname or ""), target_port), 10)
        except OSError:
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        path = parts.path or "/"
        kept = [
            line
            for line in lines[1:]
            if line.split(":", 1)[0].strip().lower()
            not in ("connection", "proxy-connection", "proxy-authorization", "keep-alive")
        ]
        request_line = f"{method} {path}{'?' + parts.query if parts.query else ''} HTTP/1.1"
        forwarded = "\r\n".join([request_line, *kept, "Connection: close", "", ""]).encode(
            "latin-1"
        )
        with upstream:
            upstream.sendall(forwarded + rest)
            _pipe(client, upstream)

    def _authorized(self, value: str) -> bool:
        assert self.login is not None
        expected = base64.b64encode(f"{self.login[0]}:{self.login[1]}".encode()).decode()
        return value == f"Basic {expected}"


class Socks5Proxy(FakeProxy):
    """SOCKS5 CONNECT with no login or user/password (RFC 1929)."""

    scheme = "socks5h"

    def serve(self, client: socket.socket) -> None:
        version, count = _exact(client, 2)
        methods = _exact(client, count)
        wanted = 2 if self.login else 0
        if version != 5 or wanted not in methods:
            client.sendall(b"\x05\xff")
            return
        client.sendall(bytes([5, wanted]))
        if self.login:
            _sub, ulen = _exact(client, 2)
            user = _exact(client, ulen).decode()
            plen = _exact(client, 1)[0]
            password = _exact(client, plen).decode()
            ok = (user, password) == self.login
            client.sendall(b"\x01\x00" if ok else b"\x01\x01")
            if not ok:
                return
        _v, _command, _r, kind = _exact(client, 4)
        if kind == 1:
            host = socket.inet_ntop(socket.AF_INET, _exact(client, 4))
        elif kind == 4:
            host = socket.inet_ntop(socket.AF_INET6, _exact(client, 16))
        else:
            host = _exact(client, _exact(client, 1)[0]).decode()
        (port,) = struct.unpack("!H", _exact(client, 2))
        self._record("SOCKS5", f"{host}:{port}")
        try:
            upstream = socket.create_connection((_resolve(host), port), 10)
        except OSError:
            client.sendall(b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00")
            return
        client.sendall(b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00")
        with upstream:
            _pipe(client, upstream)


def _exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data
