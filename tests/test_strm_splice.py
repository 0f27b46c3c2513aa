"""The media fast path: under gunicorn's gevent workers a plain-HTTP upstream body of
known length goes from socket to socket in the kernel (catalog.egress.splice). A client must
see what it saw without it: exact bytes, connections kept alive, and a dropped
connection (never a short body) when upstream breaks off. Everything else still
goes through Python, and must keep working the same way next to it.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from catalog.egress import splice
from catalog.identity import EpisodeIdentity
from strm.stream_urls import stream_url
from tests import strm_helpers
from tests.fakeweb.server import FileBody, Response, file_response
from tests.processes import wait_until
from tests.strm_helpers import Origin, store_resolution, use_proxy_config

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

MIB = 1024 * 1024
SEGMENT = 2 * MIB
_slugs = itertools.count()


class CountingOrigin(Origin):
    """An origin that also counts the connections it was asked over."""

    def __init__(self) -> None:
        super().__init__()
        self.peers: set[tuple[str, int]] = set()

    def _dispatch(self, handler: Any) -> None:
        self.peers.add(handler.client_address)
        super()._dispatch(handler)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("splice") / "video.bin"
    path.write_bytes(os.urandom(7 * MIB + 4321))
    return path


@pytest.fixture(scope="module")
def server(
    django_db_setup: None, django_db_blocker: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """gunicorn (2 gevent workers, DEBUG log to see the fast path); (base URL, log)."""
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    with strm_helpers.proxy_server(log, LOG_LEVEL="DEBUG") as base:
        yield base, log


@pytest.fixture
def origin(media: Path) -> Iterator[CountingOrigin]:
    origin = CountingOrigin()
    origin.route("/video.bin", lambda r: file_response(r, media, "video/mp4"))
    # A server that ignores Range: the proxy cuts the asked-for part out itself.
    whole = FileBody(media, 0, media.stat().st_size)
    origin.route("/no-ranges.bin", lambda _r: Response(200, whole, "video/mp4"))
    origin.start()
    yield origin
    origin.stop()


@pytest.fixture
def base(server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> str:
    """The server's base URL; this process signs entry URLs like the server."""
    use_proxy_config(monkeypatch, strm_public_base_url=server[0])
    return server[0]


def entry(origin: Origin, path: str) -> str:
    """The signed entry path of a new identity whose stored URL is `path` at `origin`
    (new each time: a worker remembers an identity's URL for a few seconds)."""
    identity = EpisodeIdentity("aniworld.to", f"splice-{next(_slugs)}", 1, 1, "German Dub")
    store_resolution(identity, origin.url(path))
    parts = urlsplit(stream_url(identity))
    return f"{parts.path}?{parts.query}"


def ranged(conn: http.client.HTTPConnection, path: str, first: int, size: int) -> Any:
    conn.request("GET", path, headers={"Range": f"bytes={first}-{first + size - 1}"})
    return conn.getresponse()


def spliced_lines(log: Path) -> int:
    return log.read_text(errors="replace").count("bytes spliced")


def spliced_since(log: Path, before: int, expected: int) -> int:
    """How many bodies were spliced since `before`, once `expected` were or after 5 s:
    a worker logs a splice after its last byte went out, so maybe after the client read it."""
    with contextlib.suppress(AssertionError):
        wait_until(lambda: spliced_lines(log) - before >= expected, 5, "the splice log lines")
    return spliced_lines(log) - before


def test_2_mib_ranges_arrive_exactly_and_both_connections_are_kept_alive(
    base: str, server: tuple[str, Path], origin: CountingOrigin, media: Path
) -> None:
    data = media.read_bytes()
    path = entry(origin, "/video.bin")
    before = spliced_lines(server[1])
    logged_before = server[1].read_text().count(f'"GET /strm/stream" 206 {SEGMENT} ')
    conn = http.client.HTTPConnection(urlsplit(base).netloc, timeout=20)
    sockets = set()
    starts = (0, 3 * MIB + 123, 1, len(data) - SEGMENT, 5 * MIB)
    for first in starts:
        response = ranged(conn, path, first, SEGMENT)
        assert response.status == 206
        assert response.getheader("Content-Range") == (
            f"bytes {first}-{first + SEGMENT - 1}/{len(data)}"
        )
        assert response.read() == data[first : first + SEGMENT]
        assert response.getheader("Connection") == "keep-alive"
        assert conn.sock is not None
        sockets.add(id(conn.sock))
    conn.close()
    assert len(sockets) == 1  # gunicorn neither closed the connection nor added bytes
    assert len(origin.peers) == 1  # the upstream connection was reused after each body
    assert spliced_since(server[1], before, len(starts)) == len(starts)
    # The access log counts the spliced bytes too, not only those gunicorn wrote itself.
    logged = f'"GET /strm/stream" 206 {SEGMENT} '
    wait_until(
        lambda: server[1].read_text().count(logged) - logged_before >= len(starts),
        5,
        "the access log lines",
    )


def test_upstream_cut_mid_body_drops_the_client_connection_and_the_worker_lives_on(
    base: str, server: tuple[str, Path], origin: CountingOrigin, media: Path
) -> None:
    data = media.read_bytes()
    path = entry(origin, "/video.bin")
    origin.drop_next("/video.bin", after_bytes=MIB)
    conn = http.client.HTTPConnection(urlsplit(base).netloc, timeout=20)
    response = ranged(conn, path, 0, SEGMENT)
    assert response.status == 206
    started = time.monotonic()
    with pytest.raises(http.client.IncompleteRead) as cut:
        response.read()
    assert 0 < len(cut.value.partial) <= MIB
    assert time.monotonic() - started < 5
    conn.close()
    again = http.client.HTTPConnection(urlsplit(base).netloc, timeout=20)
    assert ranged(again, path, MIB, SEGMENT).read() == data[MIB : MIB + SEGMENT]
    again.close()
    log = server[1].read_text(errors="replace")
    assert "upstream cut off" in log
    assert log.count("Booting worker") == 2  # none died and was replaced


