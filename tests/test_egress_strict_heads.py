"""catalog.egress.connections reads response heads as strictly as RFC 9112 asks: ambiguous
framing, malformed field lines and control characters are refused (BadResponse, never
passed on), and a head, interim responses included, has one overall deadline.

Against hand-written answers from the raw-socket origin of tests/test_strm_upstream.py.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from catalog.egress import upstream
from tests.strm_helpers import use_proxy_config
from tests.test_strm_upstream import RawOrigin, fetch, ok

READ_TIMEOUT = 1.5


@pytest.fixture(autouse=True)
def config(monkeypatch: pytest.MonkeyPatch) -> None:
    use_proxy_config(monkeypatch, strm_proxy_upstream_allowlist=("127.0.0.1",))
    monkeypatch.setattr(upstream, "READ_TIMEOUT", READ_TIMEOUT)


@pytest.fixture
def origin() -> Iterator[RawOrigin]:
    server = RawOrigin()
    yield server
    server.stop()


CHUNK = b"bc\r\n" + b"G" * 188 + b"\r\n0\r\n\r\n"


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nTransfer-Encoding: chunked\r\n",
            "both Transfer-Encoding and Content-Length",
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 188\r\n",
            "both Transfer-Encoding and Content-Length",
        ),
        ("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n", "HTTP/1.0"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n", "bad Transfer-Encoding"),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            "bad Transfer-Encoding",
        ),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\nContent-Length: 195\r\n", "Transfer-Enc"),
    ],
    ids=["length then chunked", "chunked then length", "http/1.0", "twice", "two fields", "empty"],
)
def test_ambiguous_framing_is_refused_and_the_connection_dropped(
    origin: RawOrigin, head: str, message: str
) -> None:
    origin.answers = [head.encode() + b"\r\n" + CHUNK, ok(b"next")]
    with pytest.raises(upstream.BadResponse, match=message):
        upstream.open_url(origin.url(), {})
    assert fetch(origin.url())[1] == b"next"
    assert origin.connections == 2  # what followed the refused head was never read as a reply


@pytest.mark.parametrize(
    "field",
    [
        b"Content-Type: video/mp2t\rX-Injected: 1",  # bare CR: a line break to some readers
        b"Content-Type: video/mp2t\x00",
        b"Content-Type: vid\x00eo/mp2t",
        b"X-Control: a\x01b",
        b"X-Delete: a\x7fb",
        b"X-Bare-Cr: \r",
        b"Content-Length : 4",  # whitespace before the colon (RFC 9112 5.1)
        b"Content-Length\t: 4",
        b"X Space: 1",
        b"No colon at all",
        b": no name",
        b"X-\xe4: 1",
    ],
)
def test_malformed_field_lines_are_refused(origin: RawOrigin, field: bytes) -> None:
    origin.answers = [b"HTTP/1.1 200 OK\r\n" + field + b"\r\nContent-Length: 4\r\n\r\nbody"]
    with pytest.raises(upstream.BadResponse):
        upstream.open_url(origin.url(), {})


def test_a_folded_line_before_any_field_is_refused(origin: RawOrigin) -> None:
    origin.answers = [b"HTTP/1.1 200 OK\r\n X-Folded: 1\r\nContent-Length: 4\r\n\r\nbody"]
    with pytest.raises(upstream.BadResponse, match="folded"):
        upstream.open_url(origin.url(), {})


def test_tabs_and_obs_text_in_values_are_valid(origin: RawOrigin) -> None:
    origin.answers = [
        b"HTTP/1.1 200 OK\r\nX-Tab: a\tb\r\nContent-Disposition: attachment; n=\xe4\r\n"
        b"Content-Length: 4\r\n\r\nbody"
    ]
    answer, data = fetch(origin.url())
    assert data == b"body" and answer.header("X-Tab") == "a\tb"
    assert answer.header("Content-Disposition") == "attachment; n=\xe4"


def test_refusals_name_the_header_never_its_value(origin: RawOrigin) -> None:
    origin.answers = [
        b"HTTP/1.1 200 OK\r\nSet-Cookie: cdn-secret-41\r\rContent-Length: 4\r\n\r\nbody",
        b"HTTP/1.1 200 OK\r\nX-Token cdn-secret-42: 1\r\nContent-Length: 4\r\n\r\nbody",
    ]
    for _ in range(2):
        with pytest.raises(upstream.BadResponse) as refused:
            upstream.open_url(origin.url(), {})
        assert "cdn-secret" not in str(refused.value)


def test_a_stream_of_100_continue_cannot_hold_the_request_past_the_read_timeout(
    origin: RawOrigin,
) -> None:
    sent: list[float] = []

    def continues(conn: socket.socket) -> None:
        for _ in range(80):  # 40 s of interim responses
            sent.append(time.monotonic())
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            time.sleep(0.5)

    origin.answers = [continues]
    started = time.monotonic()
    with pytest.raises(upstream.Unreachable, match="no complete response head within"):
        upstream.open_url(origin.url(), {})
    elapsed = time.monotonic() - started
    assert READ_TIMEOUT <= elapsed < READ_TIMEOUT + 0.5, elapsed
    assert len(sent) >= 3  # each recv alone was well within its timeout


def test_a_head_trickled_a_byte_at_a_time_meets_the_same_deadline(origin: RawOrigin) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nContent-Length: 4\r\n\r\nbody"

    def trickle(conn: socket.socket) -> None:
        for byte in head:
            conn.sendall(bytes([byte]))
            time.sleep(0.1)

    origin.answers = [trickle]
    started = time.monotonic()
    with pytest.raises(upstream.Unreachable, match="no complete response head within"):
        upstream.open_url(origin.url(), {})
    assert time.monotonic() - started < READ_TIMEOUT + 0.5


def test_the_body_read_timeout_is_per_read_again_after_a_slow_head(origin: RawOrigin) -> None:
    # The head takes most of the deadline; the body's reads still get the whole timeout.
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"

    def slow(conn: socket.socket) -> None:
        conn.sendall(head[:10])
        time.sleep(READ_TIMEOUT * 0.6)
        conn.sendall(head[10:])
        time.sleep(READ_TIMEOUT * 0.8)
        conn.sendall(b"body")

    origin.answers = [slow]
    assert fetch(origin.url())[1] == b"body"


def test_bytes_sent_after_a_complete_answer_never_become_the_next_answer(
    origin: RawOrigin,
) -> None:
    smuggled = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED"

    def split(conn: socket.socket) -> None:
        conn.sendall(ok(b"first"))
        time.sleep(0.2)  # arrives while the connection waits in the pool
        conn.sendall(smuggled)

    origin.answers = [split, ok(b"second")]
    assert fetch(origin.url())[1] == b"first"
    time.sleep(0.4)
    assert fetch(origin.url())[1] == b"second"
    assert origin.connections == 2
