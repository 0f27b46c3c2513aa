"""The real-client proof: ffmpeg plays .strm URLs through the proxy served by gunicorn
with gevent workers, against the fake CDN's real media, and decodes exactly the
frames of the source. Also what only a real server shows: a client hanging up
mid-segment (case 17) and concurrent segment requests over keep-alive (case 18).

The proxy resolves through the real resolver and fake sites; CDN tokens are bound
to the resolver's User-Agent and the hoster's Referer, so ffmpeg's own headers
would be refused if the proxy passed them on.
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from catalog.identity import EpisodeIdentity
from strm.stream_urls import stream_url
from tests import strm_helpers
from tests.fakeweb import FakeWeb
from tests.processes import wait_until
from tests.strm_helpers import store_resolution, use_proxy_config

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FFMPEG_TIMEOUT = 40


def kaiju(provider: str) -> EpisodeIdentity:
    return EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", provider)


BYTERANGE = EpisodeIdentity("aniworld.to", "moonlit-blade", 1, 1, "German Dub", "VOE")


@pytest.fixture(scope="module")
def proxy_server(
    django_db_setup: None,
    django_db_blocker: object,
    fakeweb_session: FakeWeb,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """gunicorn (2 gevent workers) serving the app on a free port; yields its base URL."""
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    with strm_helpers.proxy_server(log, **fakeweb_session.app_env()) as base:
        yield base


@pytest.fixture
def web(fakeweb: FakeWeb, proxy_server: str, monkeypatch: pytest.MonkeyPatch) -> FakeWeb:
    """The fake web with header-bound CDN tokens; this process signs like the server."""
    use_proxy_config(monkeypatch, strm_public_base_url=proxy_server)
    fakeweb.cdn.bind_user_agent = True
    fakeweb.cdn.bind_referer = True
    return fakeweb


def framemd5(url: str, *options: str, before_input: tuple[str, ...] = ()) -> list[list[str]]:
    """ffmpeg's per-frame hashes: [stream, dts, pts, duration, size, md5] per decoded frame."""
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", *before_input]
    command += ["-i", url, *options, "-f", "framemd5", "-"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=FFMPEG_TIMEOUT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr.strip() == "", result.stderr[-2000:]  # no skipped segment, no error
    frames = [
        [field.strip() for field in line.split(",")]
        for line in result.stdout.splitlines()
        if line and not line.startswith("#")
    ]
    assert frames
    return frames


def video_hashes(frames: list[list[str]]) -> list[str]:
    return [frame[5] for frame in frames if frame[0] == "0"]


# --- every variant type decodes to the source's frames ---------------------------------------


@pytest.mark.parametrize(
    ("identity", "cdn_playlist"),
    [
        (kaiju("VOE"), "hls/ts/master.m3u8"),
        (kaiju("Vidmoly"), "hls/aes/master.m3u8"),
        (kaiju("Filemoon"), "hls/fmp4/master.m3u8"),
        (BYTERANGE, "hls/byterange/master.m3u8"),
    ],
    ids=["ts", "aes-128", "fmp4", "byterange"],
)
def test_ffmpeg_decodes_every_frame_of_each_hls_variant_through_the_proxy(
    web: FakeWeb, identity: EpisodeIdentity, cdn_playlist: str
) -> None:
    programs = [("-map", f"0:p:{n}:v", "-map", f"0:p:{n}:a") for n in (0, 1)]
    proxied = [framemd5(stream_url(identity), *streams) for streams in programs]
    # Every playlist, segment, key and init section came through us, with the
    # resolver's headers (ffmpeg's own "Lavf" User-Agent would get a 403 anyway).
    cdn = web.counts.requests("cdn")
    assert len(cdn) > 6 and not any("Lavf" in r.headers.get("user-agent", "") for r in cdn)
    for streams, rendition, frames in zip(programs, ("180p", "360p"), proxied, strict=True):
        assert frames == framemd5(web.cdn.sign(cdn_playlist), *streams)
        source = framemd5(str(web.media.source(rendition)), "-map", "0:v")
        assert video_hashes(frames) == video_hashes(source)


def test_ffmpeg_seeks_in_a_progressive_mp4_through_the_proxy(web: FakeWeb) -> None:
    identity = kaiju("Vidoza")
    # A small TCP window makes ffmpeg seek with a Range request instead of reading ahead.
    seek = ("-recv_buffer_size", "4096", "-ss", "3")
    proxied = framemd5(stream_url(identity), "-map", "0:v", "-map", "0:a", before_input=seek)
    source = framemd5(
        str(web.media.progressive), "-map", "0:v", "-map", "0:a", before_input=("-ss", "3")
    )
    assert proxied == source
    assert len(video_hashes(proxied)) < 25 * 6  # it did seek: not every frame was decoded
    ranges = [r.headers.get("range", "") for r in web.counts.requests("cdn")]
    assert any(r.startswith("bytes=") and not r.startswith("bytes=0-") for r in ranges), ranges


def test_playback_outlives_the_cdn_token_by_re_resolving_mid_playback(web: FakeWeb) -> None:
    """Tokens live 1.5 s, playback at real speed takes 6 s: later segments meet an
    expired token, the proxy re-resolves at the segment, and every frame is there."""
    web.cdn.token_lifetime = 1.5
    identity = kaiju("VOE")
    streams = ("-map", "0:p:1:v", "-map", "0:p:1:a")
    proxied = framemd5(stream_url(identity), *streams, before_input=("-re",))
    source = framemd5(str(web.media.source("360p")), "-map", "0:v")
    assert video_hashes(proxied) == video_hashes(source)
    resolves = web.counts.total("voe", "/e/*")
    assert resolves >= 2, f"expected a re-resolve mid-playback, saw {resolves} resolve(s)"
    # A refused segment was asked for again (with a fresh token): more requests than segments.
    assert web.counts.total("cdn", "*/hls/ts/360p/seg*.ts") > 3


# --- case 17: a client that hangs up mid-segment ------------------------------------------


class SlowOrigin:
    """An upstream sending a large body slowly; records when each connection ends."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.connections = 0
        self.closed: list[float] = []
        self.lock = threading.Lock()
        strm_helpers.accept_in_background(self.listener, self._accepted)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/video.bin"

    def _accepted(self, conn: socket.socket) -> None:
        with self.lock:
            self.connections += 1
        threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        size = 200 * 1024 * 1024
        with conn:
            conn.recv(65536)
            head = f"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: {size}\r\n\r\n"
            try:
                conn.sendall(head.encode())
                for _ in range(size // 65536):
                    conn.sendall(b"\0" * 65536)
                    time.sleep(0.005)
            except OSError:
                with self.lock:
                    self.closed.append(time.monotonic())

    def stop(self) -> None:
        self.listener.close()


def test_client_hanging_up_mid_segment_closes_the_upstream_connection(
    web: FakeWeb, proxy_server: str
) -> None:
    origin = SlowOrigin()
    try:
        identity = kaiju("Vidoza")
        store_resolution(identity, origin.url)
        parts = urlsplit(stream_url(identity))
        client = socket.create_connection((parts.hostname, parts.port), timeout=10)
        request = f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: x\r\nRange: bytes=0-\r\n\r\n"
        client.sendall(request.encode())
        received = 0
        while received < 2 * 1024 * 1024:
            received += len(client.recv(65536))
        client.close()
        hung_up = time.monotonic()
        wait_until(lambda: origin.closed, 10, "the proxy to close its upstream connection")
        assert origin.closed[0] - hung_up < 5
        # The next playback gets a new upstream connection, not the half-read one.
        # (It ignores Range; the proxy cuts the asked-for 100 bytes out itself.)
        assert _first_status(stream_url(identity)) == 206
        assert origin.connections == 2
    finally:
        origin.stop()


def test_upstream_cut_off_mid_body_drops_the_client_connection_instead_of_hanging(
    web: FakeWeb,
) -> None:
    web.cdn.drop_next("mp4/video.mp4", after_bytes=100_000)
    parts = urlsplit(stream_url(kaiju("Vidoza")))
    conn = http.client.HTTPConnection(parts.netloc, timeout=10)
    conn.request("GET", f"{parts.path}?{parts.query}", headers={"Range": "bytes=0-"})
    response = conn.getresponse()
    assert response.status == 206
    started = time.monotonic()
    with pytest.raises(http.client.IncompleteRead) as cut:
        response.read()
    assert len(cut.value.partial) >= 100_000 - 64 * 1024
    assert time.monotonic() - started < 5
    conn.close()


def _first_status(url: str) -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=10)
    try:
        conn.request("GET", f"{parts.path}?{parts.query}", headers={"Range": "bytes=0-99"})
        response = conn.getresponse()
        response.read(100)
        return response.status
    finally:
        conn.close()


# --- case 18: concurrent segment requests over keep-alive ---------------------------------


def test_two_concurrent_segment_requests_per_stream_over_keep_alive(web: FakeWeb) -> None:
    identity = kaiju("VOE")
    media = _fetch(stream_url(identity))
    variant = media.decode().splitlines()[-1]  # the 360p variant
    segments = [line for line in _fetch(variant).decode().splitlines() if "/strm/proxy/" in line]
    assert len(segments) == 3
    expected = [(web.media.root / "hls/ts/360p" / f"seg{n}.ts").read_bytes() for n in range(3)]
    web.cdn.stall_next("hls/ts/360p/seg*.ts", seconds=1.0, count=2)
    results: dict[int, list[bytes]] = {0: [], 1: []}
    sockets: dict[int, set[int]] = {0: set(), 1: set()}

    def play(worker: int) -> None:
        parsed = urlsplit(segments[0])
        conn = http.client.HTTPConnection(parsed.netloc, timeout=20)
        for n in (worker, 2, worker):  # both connections: a stalled one, then more
            path = urlsplit(segments[n]).path
            conn.request("GET", path, headers={"Range": "bytes=0-", "Icy-MetaData": "1"})
            response = conn.getresponse()
            assert response.status in (200, 206)
            results[worker].append(response.read())
            assert conn.sock is not None
            sockets[worker].add(id(conn.sock))
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=play, args=(w,)) for w in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    elapsed = time.monotonic() - started
    assert results[0] == [expected[0], expected[2], expected[0]]
    assert results[1] == [expected[1], expected[2], expected[1]]
    assert sockets == {0: {next(iter(sockets[0]))}, 1: {next(iter(sockets[1]))}}  # kept alive
    assert elapsed < 1.9, f"the two stalled segments were not served concurrently ({elapsed:.1f}s)"


def _fetch(url: str) -> bytes:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=20)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
        response = conn.getresponse()
        assert response.status == 200
        return response.read()
    finally:
        conn.close()
