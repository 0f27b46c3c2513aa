"""Load: 50 HLS players and a few real ffmpeg clients stream through the proxy (gunicorn,
2 gevent workers) for a minute while Sonarr-like clients poll Torznab and the qB API.

Each player does what ffmpeg does with an HLS .strm URL: the entry (master), one
variant playlist, then its segments, on one kept-alive connection, in a loop, paced
at one segment per second (twice real time: a transcoding Jellyfin). Everything is
on loopback against the fake CDN. Nothing may fail; the segment latency (p50/p99)
and the gunicorn workers' memory at the start and the end are printed and recorded.
"""

from __future__ import annotations

import http.client
import statistics
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from catalog.identity import EpisodeIdentity
from catalog.magnet import build_magnet
from catalog.models import EpisodeAvailability
from strm.stream_urls import stream_url
from tests.fakeweb import FakeWeb
from tests.resilience.record import record
from tests.resilience.stack import WebServer, get, hls_uris, local_part, post, proxy_web

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.engine_agnostic,
]

LOAD_SECONDS = 60.0
HLS_CLIENTS = 50
FFMPEG_CLIENTS = 2
SEGMENT_INTERVAL = 1.0
POLL_INTERVAL = 0.5
TORRENTS = 20
HLS = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "VOE")
KAIJU_TVDB = 900001
SEARCH = f"/torznab/api?t=tvsearch&tvdbid={KAIJU_TVDB}&season=1&ep=2&cat=5070"
OFFERED = ("German Dub", "German Sub", "English Sub")  # what the fake has; English Dub not
RENDITIONS = ("180p", "360p")  # the master's variants, in its order
# Generous: a regression that makes segments wait (a blocked worker, a lock) shows
# up as seconds; a loaded 2-core machine shows tens to hundreds of milliseconds.
SEGMENT_P99_LIMIT_SECONDS = 5.0


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    ok: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    segment_seconds: list[float] = field(default_factory=list)
    segments_per_client: Counter[int] = field(default_factory=Counter)

    def good(self, name: str) -> None:
        with self.lock:
            self.ok[name] += 1

    def bad(self, name: str, what: str) -> None:
        with self.lock:
            self.errors.append(f"{name}: {what}")


class KeepAlive:
    """One client connection, reused for every request like ffmpeg's."""

    def __init__(self, netloc: str) -> None:
        self.conn = http.client.HTTPConnection(netloc, timeout=30)

    def get(self, url: str) -> tuple[int, bytes, float]:
        started = time.monotonic()
        self.conn.request("GET", local_part(url))
        response = self.conn.getresponse()
        body = response.read()
        return response.status, body, time.monotonic() - started

    def close(self) -> None:
        self.conn.close()


def _player(n: int, fake: FakeWeb, tally: Tally, until: float) -> None:
    rendition = n % len(RENDITIONS)
    expected = [
        (fake.media.root / f"hls/ts/{RENDITIONS[rendition]}/seg{i}.ts").read_bytes()
        for i in range(3)
    ]
    entry = stream_url(HLS)
    client = KeepAlive(urlsplit(entry).netloc)
    next_tick = time.monotonic() + (n % 10) * SEGMENT_INTERVAL / 10  # spread the start
    try:
        while time.monotonic() < until:
            status, master, _ = client.get(entry)
            if status != 200:
                tally.bad("master", f"{status} {master[:100]!r}")
                return
            status, variant, _ = client.get(hls_uris(master)[rendition])
            if status != 200:
                tally.bad("variant", f"{status} {variant[:100]!r}")
                return
            tally.good("playlists")
            for i, url in enumerate(hls_uris(variant)):
                time.sleep(max(0.0, next_tick - time.monotonic()))
                next_tick += SEGMENT_INTERVAL
                if time.monotonic() >= until:
                    return
                status, body, seconds = client.get(url)
                if status != 200 or body != expected[i]:
                    tally.bad("segment", f"{status}, {len(body)} bytes for segment {i}")
                    return
                with tally.lock:
                    tally.segment_seconds.append(seconds)
                    tally.segments_per_client[n] += 1
    except (OSError, http.client.HTTPException) as exc:
        tally.bad("player", f"{type(exc).__name__}: {exc}")
    finally:
        client.close()


def _ffmpeg(tally: Tally, until: float) -> None:
    """A real ffmpeg playing the 360p program at real speed, again and again."""
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re"]
    command += ["-i", stream_url(HLS), "-map", "0:p:1", "-c", "copy", "-f", "null", "-"]
    while time.monotonic() < until - 8:  # a whole playback (6 s) fits before the end
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode != 0 or result.stderr.strip():
            tally.bad("ffmpeg", f"exit {result.returncode}: {result.stderr[-300:]}")
            return
        tally.good("ffmpeg playbacks")


