"""A misbehaving CDN, seen through the proxy over real HTTP (gunicorn + gevent).

Faults: connections dropped before and in the middle of a segment, stalls before the
headers and mid-body, 5xx answers, 403 once the token expired, redirect loops. For
each: what the client gets, and that it gets it within a bound (nothing hangs).

gunicorn runs with 2 s upstream timeouts instead of 30 s (tests/resilience/
gunicorn_test_conf.py) so that a stall costs the test seconds, not minutes.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from catalog.egress import upstream
from catalog.identity import EpisodeIdentity
from strm.stream_urls import stream_url
from tests.fakeweb import FakeWeb
from tests.fakeweb.server import redirect
from tests.resilience.gunicorn_test_conf import UPSTREAM_TIMEOUT_SECONDS
from tests.resilience.record import record
from tests.resilience.stack import (
    Answer,
    WebServer,
    fast_proxy_web,
    get,
    hls_uris,
    local_part,
)
from tests.strm_helpers import Origin, store_resolution, use_proxy_config

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.engine_agnostic,
]

HLS = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "VOE")
SEGMENT = "hls/ts/360p/seg1.ts"
STALL_SECONDS = 30.0  # far beyond the proxy's timeout: only the timeout ends the wait
# A fault answered within this: one upstream timeout, one re-resolve, one retry.
BOUND_SECONDS = 3 * UPSTREAM_TIMEOUT_SECONDS + 3


@pytest.fixture(scope="module")
def server(
    django_db_setup: None, fakeweb_session: FakeWeb, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebServer]:
    log_dir = tmp_path_factory.mktemp("cdn-faults")
    with fast_proxy_web(log_dir, fakeweb_session.app_env()) as web:
        yield web


@pytest.fixture
def fake(fakeweb: FakeWeb, server: WebServer, monkeypatch: pytest.MonkeyPatch) -> FakeWeb:
    use_proxy_config(monkeypatch, strm_public_base_url=server.base_url)
    return fakeweb


def _segment_urls() -> list[str]:
    """The proxied segment URLs of the 360p variant, as a player finds them."""
    master = get(stream_url(HLS))
    assert master.status == 200, master
    variant = get(hls_uris(master.body)[-1])
    assert variant.status == 200, variant
    return hls_uris(variant.body)


def _expected(fake: FakeWeb) -> bytes:
    return (fake.media.root / SEGMENT).read_bytes()


def _cut_off(url: str) -> tuple[int, int, float]:
    """GET expecting the body to be cut: (status, bytes received, seconds)."""
    parts = url.split("/", 3)
    conn = http.client.HTTPConnection(parts[2], timeout=STALL_SECONDS)
    started = time.monotonic()
    try:
        conn.request("GET", local_part(url))
        response = conn.getresponse()
        try:
            body = response.read()
        except http.client.IncompleteRead as exc:
            return response.status, len(exc.partial), time.monotonic() - started
        raise AssertionError(f"the body was not cut: {len(body)} bytes")
    finally:
        conn.close()


def test_dropped_connections_are_retried_or_cut_and_never_hang(fake: FakeWeb) -> None:
    url = _segment_urls()[1]
    expected = _expected(fake)

    # Dropped before a byte reached the client: re-resolved and retried, invisible.
    fake.cdn.drop_next(SEGMENT, after_bytes=0)
    before = fake.counts.total("voe", "/e/*")
    clean = get(url)
    assert (clean.status, clean.body) == (200, expected)
    assert fake.counts.total("voe", "/e/*") == before + 1  # one re-resolve

    # Dropped mid-segment, after bytes went out: the client's connection is cut (a
    # short body on a kept-alive connection would leave it waiting) and it asks again.
    fake.cdn.drop_next(SEGMENT, after_bytes=len(expected) // 2)
    status, received, seconds = _cut_off(url)
    assert status == 200 and 0 < received < len(expected) and seconds < BOUND_SECONDS
    again = get(url)
    assert (again.status, again.body) == (200, expected)
    record(
        "cdn drops connections",
        2,
        "drop before any byte: re-resolved and retried, client got the whole segment; "
        f"drop mid-segment: client cut after {received} bytes in {seconds:.1f} s, "
        "next request whole",
    )


def test_a_stalled_cdn_trips_the_proxy_timeouts(fake: FakeWeb) -> None:
    url = _segment_urls()[1]
    expected = _expected(fake)

    # Silent before the headers: the read timeout fires, a retry on a fresh
    # resolution gets the segment.
    fake.cdn.stall_next(SEGMENT, seconds=STALL_SECONDS)
    stalled = get(url, timeout=STALL_SECONDS)
    assert (stalled.status, stalled.body) == (200, expected)
    assert UPSTREAM_TIMEOUT_SECONDS <= stalled.seconds < BOUND_SECONDS, stalled.seconds

    # Silent mid-body: the client is cut after the read timeout, not after the stall.
    fake.cdn.stall_next(SEGMENT, seconds=STALL_SECONDS, after_bytes=len(expected) // 2)
    status, received, seconds = _cut_off(url)
    assert status == 200 and received < len(expected)
    assert UPSTREAM_TIMEOUT_SECONDS <= seconds < BOUND_SECONDS, seconds
    record(
        "cdn stalls",
        2,
        f"stall before headers: read timeout, retry, whole segment in {stalled.seconds:.1f} s; "
        f"stall mid-body: client cut in {seconds:.1f} s (proxy timeout "
        f"{UPSTREAM_TIMEOUT_SECONDS:.0f} s in this test, {upstream.READ_TIMEOUT:.0f} s by default)",
    )


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_cdn_5xx_becomes_a_quick_502_and_the_next_request_succeeds(
    fake: FakeWeb, status: int
) -> None:
    url = _segment_urls()[1]
    fake.cdn.fail_next(SEGMENT, status=status)
    before = fake.counts.total("voe", "/e/*")
    failed = get(url)
    assert failed.status == 502 and failed.seconds < BOUND_SECONDS
    assert f"answered {status}".encode() in failed.body  # one line saying what happened
    # A server error says nothing about the link: no re-resolve, and it still works.
    assert fake.counts.total("voe", "/e/*") == before
    assert get(url).body == _expected(fake)
    if status == 504:
        record(
            "cdn 5xx",
            4,
            "500/502/503/504 on a segment: client got 502 with the reason within "
            f"{failed.seconds:.2f} s, link kept, next request whole",
        )


def test_expired_tokens_are_re_resolved_once_for_concurrent_requests(fake: FakeWeb) -> None:
    urls = _segment_urls()
    expected = [(fake.media.root / f"hls/ts/360p/seg{n}.ts").read_bytes() for n in range(3)]
    fake.cdn.expire_tokens()
    before = fake.counts.total("voe", "/e/*")
    answers: dict[int, Answer] = {}

    def fetch(n: int) -> None:
        answers[n] = get(urls[n % 3])

    threads = [threading.Thread(target=fetch, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=BOUND_SECONDS * 2)
    assert sorted(answers) == list(range(6))
    for n, answer in answers.items():
        assert (answer.status, answer.body) == (200, expected[n % 3]), n
    assert fake.counts.total("voe", "/e/*") == before + 1  # shared through the Redis lock
    record(
        "cdn 403 after token expiry",
        6,
        "tokens expired under 6 concurrent segment requests: one re-resolve, all 6 whole",
    )


def test_a_redirect_loop_is_refused_after_the_hop_limit(fake: FakeWeb) -> None:
    origin = Origin(fake.counts)
    origin.route("/loop", lambda request: redirect("/loop"))
    origin.route("/chain", lambda request: redirect(f"/chain?n={int(request.arg('n', '0')) + 1}"))
    origin.start()
    try:
        results: dict[str, Any] = {}
        for path, provider in (("/loop", "Vidoza"), ("/chain", "Doodstream")):
            identity = EpisodeIdentity("aniworld.to", "kaiju-academy", 2, 1, "German Dub", provider)
            store_resolution(identity, origin.url(path))
            answer = get(stream_url(identity))
            assert answer.status == 502 and answer.seconds < BOUND_SECONDS, answer
            assert b"more than 10 redirects" in answer.body
            results[path] = fake.counts.total("origin", path)
        # The first request and MAX_REDIRECTS hops; no re-resolve and retry for a loop.
        assert results == {"/loop": upstream.MAX_REDIRECTS + 1, "/chain": 11}
    finally:
        origin.stop()
    record(
        "cdn redirect loops",
        2,
        f"self-redirect and endless chain: refused with 502 after {upstream.MAX_REDIRECTS} "
        "hops, no retry",
    )
