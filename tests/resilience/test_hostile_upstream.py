"""A deliberately malicious upstream, through the proxy end to end (gunicorn + gevent).

Each case is an episode whose stored resolution points at one path of a raw-socket
origin on loopback that answers with hand-written bytes: ambiguous framing, invalid
header fields, interim responses without end, response splitting, an over-long header
line, no status line, premature closes, a body left half-read. A player keeps one
connection alive, asks for the episode the way ffmpeg does (`Range: bytes=0-`) and
then for a genuine stream on the same connection. The player must get 502 (or the
exact bytes where the answer was valid after all), never a 500, never an invalid
header, never bytes the origin smuggled behind an answer.

Re-resolves after connection failures go to the fake sites, which do not know these
episodes: the proxy answers 502 at once.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from catalog.identity import EpisodeIdentity
from strm.stream_urls import stream_url
from tests.fakeweb import FakeWeb
from tests.resilience.gunicorn_test_conf import UPSTREAM_TIMEOUT_SECONDS
from tests.resilience.record import record
from tests.resilience.stack import WebServer, fast_proxy_web, local_part
from tests.strm_helpers import store_resolution, use_proxy_config
from tests.test_strm_upstream import Answer, RawOrigin

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

GENUINE = bytes(range(256)) * 64
SMUGGLED = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nContent-Length: 8\r\n\r\nSMUGGLED"
LARGE = bytes(range(251)) * 4200  # ~1 MiB, spliced past Python when it is passed on
# One upstream timeout for the head, then a re-resolve the fake sites refuse at once.
BOUND_SECONDS = UPSTREAM_TIMEOUT_SECONDS + 3
PLAYER_HEADERS = {"Range": "bytes=0-", "Icy-MetaData": "1", "User-Agent": "Lavf/61.7.100"}


def answer(*fields: str, body: bytes = b"", status: str = "200 OK") -> bytes:
    head = "".join(f"{field}\r\n" for field in fields)
    return f"HTTP/1.1 {status}\r\n{head}\r\n".encode("latin-1") + body


def then_close(data: bytes) -> Answer:
    def send(conn: socket.socket) -> None:
        conn.sendall(data)
        conn.shutdown(socket.SHUT_RDWR)

    return send


def continue_forever(conn: socket.socket) -> None:
    for _ in range(80):  # 40 s of "100 Continue", if nobody hangs up
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        time.sleep(0.5)


def smuggle_later(conn: socket.socket) -> None:
    conn.sendall(answer("Content-Type: video/mp2t", f"Content-Length: {100}", body=GENUINE[:100]))
    time.sleep(0.3)  # while the connection would wait in the proxy's pool
    conn.sendall(SMUGGLED)


class HostileOrigin(RawOrigin):
    """Answers each request by its path, on any connection, with the bytes given; counts
    the connections each path was asked on."""

    def __init__(self) -> None:
        super().__init__()
        self.routes: dict[str, Answer] = {}
        self._asked: set[tuple[str, int]] = set()

    def route(self, path: str, reply: Answer) -> str:
        self.routes[path] = reply
        return self.url(path)

    def answer_for(self, request: bytes, conn: socket.socket) -> Answer:
        path = request.split(b" ", 2)[1].decode()
        self._asked.add((path, id(conn)))
        return self.routes.get(path, answer("Content-Length: 0", status="404 No"))

    def connections_to(self, path: str) -> int:
        return sum(1 for asked, _ in self._asked if asked == path)


@dataclass(frozen=True)
class Case:
    name: str
    reply: Answer
    status: int  # what the player must get
    body: bytes = b""  # for a 206: the exact bytes


TS = "Content-Type: video/mp2t"
CASES = [
    Case(
        "Content-Length next to Transfer-Encoding: chunked",
        answer(TS, "Content-Length: 100000", "Transfer-Encoding: chunked")
        + b"bc\r\n"
        + GENUINE[:188]
        + b"\r\n0\r\n\r\n"
        + SMUGGLED,
        502,
    ),
    Case(
        "Content-Length twice, equal",
        answer(TS, *["Content-Length: 188"] * 2, body=GENUINE[:188]),
        206,
        GENUINE[:188],
    ),
    Case(
        "Content-Length: 188, 188",
        answer(TS, "Content-Length: 188, 188", body=GENUINE[:188]),
        206,
        GENUINE[:188],
    ),
    Case(
        "Content-Length twice, different",
        answer(TS, "Content-Length: 188", "Content-Length: 18", body=GENUINE[:188]),
        502,
    ),
    Case(
        "bare CR in a header value",
        answer("Content-Type: video/mp2t\rSet-Cookie: a=b", "Content-Length: 4", body=b"abcd"),
        502,
    ),
    Case(
        "NUL in Content-Type",
        answer("Content-Type: video/mp2t\x00", "Content-Length: 4", body=b"abcd"),
        502,
    ),
    Case(
        "Content-Length : 4 (space before the colon)",
        answer(TS, "Content-Length : 4", body=b"abcd"),
        502,
    ),
    Case("100 Continue every 0.5 s", continue_forever, 502),
    Case(
        "response split: a second answer after the body",
        answer(TS, "Content-Length: 100", body=GENUINE[:100]) + SMUGGLED,
        206,
        GENUINE[:100],
    ),
    Case("response split: a second answer 0.3 s later", smuggle_later, 206, GENUINE[:100]),
    Case(
        "header line of 70,000 bytes",
        answer(TS, "X-Long: " + "a" * 70_000, "Content-Length: 4", body=b"abcd"),
        502,
    ),
    Case("no status line", b"Content-Type: video/mp2t\r\nContent-Length: 4\r\n\r\nabcd", 502),
    Case("HTTP/0.9: a body without any head", then_close(GENUINE), 502),
    Case("closed in the middle of the head", then_close(b"HTTP/1.1 200 OK\r\nContent-Le"), 502),
    Case(
        "status 101 without an upgrade",
        answer("Upgrade: h2c", "Connection: Upgrade", status="101 Switching"),
        502,
    ),
]


@pytest.fixture(scope="module")
def server(
    django_db_setup: None, fakeweb_session: FakeWeb, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebServer]:
    # One worker: its pool of upstream connections is the one the cases can poison.
    log_dir = tmp_path_factory.mktemp("hostile")
    with fast_proxy_web(log_dir, fakeweb_session.app_env()) as web:
        yield web


@pytest.fixture
def origin(
    fakeweb: FakeWeb, server: WebServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[HostileOrigin]:
    use_proxy_config(monkeypatch, strm_public_base_url=server.base_url)
    hostile = HostileOrigin()
    yield hostile
    hostile.stop()


def episode(origin: HostileOrigin, n: int, reply: Answer) -> str:
    """The .strm URL of an episode resolved to path /<n>.ts of the origin."""
    identity = EpisodeIdentity("aniworld.to", f"hostile-case-{n}", 1, 1, "German Dub", "VOE")
    store_resolution(identity, origin.route(f"/{n}.ts", reply))
    return stream_url(identity)


class Player:
    """One kept-alive connection to the proxy, asking like ffmpeg."""

    def __init__(self, base_url: str) -> None:
        self.conn = http.client.HTTPConnection(urlsplit(base_url).netloc, timeout=30)

    def get(self, url: str) -> tuple[int, dict[str, str], bytes, float]:
        started = time.monotonic()
        self.conn.request("GET", local_part(url), headers=PLAYER_HEADERS)
        response = self.conn.getresponse()
        body = response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, headers, body, time.monotonic() - started

    def close(self) -> None:
        self.conn.close()


def test_hostile_answers_become_502_or_exact_bytes_never_500_or_smuggled_bytes(
    origin: HostileOrigin, server: WebServer
) -> None:
    genuine = episode(origin, 0, answer(TS, f"Content-Length: {len(GENUINE)}", body=GENUINE))
    urls = [episode(origin, n, case.reply) for n, case in enumerate(CASES, start=1)]
    player = Player(server.base_url)
    outcomes: list[str] = []
    slowest = 0.0
    try:
        for case, url in zip(CASES, urls, strict=True):
            status, headers, body, seconds = player.get(url)
            slowest = max(slowest, seconds)
            assert status == case.status, (case.name, status, body[:200])
            assert seconds < BOUND_SECONDS, (case.name, seconds)
            assert b"SMUGGLED" not in body, case.name
            if status == 206:
                assert body == case.body, case.name
                assert headers["content-length"] == str(len(case.body)), (case.name, headers)
                # Asked again: the origin's second answer must not be what it smuggled.
                assert player.get(url)[2] == case.body, case.name
            # The same kept-alive connection then carries a genuine stream, whole.
            status, _, body, _ = player.get(genuine)
            assert (status, body) == (206, GENUINE), case.name
            outcomes.append(f"{case.name}: {case.status}")
    finally:
        player.close()
    log = server.output()
    assert "Traceback" not in log and "internal error" not in log, log[-3000:]
    record(
        "hostile upstream answers through the proxy",
        len(CASES),
        f"{sum(c.status == 502 for c in CASES)} refused with 502 (ambiguous framing, bare CR, "
        "NUL, space before the colon, 70 KB header line, no status line, HTTP/0.9, "
        "closed mid-head, 101, 100 Continue every 0.5 s) in at most "
        f"{slowest:.1f} s; equal Content-Lengths and split responses served with the "
        "body's exact length; 0 smuggled bytes, 0 500s, the kept-alive player "
        "connection clean after each",
    )


def test_a_body_cut_off_or_left_half_read_never_poisons_the_next_answer(
    origin: HostileOrigin, server: WebServer
) -> None:
    head = answer(TS, f"Content-Length: {len(LARGE)}")
    cut = episode(origin, 101, then_close(head + LARGE[: len(LARGE) // 4]))
    large = episode(origin, 102, head + LARGE)

    # Premature close mid-body, after the player got the head: its connection is cut.
    player = Player(server.base_url)
    try:
        player.conn.request("GET", local_part(cut), headers=PLAYER_HEADERS)
        response = player.conn.getresponse()
        assert response.status == 206
        with pytest.raises(http.client.IncompleteRead) as short:
            response.read()
        assert LARGE.startswith(short.value.partial)
    finally:
        player.close()

    # A player that hangs up after 64 KiB leaves the upstream connection half-read.
    parts = urlsplit(large)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as hasty:
        request = f"GET {local_part(large)} HTTP/1.1\r\nHost: x\r\nRange: bytes=0-\r\n\r\n"
        hasty.sendall(request.encode())
        received = b""
        while len(received) < 64 * 1024:
            received += hasty.recv(65536)
    time.sleep(0.5)
    assert origin.connections_to("/102.ts") == 1
    player = Player(server.base_url)
    try:
        status, _, body, _ = player.get(large)
        assert (status, body) == (206, LARGE)
    finally:
        player.close()
    # The half-read connection was dropped, never lent to the next request.
    assert origin.connections_to("/102.ts") == 2
    record(
        "hostile upstream: cut and half-read bodies",
        2,
        "closed mid-body: the player's connection cut after the bytes that came, all "
        "equal to the origin's; player gone after 64 KiB of 1 MiB: upstream connection "
        "dropped, the next request got the whole body on a new one",
    )
