"""The small HTTP framework every fake is built on.

One `FakeServer` is one origin (its own port on 127.0.0.1). Subclasses implement
`handle(request) -> Response`; the base class counts traffic, applies fault knobs,
serves HEAD, keeps connections alive (HTTP/1.1, exact Content-Length) and streams
file bodies in chunks so faults can cut them mid-body.

Fault knobs, on every server; `pattern` is an fnmatch pattern on the URL path (the
CDN matches the resource path after its token); each applies to the next `count`
matching requests, first armed first used; FakeWeb.reset() disarms them:
- `fail_next(pattern, status=503, count=1)`: answer `status` instead;
- `stall_next(pattern, seconds=..., after_bytes=None)`: wait before the headers,
  or after `after_bytes` bytes of body;
- `drop_next(pattern, after_bytes=0)`: send the headers (full Content-Length) and
  `after_bytes` of body, then shut the connection down;
- `truncate_next(pattern)`: the same after half of the body (a truncated page);
- `reset_next(pattern)`: reset the connection (TCP RST) instead of answering;
- `respond_next(pattern, response)`: answer `response` instead (a page of the wrong
  kind, an empty body, a challenge page).
A 403/503 from a hoster makes aniworld's VOE extractor try a captcha browser
(patchright; fails without Chromium) and retry after 2 s: prefer 404/500 there.
"""

from __future__ import annotations

import contextlib
import email.utils
import fnmatch
import hashlib
import json
import socket
import struct
import sys
import threading
import traceback
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

CHUNK = 64 * 1024


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    base_url: str

    def arg(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class FileBody:
    path: Path
    start: int
    length: int


@dataclass
class Response:
    status: int = 200
    body: bytes | FileBody = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def length(self) -> int:
        return self.body.length if isinstance(self.body, FileBody) else len(self.body)


def html_response(text: str, status: int = 200) -> Response:
    return Response(status, text.encode(), "text/html; charset=utf-8")


def text_response(text: str, status: int = 200) -> Response:
    return Response(status, text.encode(), "text/plain; charset=utf-8")


def json_response(value: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(value).encode(), "application/json")


def redirect(location: str, status: int = 302) -> Response:
    # With a body, as most servers send one: a cut-off redirect is then a fault too.
    body = f'<html><body><a href="{escape(location)}">Found</a></body></html>'.encode()
    return Response(status, body, "text/html; charset=utf-8", {"Location": location})


def not_found(what: str = "not found") -> Response:
    return text_response(what, 404)


_UNSATISFIABLE = (-1, -1)


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    """(first, last) for one satisfiable range, `_UNSATISFIABLE`, or None to ignore."""
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        # Multi-range is optional for a server (RFC 9110 14.2): answer the whole file.
        return None
    first_s, dash, last_s = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first_s == "":
            suffix = int(last_s)
            if suffix < 0:
                return None
            if suffix == 0 or size == 0:
                return _UNSATISFIABLE
            return max(0, size - suffix), size - 1
        first = int(first_s)
        last = int(last_s) if last_s else size - 1
    except ValueError:
        return None
    if first < 0 or last < first:
        return None if first < size else _UNSATISFIABLE
    if first >= size:
        return _UNSATISFIABLE
    return first, min(last, size - 1)


def file_response(request: Request, path: Path, content_type: str) -> Response:
    """A static file with Range (206/416), If-Range and validators."""
    stat = path.stat()
    size = stat.st_size
    version = hashlib.sha1(f"{path}:{size}:{stat.st_mtime_ns}".encode(), usedforsecurity=False)
    etag = f'"{version.hexdigest()[:16]}"'
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Last-Modified": email.utils.formatdate(stat.st_mtime, usegmt=True),
    }
    range_header = request.header("Range")
    if_range = request.header("If-Range")
    if range_header and (if_range is None or if_range == etag):
        parsed = _parse_range(range_header, size)
        if parsed == _UNSATISFIABLE:
            headers["Content-Range"] = f"bytes */{size}"
            return Response(416, b"", content_type, headers)
        if parsed is not None:
            first, last = parsed
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
            return Response(206, FileBody(path, first, last - first + 1), content_type, headers)
    return Response(200, FileBody(path, 0, size), content_type, headers)


@dataclass
class Fault:
    """One armed fault. `status`: answer with it; `stall`: wait that long (before the
    headers, or after `after_bytes` of body); `drop`: close the socket after
    `after_bytes` of body."""

    pattern: str
    remaining: int
    status: int | None = None
    stall: float = 0.0
    drop: bool = False
    after_bytes: int | None = None
    truncate: bool = False  # drop after half of the body
    reset: bool = False  # RST instead of an answer
    response: Response | None = None


@dataclass(frozen=True)
class RecordedRequest:
    server: str
    method: str
    path: str
    query: str
    headers: Mapping[str, str]