def test_upstream_ignoring_range_is_cut_in_python_over_the_same_connection(
    base: str, server: tuple[str, Path], origin: CountingOrigin, media: Path
) -> None:
    data = media.read_bytes()
    cut_path, whole_path = entry(origin, "/no-ranges.bin"), entry(origin, "/video.bin")
    before = spliced_lines(server[1])
    conn = http.client.HTTPConnection(urlsplit(base).netloc, timeout=20)
    for path, first in ((cut_path, 1000), (whole_path, 2000), (cut_path, 4 * MIB)):
        response = ranged(conn, path, first, SEGMENT)
        assert response.status == 206
        assert response.read() == data[first : first + SEGMENT]
    conn.close()
    assert spliced_since(server[1], before, 1) == 1  # only the one with a ranged upstream


def test_only_the_proxy_urls_are_served_without_middleware(base: str) -> None:
    conn = http.client.HTTPConnection(urlsplit(base).netloc, timeout=20)
    cases = (
        ("GET", "/strm/stream", 400, False),
        ("POST", "/strm/stream", 405, False),
        ("GET", "/strm/proxy/not-a-token/seg.ts", 403, False),
        # Malformed: answered here too, so Django's 404 never logs the token in the path.
        ("GET", "/strm/proxy/no-name", 404, False),
        ("GET", "/strm/nothing-of-ours", 404, True),  # Django's 404
        ("GET", "/admin/login/", 200, True),
    )
    for method, path, status, framed in cases:
        conn.request(method, path)
        response = conn.getresponse()
        response.read()
        assert response.status == status
        assert (response.getheader("X-Frame-Options") == "DENY") is framed  # middleware's
        if status == 405:
            assert (
                response.getheader("Allow") == "GET, HEAD, OPTIONS"
            )  # OPTIONS: CORS preflights (strm.cors)
    conn.close()


# --- the pipes behind splice.move, in this process ----------------------------------------


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        near = socket.create_connection(server.getsockname())
        far, _ = server.accept()
    return near, far


@pytest.fixture
def no_idle_pipes() -> Iterator[None]:
    _close_idle_pipes()
    yield
    _close_idle_pipes()


def _close_idle_pipes() -> None:
    while splice._idle_pipes:
        for fd in splice._idle_pipes.pop():
            os.close(fd)


@pytest.mark.usefixtures("no_idle_pipes")
def test_a_pipe_is_kept_after_a_complete_body_and_dropped_after_a_cut() -> None:
    data = os.urandom(300_000)
    for attempt in range(2):
        sink, sink_far = tcp_pair()
        assert _splice_through(sink, sink_far, data) == data
        assert len(splice._idle_pipes) == 1  # the same one both times
        if attempt == 0:
            kept = splice._idle_pipes[0]
        else:
            assert splice._idle_pipes[0] == kept
        sink.close()
        sink_far.close()

    source_far, source = tcp_pair()
    sink, sink_far = tcp_pair()
    source_far.sendall(b"x" * 1000)
    source_far.close()  # 1000 of the 5000 bytes, then the end
    with pytest.raises(splice.SourceCut):
        splice.move(source.fileno(), sink, 5000, read_timeout=5)
    assert splice._idle_pipes == []  # it may have held bytes: closed, not kept
    got = bytearray()
    _read_exactly(sink_far, 1000, got)
    assert got == b"x" * 1000  # what came before the cut went on
    for sock in (source, sink, sink_far):
        sock.close()


def _splice_through(sink: socket.socket, sink_far: socket.socket, data: bytes) -> bytes:
    """`data` sent into a fresh TCP source, moved to `sink`; what `sink_far` received."""
    source_far, source = tcp_pair()
    threading.Thread(target=source_far.sendall, args=(data,), daemon=True).start()
    received = bytearray()
    reader = threading.Thread(target=_read_exactly, args=(sink_far, len(data), received))
    reader.start()
    splice.move(source.fileno(), sink, len(data), read_timeout=5)
    reader.join(10)
    source_far.close()
    source.close()
    return bytes(received)


def _read_exactly(sock: socket.socket, size: int, into: bytearray) -> None:
    while len(into) < size and (chunk := sock.recv(size - len(into))):
        into.extend(chunk)


@pytest.mark.usefixtures("no_idle_pipes")
def test_unsent_bytes_in_a_tcp_client_socket_are_limited() -> None:
    sink, sink_far = tcp_pair()
    option = (socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT)
    assert sink.getsockopt(*option) != splice.CLIENT_NOTSENT_LOWAT
    data = os.urandom(200_000)
    assert _splice_through(sink, sink_far, data) == data
    assert sink.getsockopt(*option) == splice.CLIENT_NOTSENT_LOWAT
    sink.close()
    sink_far.close()


@pytest.mark.usefixtures("no_idle_pipes")
def test_a_unix_socket_client_gets_the_body_too() -> None:
    sink, sink_far = socket.socketpair()  # gunicorn may listen on a Unix socket
    data = os.urandom(200_000)
    assert _splice_through(sink, sink_far, data) == data
    sink.close()
    sink_far.close()
