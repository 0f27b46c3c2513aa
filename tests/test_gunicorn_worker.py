"""anibridge_site.gunicorn_worker under a real gunicorn: the head deadline and the keep-alive
wait are two different clocks (head deadline 1.5 s and keep-alive 4 s here, to be quick).
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.environment import free_port
from tests.gunicorn_head_conf import HEAD_TIMEOUT_SECONDS
from tests.processes import Proc, process_env, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.engine_agnostic,
]

KEEPALIVE_SECONDS = 4.0
REQUEST = b"GET /api/v2/app/version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture
def port(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    args = [sys.executable, "-m", "gunicorn", "-c", "tests/gunicorn_head_conf.py"]
    args += ["--keep-alive", str(int(KEEPALIVE_SECONDS)), "anibridge_site.wsgi"]
    env = process_env(ANIBRIDGE_HOST="127.0.0.1", ANIBRIDGE_PORT=str(port), WEB_CONCURRENCY="1")
    proc = Proc(args, env, tmp_path / "gunicorn.log")
    try:
        wait_until(lambda: "Booting worker" in proc.output(), 30, "gunicorn to start")
        wait_until(lambda: _answered(_connect(port)), 30, "gunicorn to answer")
        yield port
    finally:
        proc.stop()
        print(proc.output()[-3000:])


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=KEEPALIVE_SECONDS * 3)


def _answered(sock: socket.socket, request: bytes = REQUEST) -> bool:
    """Send `request` and read one response to its end (the body is `v5.1.4`)."""
    sock.sendall(request)
    data = b""
    while not data.endswith(b"v5.1.4"):
        chunk = sock.recv(65536)
        if not chunk:
            return False
        data += chunk
    return data.startswith(b"HTTP/1.1 200 ")


def _seconds_until_closed(sock: socket.socket) -> float:
    """How long until the server closes `sock` (anything it sends fails the test)."""
    started = time.monotonic()
    data = sock.recv(65536)
    assert data == b"", data[:200]
    return time.monotonic() - started


def test_an_idle_kept_alive_connection_outlasts_the_head_deadline(port: int) -> None:
    with _connect(port) as sock:
        assert _answered(sock)
        time.sleep(HEAD_TIMEOUT_SECONDS + 1)  # idle between requests, like ffmpeg
        assert _answered(sock)
        closed_after = _seconds_until_closed(sock)
    assert KEEPALIVE_SECONDS - 0.5 < closed_after < KEEPALIVE_SECONDS + 1.5, closed_after


def test_a_trickled_head_is_cut_at_the_deadline_from_its_first_byte(port: int) -> None:
    with _connect(port) as sock:
        assert _answered(sock)
        time.sleep(0.5)  # idle first: the deadline counts from the head's first byte
        started = time.monotonic()
        sock.sendall(b"GET /api/v2/app/version HTTP/1.1\r\n")
        sock.settimeout(0.4)
        closed = False
        while time.monotonic() - started < KEEPALIVE_SECONDS * 2 and not closed:
            try:
                closed = sock.recv(65536) == b""
            except TimeoutError:
                sock.sendall(b"X-Slow: 1\r\n")  # a line every 0.4 s: never silent for long
        cut_after = time.monotonic() - started
    assert closed and cut_after < HEAD_TIMEOUT_SECONDS + 0.8, cut_after


def test_a_new_connection_must_send_its_head_within_the_deadline(port: int) -> None:
    with _connect(port) as silent, _connect(port) as partial:
        partial.sendall(b"GET /api/v2/app/vers")
        assert _seconds_until_closed(silent) < HEAD_TIMEOUT_SECONDS + 0.8
        assert _seconds_until_closed(partial) < 0.8  # cut at the same moment, give or take


def test_pipelined_requests_are_answered_without_waiting(port: int) -> None:
    with _connect(port) as sock:
        started = time.monotonic()
        sock.sendall(REQUEST * 2)
        data = b""
        while data.count(b"v5.1.4") < 2:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
        assert data.count(b"HTTP/1.1 200 ") == 2
        assert time.monotonic() - started < 1
