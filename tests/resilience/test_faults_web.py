"""The web process restarted (SIGTERM, then SIGKILL) while a player streams a progressive
file through /strm/stream: the player's next Range request continues where it was,
and every byte it got equals the origin's.

The file is 16 MiB, more than loopback's socket buffers hold, so a SIGKILL really
cuts a response short instead of leaving its rest in the kernel's buffers. The
proxy does not look inside progressive media, so random bytes behave as an MP4.
"""

from __future__ import annotations

import http.client
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from catalog.identity import EpisodeIdentity
from strm.stream_urls import stream_url
from tests.fakeweb.server import file_response
from tests.resilience.record import record
from tests.resilience.stack import WebServer, local_part, proxy_web
from tests.strm_helpers import Origin, store_resolution

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.engine_agnostic,
]

IDENTITY = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "Vidoza")
SIZE = 16 * 1024 * 1024
RANGE_BYTES = 1024 * 1024  # what a seeking player asks for at a time
READ_BYTES = 64 * 1024
# How long the player keeps reconnecting while the server is away (a restart is ~2 s).
RECONNECT_SECONDS = 30.0


@dataclass
class Player:
    """Reads a stream the way a seeking player does: Range requests on one keep-alive
    connection; when it breaks, a new connection asks for the rest from where it stopped."""

    url: str
    size: int
    data: bytearray = field(default_factory=bytearray)
    errors: list[str] = field(default_factory=list)
    connections: int = 0
    _conn: http.client.HTTPConnection | None = None

    def read_until(
        self, end: int, range_bytes: int, on_data: Callable[[int], None] = lambda n: None
    ) -> None:
        deadline = time.monotonic() + RECONNECT_SECONDS
        while len(self.data) < end:
            if time.monotonic() > deadline:
                raise AssertionError(f"no progress for {RECONNECT_SECONDS:.0f}s: {self.errors}")
            first = len(self.data)
            last = min(first + range_bytes, self.size) - 1
            try:
                self._fetch(first, last, on_data)
            except (OSError, http.client.HTTPException) as exc:
                self.errors.append(f"{type(exc).__name__} at byte {len(self.data)}")
                self.close()
                time.sleep(0.05)  # the server is restarting: try again shortly
                continue
            if len(self.data) > first:
                deadline = time.monotonic() + RECONNECT_SECONDS

    def _fetch(self, first: int, last: int, on_data: Callable[[int], None]) -> None:
        if self._conn is None:
            netloc = self.url.split("/")[2]
            self._conn = http.client.HTTPConnection(netloc, timeout=10)
            self.connections += 1
        self._conn.request("GET", local_part(self.url), headers={"Range": f"bytes={first}-{last}"})
        response = self._conn.getresponse()
        if response.status != 206:
            body = response.read()[:200]
            raise http.client.HTTPException(f"status {response.status}: {body!r}")
        assert response.headers["Content-Range"] == f"bytes {first}-{last}/{self.size}"
        while chunk := response.read1(READ_BYTES):
            self.data += chunk
            on_data(len(self.data))
        response.read()  # marks the response done, so the connection can be reused
        if len(self.data) != last + 1:
            raise http.client.IncompleteRead(b"", last + 1 - len(self.data))
        if response.will_close:
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@pytest.fixture
def origin_file(tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    content = os.urandom(SIZE)
    path = tmp_path / "video.mp4"
    path.write_bytes(content)
    origin = Origin()
    url = origin.route("/video.mp4", lambda request: file_response(request, path, "video/mp4"))
    origin.start()
    try:
        yield url, content
    finally:
        origin.stop()


@pytest.fixture
def web(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebServer]:
    with proxy_web(tmp_path, monkeypatch, STRM_PROXY_UPSTREAM_ALLOWLIST="127.0.0.1") as server:
        yield server


def test_a_player_continues_its_stream_across_web_restarts(
    web: WebServer, origin_file: tuple[str, bytes]
) -> None:
    origin_url, content = origin_file
    store_resolution(IDENTITY, origin_url)
    player = Player(stream_url(IDENTITY), SIZE)

    # Seeking playback: 1 MiB ranges on a kept-alive connection.
    player.read_until(SIZE // 4, RANGE_BYTES)
    assert player.connections == 1 and not player.errors

    # Graceful restart between two ranges: the old worker answers the request that is
    # already on its connection and closes it; the next one reaches the new server.
    old = web.signal(signal.SIGTERM)
    web.start()
    player.read_until(SIZE // 2, RANGE_BYTES)
    old.popen.wait(timeout=20)  # the old master is gone: the new one served the rest
    assert old.popen.returncode == 0
    graceful_errors = list(player.errors)
    assert player.connections >= 2

    # Hard kill in the middle of one large response (as ffmpeg reads "bytes=N-").
    cut: list[int] = []

    def kill_mid_response(received: int) -> None:
        if not cut and received >= SIZE // 2 + 2 * READ_BYTES:
            cut.append(received)
            web.signal(signal.SIGKILL)
            web.start()

    player.read_until(SIZE, SIZE, on_data=kill_mid_response)
    player.close()

    assert cut, "the kill never happened"
    assert len(player.errors) > len(graceful_errors), "the SIGKILL did not cut the response"
    assert bytes(player.data) == content
    print(f"web restart: player errors {player.errors}, connections {player.connections}")
    record(
        "web restart during a stream",
        2,
        f"gunicorn SIGTERM between Range requests ({len(graceful_errors)} failed request(s)) "
        f"and SIGKILL mid-response at {cut[0] / 2**20:.1f} MiB of a 16 MiB progressive stream: "
        f"the player reconnected {player.connections - 1} time(s), asked again from where it "
        "stopped, all bytes equal the origin's",
    )
