"""The proxy's own HTTP/1.1 client (catalog.egress.connections, through .upstream) against
hand-written responses from a raw socket server on loopback: framing (RFC 9112 6.3),
interim responses, limits, connection reuse, refused header injection, and exact
byte accounting when the rest of a body is spliced past Python.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog.egress import connections, ssrf, upstream
from tests import tls_helpers
from tests.processes import wait_until
from tests.strm_helpers import accept_in_background, use_proxy_config

MIB = 1024 * 1024
SNIFF = 1024  # as strm.proxy reads the first body bytes before splicing (hls.SNIFF_BYTES)

Answer = bytes | Callable[[socket.socket], None]


class RawOrigin:
    """A loopback server that answers each request, on whichever connection, with the
    next of `answers` as given: bytes are sent at once, a callable writes them itself."""

    def __init__(self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.create_server((host, 0), family=family)
        self.host = host
        self.port = self.listener.getsockname()[1]
        self.tls = tls
        self.answers: list[Answer] = []
        self.requests: list[bytes] = []
        self.connections = 0
        self.closed = 0  # connections that ended
        self._open: list[socket.socket] = []
        accept_in_background(self.listener, self._accepted)

    def url(self, path: str = "/x") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    def _accepted(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except OSError:
                conn.close()
                return
        self.connections += 1
        self._open.append(conn)
        threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        pending = b""
        try:
            while True:
                while b"\r\n\r\n" not in pending:
                    data = conn.recv(65536)
                    if not data:
                        return
                    pending += data
                request, _, pending = pending.partition(b"\r\n\r\n")
                self.requests.append(request + b"\r\n\r\n")
                answer = self.answer_for(request, conn)
                if callable(answer):
                    answer(conn)
                else:
                    conn.sendall(answer)
        except OSError:
            return
        finally:
            conn.close()
            self.closed += 1

    def answer_for(self, request: bytes, conn: socket.socket) -> Answer:
        """The answer to `request` (its head) on `conn`: the next one given."""
        return self.answers.pop(0)

    def stop(self) -> None:
        self.listener.close()
        for conn in self._open:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def hang_up(conn: socket.socket) -> None:
    conn.shutdown(socket.SHUT_RDWR)


def then_hang_up(data: bytes) -> Answer:
    def answer(conn: socket.socket) -> None:
        conn.sendall(data)
        hang_up(conn)

    return answer


def in_pieces(data: bytes) -> Answer:
    """`data` one byte per TCP segment (TCP_NODELAY is on)."""

    def answer(conn: socket.socket) -> None:
        for start in range(len(data)):
            conn.sendall(data[start : start + 1])
            time.sleep(0.001)

    return answer


def ok(body: bytes = b"ok", *headers: str) -> bytes:
    head = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@pytest.fixture(autouse=True)
def config(monkeypatch: pytest.MonkeyPatch) -> None:
    use_proxy_config(monkeypatch, strm_proxy_upstream_allowlist=("127.0.0.1", "::1"))
    # A test that fails by waiting fails within seconds, not after 30.
    monkeypatch.setattr(upstream, "READ_TIMEOUT", 5.0)


@pytest.fixture
def origin() -> Iterator[RawOrigin]:
    server = RawOrigin()
    yield server
    server.stop()


def fetch(url: str, method: str = "GET", **headers: str) -> tuple[upstream.Upstream, bytes]:
    answer = upstream.open_url(url, headers, method=method)
    return answer, answer.read_decoded(16 * MIB)


# --- requests ------------------------------------------------------------------------------


def test_request_carries_host_and_the_stored_header_names_as_given(origin: RawOrigin) -> None:
    origin.answers = [ok()]
    fetch(origin.url("/seg%201.ts?token=a"), **{"X-Hoster-Token": "t0k", "referer": "r"})
    request = origin.requests[0].decode()
    assert request.startswith(
        f"GET /seg%201.ts?token=a HTTP/1.1\r\nHost: 127.0.0.1:{origin.port}\r\n"
    )
    assert "\r\nX-Hoster-Token: t0k\r\n" in request
    assert "\r\nreferer: r\r\n" in request
    assert request.endswith("\r\n\r\n") and request.count("\r\n\r\n") == 1


def test_host_header_brackets_ipv6_and_omits_the_default_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    v6 = RawOrigin("::1")
    v4 = RawOrigin()
    try:
        v6.answers = [ok()]
        fetch(v6.url())
        assert f"\r\nHost: [::1]:{v6.port}\r\n".encode() in v6.requests[0]

        def resolve(host: str, port: int, family: int) -> list[tuple[Any, ...]]:
            assert port == 80  # the URL's; the answer points at the test server instead
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", v4.port))]

        monkeypatch.setattr(ssrf, "getaddrinfo", resolve)
        v4.answers = [ok(), ok()]
        fetch("http://cdn.example/a.ts")
        fetch("http://bücher.example/a.ts")
        assert b"\r\nHost: cdn.example\r\n" in v4.requests[0]
        assert b"\r\nHost: xn--bcher-kva.example\r\n" in v4.requests[1]
    finally:
        v6.stop()
        v4.stop()


@pytest.mark.parametrize(
    "headers",
    [
        {"Cookie": "a=1\r\nX-Injected: 1"},
        {"Referer": "https://site/\nGET /other HTTP/1.1"},
        {"User-Agent": "agent\x00"},
        {"X-Bad\r\nName": "v"},
        {"X-Bad: Name": "v"},
    ],
)
def test_line_breaks_in_stored_headers_are_refused_before_anything_is_sent(
    origin: RawOrigin, headers: dict[str, str]
) -> None:
    with pytest.raises(upstream.UpstreamError, match="request not sent: Invalid header"):
        upstream.open_url(origin.url(), headers)
    assert origin.connections == 0


def test_control_characters_in_the_request_target_are_refused(origin: RawOrigin) -> None:
    conn = connections.Connection(("http", "127.0.0.1", origin.port), 5, 5)
    with pytest.raises(http.client.InvalidURL, match="control characters"):
        conn.request("GET", "/a b\r\nX: y", {})
    assert origin.connections == 0


# --- framing -------------------------------------------------------------------------------


CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
    b"5;name=value\r\nhello\r\n"
    b'7 ; quoted="a;b"\r\n, world\r\n'
    b"000\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n"
)


@pytest.mark.parametrize("sent", ["at once", "byte by byte"])
def test_chunked_body_is_decoded_past_extensions_and_trailers(origin: RawOrigin, sent: str) -> None:
    origin.answers = [CHUNKED if sent == "at once" else in_pieces(CHUNKED), ok(b"next")]
    answer, data = fetch(origin.url())
    assert data == b"hello, world"
    assert answer.content_length() is None
    assert fetch(origin.url())[1] == b"next"
    assert origin.connections == 1  # the trailers were read: the connection was reused


def test_chunked_as_the_final_of_several_codings_frames_the_body(origin: RawOrigin) -> None:
    # What the other codings did to the bytes is passed on as sent, as before.
    origin.answers = [CHUNKED.replace(b"chunked", b"gzip, chunked")]
    answer = upstream.open_url(origin.url(), {})
    assert answer.response.length is None
    assert list(answer.chunks()) == [b"hello", b", world"]


def test_a_coding_other_than_chunked_last_means_the_body_ends_with_the_connection(
    origin: RawOrigin,
) -> None:
    origin.answers = [
        then_hang_up(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, br\r\n\r\n5\r\nhello"),
        ok(b"next"),
    ]
    assert fetch(origin.url())[1] == b"5\r\nhello"
    assert fetch(origin.url())[1] == b"next"
    assert origin.connections == 2


def test_interim_responses_are_skipped_until_the_final_one(origin: RawOrigin) -> None:
    origin.answers = [
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        + ok(b"final", "Content-Type: video/mp2t"),
        ok(b"next"),
    ]
    answer, data = fetch(origin.url())
    assert (answer.status, data) == (200, b"final")
    assert answer.header("Link") is None and answer.header("Content-Type") == "video/mp2t"
    assert fetch(origin.url())[1] == b"next"
    assert origin.connections == 1


@pytest.mark.parametrize(
    "lengths", [("5", "5"), ("5, 5",), ("5 ,5", "5")], ids=["twice", "list", "both"]
)
def test_identical_content_lengths_count_once(origin: RawOrigin, lengths: tuple[str, ...]) -> None:
    head = "HTTP/1.1 200 OK\r\n" + "".join(f"Content-Length: {v}\r\n" for v in lengths)
    origin.answers = [head.encode() + b"\r\nhello", ok(b"next")]
    answer, data = fetch(origin.url())
    assert (answer.content_length(), data) == (5, b"hello")
    assert fetch(origin.url())[1] == b"next"
    assert origin.connections == 1


@pytest.mark.parametrize(
    "lengths", [("5", "6"), ("5, 6",), ("abc",), ("-1",), ("",), ("+5",), ("5.0",)]
)
def test_conflicting_or_invalid_content_length_is_a_protocol_error(
    origin: RawOrigin, lengths: tuple[str, ...]
) -> None:
    head = "HTTP/1.1 200 OK\r\n" + "".join(f"Content-Length: {v}\r\n" for v in lengths)
    origin.answers = [head.encode() + b"\r\nhello"]
    with pytest.raises(upstream.BadResponse, match="bad Content-Length"):
        upstream.open_url(origin.url(), {})


@pytest.mark.parametrize(
    ("method", "status"), [("HEAD", 200), ("GET", 204), ("GET", 304), ("HEAD", 206)]
)
def test_no_body_follows_head_204_and_304_whatever_the_headers_say(
    origin: RawOrigin, method: str, status: int
) -> None:
    head = f'HTTP/1.1 {status} X\r\nContent-Length: 1000\r\nETag: "e"\r\n\r\n'
    origin.answers = [head.encode(), ok(b"next")]
    started = time.monotonic()
    answer, data = fetch(origin.url(), method)
    assert (answer.status, data) == (status, b"")
    assert time.monotonic() - started < 1  # nothing was waited for
    assert answer.content_length() == 1000  # declared all the same (for HEAD: a GET's size)
    assert fetch(origin.url())[1] == b"next"
    assert origin.connections == 1


@pytest.mark.parametrize(
    "head",
    [
        "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nConnection: x-custom, close\r\nContent-Length: 2\r\n\r\n",
    ],
)
def test_http_1_0_and_connection_close_are_not_reused(origin: RawOrigin, head: str) -> None:
    # The server keeps the connection open all the same: only the client's choice counts.
    origin.answers = [head.encode() + b"ok", ok(b"next")]
    assert fetch(origin.url())[1] == b"ok"
    assert fetch(origin.url())[1] == b"next"
    assert origin.connections == 2


def test_body_without_length_is_read_until_the_server_closes(origin: RawOrigin) -> None:
    origin.answers = [then_hang_up(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 300_000), ok(b"next")]
    answer, data = fetch(origin.url())
    assert data == b"x" * 300_000 and answer.content_length() is None
    assert fetch(origin.url())[1] == b"next"
    assert origin.connections == 2


def test_head_in_many_tiny_segments_is_read_whole(origin: RawOrigin) -> None:
    head = (
        b"HTTP/1.1 206 Partial Content\r\nContent-Type: video/mp4\r\n"
        b"Content-Range: bytes 0-9/100\r\nX-Multi: a\r\nX-Multi: b\r\n"
        b"X-Folded: first\r\n  second\r\nContent-Length: 10\n\n0123456789"
    )
    origin.answers = [in_pieces(head), ok(b"next")]
    answer, data = fetch(origin.url())
    assert (answer.status, data) == (206, b"0123456789")
    assert answer.header("content-range") == "bytes 0-9/100"
    assert answer.header("X-MULTI") == "a, b"  # as http.client's getheader joins them
    assert answer.header("X-Folded") == "first second"
    assert fetch(origin.url())[1] == b"next"
    assert origin.connections == 1


# --- limits and failures -------------------------------------------------------------------


def test_header_line_over_64_kib_is_a_protocol_error(origin: RawOrigin) -> None:
    origin.answers = [ok(b"ok", "X-Huge: " + "a" * 65536)]
    with pytest.raises(upstream.BadResponse, match="header line"):
        upstream.open_url(origin.url(), {})


def test_more_than_100_headers_is_a_protocol_error_and_100_are_fine(origin: RawOrigin) -> None:
    fields = [f"X-H{i}: {i}" for i in range(99)]  # and Content-Length
    origin.answers = [ok(b"ok", *fields), ok(b"ok", *fields, "X-One-Too-Many: 1")]
    assert fetch(origin.url())[1] == b"ok"
    with pytest.raises(upstream.BadResponse, match="more than 100 headers"):
        upstream.open_url(origin.url(), {})


def test_head_that_never_ends_fails_without_growing_unbounded(origin: RawOrigin) -> None:
    endless = b"HTTP/1.1 200 OK\r\n" + b"X-Filler: " + b"f" * 90 + b"\r\n"
    origin.answers = [lambda conn: conn.sendall(endless + endless[17:] * 20_000)]
    started = time.monotonic()
    with pytest.raises(upstream.BadResponse, match="response head longer than"):
        upstream.open_url(origin.url(), {})
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    "reply", [b"HTTP/1.1 2OO OK\r\n\r\n", b"ICY 200 OK\r\n\r\n", b"HTTP/1.1 099 Low\r\n\r\n"]
)
def test_a_broken_status_line_is_a_protocol_error(origin: RawOrigin, reply: bytes) -> None:
    origin.answers = [reply]
    with pytest.raises(upstream.BadResponse):
        upstream.open_url(origin.url(), {})


def test_server_closing_a_pooled_connection_on_the_next_request_is_a_clean_error(
    origin: RawOrigin,
) -> None:
    origin.answers = [ok(b"first"), hang_up]
    assert fetch(origin.url())[1] == b"first"
    with pytest.raises(upstream.Unreachable, match="closed connection without response"):
        upstream.open_url(origin.url(), {})
    assert origin.connections == 1


def test_pooled_connection_the_server_closed_while_idle_is_not_used(origin: RawOrigin) -> None:
    origin.answers = [then_hang_up(ok(b"first")), ok(b"second")]
    assert fetch(origin.url())[1] == b"first"
    wait_until(lambda: origin.closed == 1, 5, "the server to close the connection")
    assert fetch(origin.url())[1] == b"second"
    assert origin.connections == 2


@pytest.mark.parametrize(
    "reply",
    [
        ok(b"x" * 100)[:-50],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" + b"x" * 50,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n",
    ],
    ids=["content-length", "in a chunk", "before the last chunk", "in the trailers"],
)
def test_body_cut_short_is_body_interrupted(origin: RawOrigin, reply: bytes) -> None:
    origin.answers = [then_hang_up(reply), ok(b"next")]
    answer = upstream.open_url(origin.url(), {})
    with pytest.raises(upstream.BodyInterrupted, match="body cut off"):
        list(answer.chunks())
    assert fetch(origin.url())[1] == b"next"
    assert origin.connections == 2


def test_bad_chunk_framing_is_body_interrupted_and_the_connection_dropped(
    origin: RawOrigin,
) -> None:
    reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n"
    origin.answers = [reply, ok(b"next")]
    answer = upstream.open_url(origin.url(), {})
    with pytest.raises(upstream.BodyInterrupted, match="chunk data longer than its size"):
        answer.read_decoded(100)
    assert fetch(origin.url())[1] == b"next"
    assert origin.connections == 2


def test_unread_body_never_goes_back_to_the_pool(origin: RawOrigin) -> None:
    origin.answers = [ok(b"x" * 10_000), ok(b"next")]
    answer = upstream.open_url(origin.url(), {})
    answer.read_head(100)
    answer.release()  # misused: the body was not read to its end
    assert fetch(origin.url())[1] == b"next"
    assert origin.connections == 2


# --- splicing: exact byte accounting -------------------------------------------------------


@pytest.mark.parametrize(
    ("with_head", "buffered"),
    [(None, "more"), (5000, "exactly"), (0, "none")],
    ids=["whole body sent with the head", "5000 bytes with the head", "head alone first"],
)
def test_spliced_2_mib_body_arrives_byte_identical(
    origin: RawOrigin, with_head: int | None, buffered: str
) -> None:
    body = os.urandom(2 * MIB)
    reply = ok(body, "Content-Type: video/mp4")
    head_size = len(reply) - len(body)

    def answer(conn: socket.socket) -> None:
        if with_head is None:
            conn.sendall(reply)
            return
        conn.sendall(reply[: head_size + with_head])
        time.sleep(0.2)  # the client has read what came first
        conn.sendall(reply[head_size + with_head :])

    origin.answers = [answer, ok(b"next")]
    sink, received = client_socket()
    try:
        got = upstream.open_url(origin.url(), {})
        assert got.read_head(SNIFF) == body[:SNIFF]  # as strm.proxy does before splicing
        assert got.can_splice()
        first = got.take_buffered()
        sent = got.splice_rest(sink)
        sink.close()
        assert len(first) + sent == len(body)
        assert first + received() == body
    finally:
        sink.close()
    if buffered == "more":
        assert len(first) > SNIFF  # the bytes that came in the head's recv, all of them
    elif buffered == "exactly":
        assert len(first) == 5000
    else:
        assert len(first) == SNIFF
    assert fetch(origin.url())[1] == b"next"
    assert origin.connections == 1  # spliced to its end: the connection was reused


def test_splice_of_a_body_cut_short_is_body_interrupted(origin: RawOrigin) -> None:
    origin.answers = [then_hang_up(ok(b"y" * MIB)[: -MIB // 2]), ok(b"next")]
    sink, received = client_socket()
    try:
        got = upstream.open_url(origin.url(), {})
        got.take_buffered()
        with pytest.raises(upstream.BodyInterrupted, match="body cut off"):
            got.splice_rest(sink)
    finally:
        sink.close()
    received()
    assert fetch(origin.url())[1] == b"next"
    assert origin.connections == 2


def client_socket() -> tuple[socket.socket, Callable[[], bytes]]:
    """A connected TCP socket to splice into, and a function returning all bytes that
    arrived at its other end once it is closed."""
    listener = socket.create_server(("127.0.0.1", 0))
    sink = socket.create_connection(listener.getsockname())
    peer, _ = listener.accept()
    listener.close()
    parts: list[bytes] = []
    reader = threading.Thread(target=lambda: parts.extend(iter(lambda: peer.recv(MIB), b"")))
    reader.start()

    def received() -> bytes:
        reader.join(10)
        peer.close()
        return b"".join(parts)

    return sink, received


# --- TLS -----------------------------------------------------------------------------------


@pytest.fixture
def tls_origin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RawOrigin]:
    """An HTTPS origin whose certificate the proxy trusts (its CA in SSL_CERT_FILE)."""
    server_context, ca = tls_helpers.server_context(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    connections._tls_context.cache_clear()
    server = RawOrigin(tls=server_context)
    yield server
    server.stop()
    connections._tls_context.cache_clear()


def test_tls_bodies_are_read_many_records_at_a_time_and_the_connection_reused(
    tls_origin: RawOrigin,
) -> None:
    body = os.urandom(300_000)
    tls_origin.answers = [ok(body), CHUNKED]
    answer = upstream.open_url(tls_origin.url(), {})
    time.sleep(0.2)  # the whole body arrives meanwhile
    chunks = list(answer.chunks())
    assert b"".join(chunks) == body
    # A TLS recv gives one record (at most 16 KiB); what had arrived came in one read.
    assert max(map(len, chunks)) > 64 * 1024
    assert fetch(tls_origin.url())[1] == b"hello, world"
    assert tls_origin.connections == 1


def test_the_rest_of_a_tls_body_is_copied_straight_into_the_client_socket(
    tls_origin: RawOrigin,
) -> None:
    body = os.urandom(2 * MIB)
    tls_origin.answers = [ok(body), then_hang_up(ok(b"z" * MIB)[: -MIB // 2]), ok(b"next")]
    sink, received = client_socket()
    try:
        answer = upstream.open_url(tls_origin.url(), {})
        answer.read_head(SNIFF)
        assert answer.can_splice()  # not spliced (OpenSSL decrypts), but past the web server
        first = answer.take_buffered()
        sink.sendall(first)
        assert answer.splice_rest(sink) == len(body) - len(first)
    finally:
        sink.close()
    assert received() == body
    cut = upstream.open_url(tls_origin.url(), {})
    cut.take_buffered()
    sink, received = client_socket()
    with pytest.raises(upstream.BodyInterrupted, match="body cut off"):
        cut.splice_rest(sink)
    sink.close()
    received()
    assert fetch(tls_origin.url())[1] == b"next"
    assert tls_origin.connections == 2  # the first reused for the second, the cut one not
