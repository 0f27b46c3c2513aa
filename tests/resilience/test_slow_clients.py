"""Slow clients: 2,000 sockets trickling request heads (slowloris) at gunicorn with its
production settings (2 gevent workers) while /health and ordinary requests keep being
asked. Those must answer at once; the slow heads must be cut at the head deadline
(anibridge_site/gunicorn_worker.py), not after the keep-alive time.

The sockets are opened by this process and accepted by the two workers, so both need
descriptors beyond the usual 1,024: the soft limit is raised to the hard one (gunicorn's
config does the same for itself).
"""

from __future__ import annotations

import resource
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from anibridge_site.gunicorn_worker import HEAD_TIMEOUT
from tests.processes import celery_worker
from tests.resilience.record import record
from tests.resilience.stack import WebServer, get

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.engine_agnostic,
]

SLOW_SOCKETS = 2000
TRICKLE_SECONDS = 2.0  # a header line this often: no per-read timeout would ever fire
PROBE_SECONDS = 0.5
PROBES = ("/health", "/api/v2/app/version", "/torznab/api?t=caps")
# What an ordinary request may take with the slow sockets open (measured: milliseconds).
ANSWER_LIMIT_SECONDS = 2.0
# Descriptors this process needs: the slow sockets, probes, Redis, the test's own files.
NEEDED_FILES = SLOW_SOCKETS + 512


def _raise_open_files_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < NEEDED_FILES:
        raise AssertionError(
            f"this test opens {SLOW_SOCKETS} sockets but the hard limit on open files is "
            f"{hard}: raise it (ulimit -Hn {NEEDED_FILES * 2}) and run it again"
        )
    if soft != resource.RLIM_INFINITY and soft < NEEDED_FILES:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class SlowClients:
    """SLOW_SOCKETS connections that each send a request head a line at a time and never
    finish it; notes when the server closed each one."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.opened: dict[socket.socket, float] = {}
        self.closed_after: list[float] = []  # seconds from opening to the server's close
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)

    def open(self) -> None:
        for _ in range(SLOW_SOCKETS):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            sock.setblocking(False)
            self.opened[sock] = time.monotonic()
        self._thread.start()

    def _trickle(self) -> None:
        selector = selectors.DefaultSelector()
        for sock in self.opened:
            selector.register(sock, selectors.EVENT_READ, data=sock)
        next_line = time.monotonic() + TRICKLE_SECONDS
        while not self._stop.is_set() and selector.get_map():
            for key, _ in selector.select(timeout=0.2):
                sock = key.data
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                assert not data, f"the server answered an unfinished head: {data[:100]!r}"
                self._closed(selector, sock)
            if time.monotonic() >= next_line:
                next_line += TRICKLE_SECONDS
                for key in list(selector.get_map().values()):
                    sock = key.data
                    try:
                        sock.send(b"X-Slow: 1\r\n")
                    except OSError:
                        self._closed(selector, sock)
        selector.close()

    def _closed(self, selector: selectors.BaseSelector, sock: socket.socket) -> None:
        selector.unregister(sock)
        self.closed_after.append(time.monotonic() - self.opened[sock])
        sock.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for sock in self.opened:
            sock.close()


@pytest.fixture
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    _raise_open_files_limit()  # before gunicorn starts: it inherits the limit
    server = WebServer(tmp_path_factory.mktemp("slow-clients"), {"LOG_LEVEL": "INFO"}, workers=2)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        print(server.output()[-3000:])  # shown when the test failed


def test_slow_request_heads_neither_block_health_nor_outlive_the_head_deadline(
    web: WebServer, tmp_path: Path
) -> None:
    with celery_worker(tmp_path, concurrency=1):  # /health wants a worker on each queue
        assert get(web.base_url + "/health").status == 200
        rss_before = web.workers_rss()
        slow = SlowClients(web.port)
        try:
            started = time.monotonic()
            slow.open()
            opened_in = time.monotonic() - started
            answers: list[tuple[str, int, float]] = []
            until = time.monotonic() + HEAD_TIMEOUT + 4
            while time.monotonic() < until:
                for path in PROBES:
                    answer = get(web.base_url + path, timeout=30)
                    answers.append((path, answer.status, answer.seconds))
                time.sleep(PROBE_SECONDS)
            rss_during = web.workers_rss()
            cut = len(slow.closed_after)
        finally:
            slow.stop()
    failed = [a for a in answers if a[1] != 200]
    slowest = max(seconds for _, _, seconds in answers)
    assert not failed, failed[:5]
    assert slowest < ANSWER_LIMIT_SECONDS, sorted(answers, key=lambda a: -a[2])[:5]
    # Every head was cut by the deadline: HEAD_TIMEOUT from its accept (the first byte
    # came with the connection), plus the time to open the others and to notice 2,000
    # closes on a busy 2-core machine; far below the keep-alive time (75 s).
    assert cut == SLOW_SOCKETS, f"{cut} of {SLOW_SOCKETS} slow heads were cut"
    latest = max(slow.closed_after)
    assert latest < HEAD_TIMEOUT + opened_in + 5, latest
    health = sorted(seconds for path, _, seconds in answers if path == "/health")
    summary = (
        f"{len(answers)} requests (/health, qB version, Torznab caps) during {SLOW_SOCKETS} "
        f"slow heads: all 200, slowest {slowest * 1000:.0f} ms, /health median "
        f"{health[len(health) // 2] * 1000:.0f} ms; every slow head cut "
        f"{min(slow.closed_after):.1f}-{latest:.1f} s after connecting (head deadline "
        f"{HEAD_TIMEOUT:.0f} s); workers RSS {rss_before / 2**20:.0f} -> "
        f"{rss_during / 2**20:.0f} MiB"
    )
    print("\nslow clients: " + summary)
    record(f"slow clients: {SLOW_SOCKETS} trickled request heads", SLOW_SOCKETS, summary)