class Traffic:
    """Thread-safe request counter shared by all servers of one FakeWeb.

    Keys are (server name, URL path without query)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, Counter[str]] = {}
        self._log: list[RecordedRequest] = []

    def record(self, entry: RecordedRequest) -> None:
        with self._lock:
            self._counts.setdefault(entry.server, Counter())[entry.path] += 1
            self._log.append(entry)

    def count(self, server: str, path: str) -> int:
        with self._lock:
            return self._counts.get(server, Counter())[path]

    def __getitem__(self, server: str) -> dict[str, int]:
        with self._lock:
            return dict(self._counts.get(server, Counter()))

    def total(self, server: str, pattern: str = "*") -> int:
        """Requests to `server` whose path matches the fnmatch `pattern`."""
        with self._lock:
            counts = self._counts.get(server, Counter())
            return sum(n for path, n in counts.items() if fnmatch.fnmatchcase(path, pattern))

    def requests(self, server: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self._log if server is None or r.server == server]

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._log.clear()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients (ffmpeg, proxies under test) hang up on keep-alive connections all
        # the time; that is not an error of the fake.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, every request on a
    # kept-alive connection waits for the client's delayed ACK (40 ms on Linux).
    disable_nagle_algorithm = True
    server: _HTTPServer

    def do_GET(self) -> None:
        self.server.fake._dispatch(self)

    do_HEAD = do_GET
    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.fake.verbose:
            super().log_message(format, *args)


class FakeServer:
    """One fake origin on 127.0.0.1 with an OS-assigned port."""

    def __init__(self, name: str, traffic: Traffic, *, verbose: bool = False) -> None:
        self.name = name
        self.traffic = traffic
        self.verbose = verbose
        self._faults: list[Fault] = []
        self._faults_lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fakeweb-{self.name}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    # -- to implement -------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def fault_key(self, path: str) -> str:
        """What fault patterns are matched against (the URL path by default)."""
        return path

    # -- fault knobs ----------------------------------------------------------------

    def fail_next(self, pattern: str, *, status: int = 503, count: int = 1) -> None:
        self._arm(Fault(pattern, count, status=status))

    def stall_next(
        self, pattern: str, *, seconds: float, count: int = 1, after_bytes: int | None = None
    ) -> None:
        self._arm(Fault(pattern, count, stall=seconds, after_bytes=after_bytes))

    def drop_next(self, pattern: str, *, after_bytes: int = 0, count: int = 1) -> None:
        self._arm(Fault(pattern, count, drop=True, after_bytes=after_bytes))

    def truncate_next(self, pattern: str, *, count: int = 1) -> None:
        self._arm(Fault(pattern, count, drop=True, truncate=True))

    def reset_next(self, pattern: str, *, count: int = 1) -> None:
        self._arm(Fault(pattern, count, reset=True))

    def respond_next(self, pattern: str, response: Response, *, count: int = 1) -> None:
        self._arm(Fault(pattern, count, response=response))

    def clear_faults(self) -> None:
        with self._faults_lock:
            self._faults.clear()

    def _arm(self, fault: Fault) -> None:
        with self._faults_lock:
            self._faults.append(fault)

    def _take_fault(self, key: str) -> Fault | None:
        with self._faults_lock:
            for fault in self._faults:
                if fault.remaining > 0 and fnmatch.fnmatchcase(key, fault.pattern):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- request cycle ----------------------------------------------------------------

    def _dispatch(self, handler: _Handler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        request = Request(
            method=handler.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=headers,
            body=body,
            base_url=self.base_url,
        )
        self.traffic.record(
            RecordedRequest(self.name, handler.command, parts.path, parts.query, headers)
        )
        fault = self._take_fault(self.fault_key(parts.path))
        if fault is not None and fault.stall and fault.after_bytes is None:
            self._stopping.wait(fault.stall)
        if fault is not None and fault.reset:
            _reset(handler)
            return
        if fault is not None and fault.status is not None:
            response = text_response(f"fault injected: {fault.status}", fault.status)
        elif fault is not None and fault.response is not None:
            response = fault.response
        else:
            try:
                response = self.handle(request)
            except Exception:
                response = text_response(traceback.format_exc(), 500)
        self._write(handler, request, response, fault)

    def _write(
        self, handler: _Handler, request: Request, response: Response, fault: Fault | None
    ) -> None:
        try:
            handler.send_response(response.status)
            handler.send_header("Content-Type", response.content_type)
            handler.send_header("Content-Length", str(response.length))
            for name, value in response.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            if request.method == "HEAD":
                return
            cut = fault.after_bytes if fault is not None else None
            if fault is not None and fault.truncate:
                cut = response.length // 2
            sent = 0
            for chunk in _chunks(response.body):
                if fault is not None and cut is not None and sent + len(chunk) >= cut:
                    head, chunk = chunk[: cut - sent], chunk[cut - sent :]
                    handler.wfile.write(head)
                    handler.wfile.flush()
                    sent += len(head)
                    if fault.drop:
                        _abort(handler)
                        return
                    self._stopping.wait(fault.stall)
                    cut = None
                handler.wfile.write(chunk)
                sent += len(chunk)
            if fault is not None and cut is not None and fault.drop:
                _abort(handler)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True


def _chunks(body: bytes | FileBody) -> Iterator[bytes]:
    if isinstance(body, bytes):
        for i in range(0, len(body), CHUNK):
            yield body[i : i + CHUNK]
        return
    with body.path.open("rb") as f:
        f.seek(body.start)
        left = body.length
        while left > 0:
            chunk = f.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def _reset(handler: _Handler) -> None:
    """Close the connection with a TCP RST (linger 0): the client sees a reset."""
    handler.close_connection = True
    with contextlib.suppress(OSError):
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()


def _abort(handler: _Handler) -> None:
    """Cut the connection mid-response: the client sees a short body."""
    handler.wfile.flush()
    handler.close_connection = True
    with contextlib.suppress(OSError):
        handler.connection.shutdown(socket.SHUT_RDWR)