def _sonarr(base: str, tally: Tally, until: float) -> None:
    while time.monotonic() < until:
        search = get(base + SEARCH)
        if search.status == 200 and search.body.count(b"<item>") == len(OFFERED):
            tally.good("torznab tvsearch")
        else:
            tally.bad("torznab", f"{search.status} {search.body[:200]!r}")
        for path in ("/api/v2/torrents/info", "/api/v2/sync/maindata?rid=0"):
            answer = get(base + path)
            if answer.status == 200 and answer.body.count(b'"hash"') >= TORRENTS:
                tally.good(path.split("?")[0])
            else:
                tally.bad(path, f"{answer.status} {answer.body[:200]!r}")
        time.sleep(POLL_INTERVAL)


def _cached_episode() -> None:
    """The episode Sonarr searches for, as probes left it in the availability table."""
    for language in (*OFFERED, "English Dub"):
        EpisodeAvailability.objects.create(
            site="aniworld.to",
            slug="kaiju-academy",
            season=1,
            episode=2,
            language=language,
            available=language in OFFERED,
            height=720,
            vcodec="h264",
            provider="VOE",
            checked_at=timezone.now(),
        )


@pytest.fixture
def web(
    fakeweb: FakeWeb, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[WebServer]:
    log_dir = tmp_path_factory.mktemp("load")
    with proxy_web(
        log_dir, monkeypatch, workers=2, **fakeweb.app_env(), LOG_LEVEL="WARNING"
    ) as server:
        yield server


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def test_fifty_hls_players_and_sonarr_polling_for_a_minute_without_errors(
    web: WebServer, fakeweb: FakeWeb
) -> None:
    _cached_episode()
    magnets = "\n".join(
        build_magnet(HLS.__class__("aniworld.to", "kaiju-academy", 1, n, "German Dub"), f"K.{n}")
        for n in range(1, TORRENTS + 1)
    )
    assert post(web.base_url + "/api/v2/torrents/add", {"urls": magnets, "stopped": "true"}).body
    # Warm up every gunicorn worker (imports, title index, first resolve).
    warm = Tally()
    warmers = [
        threading.Thread(target=_player, args=(n, fakeweb, warm, time.monotonic() + 3))
        for n in range(8)
    ]
    for thread in warmers:
        thread.start()
    _sonarr(web.base_url, warm, time.monotonic() + 1)
    for thread in warmers:
        thread.join(timeout=60)
    assert not warm.errors, warm.errors[:5]

    rss_start = web.workers_rss()
    tally = Tally()
    until = time.monotonic() + LOAD_SECONDS
    threads = [
        *(
            threading.Thread(target=_player, args=(n, fakeweb, tally, until))
            for n in range(HLS_CLIENTS)
        ),
        *(threading.Thread(target=_ffmpeg, args=(tally, until)) for _ in range(FFMPEG_CLIENTS)),
        threading.Thread(target=_sonarr, args=(web.base_url, tally, until)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=LOAD_SECONDS + 90)
    assert not any(thread.is_alive() for thread in threads), "a client hung"
    rss_end = web.workers_rss()

    seconds = tally.segment_seconds
    p50, p99 = _percentile(seconds, 50), _percentile(seconds, 99)
    summary = (
        f"{HLS_CLIENTS} HLS players + {FFMPEG_CLIENTS} ffmpeg + Sonarr polling for "
        f"{LOAD_SECONDS:.0f} s: {len(seconds)} segments, p50 {p50 * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms (mean {statistics.fmean(seconds) * 1000:.0f} ms); "
        f"{tally.ok['ffmpeg playbacks']} ffmpeg playbacks, "
        f"{tally.ok['torznab tvsearch']} Torznab searches, "
        f"{tally.ok['/api/v2/torrents/info'] + tally.ok['/api/v2/sync/maindata']} qB polls; "
        f"gunicorn workers RSS {rss_start / 2**20:.0f} MiB -> {rss_end / 2**20:.0f} MiB"
    )
    print("\nload: " + summary)
    assert not tally.errors, tally.errors[:5]
    # Every player kept playing: none starved behind the others.
    least = min(tally.segments_per_client[n] for n in range(HLS_CLIENTS))
    assert least >= LOAD_SECONDS / SEGMENT_INTERVAL * 0.6, tally.segments_per_client
    assert tally.ok["ffmpeg playbacks"] >= FFMPEG_CLIENTS
    assert tally.ok["torznab tvsearch"] >= 10 and tally.ok["/api/v2/sync/maindata"] >= 10
    assert p99 < SEGMENT_P99_LIMIT_SECONDS, summary
    record(
        "load: HLS players + polling",
        len(seconds) + sum(tally.ok.values()),
        "no errors; " + summary,
    )
