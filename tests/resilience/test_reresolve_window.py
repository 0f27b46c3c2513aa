"""Re-resolve amplification, through the proxy (gunicorn, 2 gevent workers): many requests
failing on one segment must not each fetch the episode page and the hoster page.

One re-resolve per episode per window (strm.resolved.RESOLVE_WINDOW_SECONDS), successful
or not, shared by both worker processes through Redis. Counted at the fake site and
the fake hoster.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from catalog.identity import EpisodeIdentity
from strm import resolved
from strm.stream_urls import stream_url
from tests.fakeweb import FakeWeb
from tests.resilience.record import record
from tests.resilience.stack import WebServer, fast_proxy_web, get, hls_uris
from tests.strm_helpers import use_proxy_config

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HLS = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "VOE")
SEGMENT = "hls/ts/360p/seg1.ts"
EPISODE_PAGE = "/anime/stream/kaiju-academy/staffel-1/episode-1*"
REQUESTS = 20


@pytest.fixture(scope="module")
def server(
    django_db_setup: None, fakeweb_session: FakeWeb, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebServer]:
    log_dir = tmp_path_factory.mktemp("re-resolve")
    with fast_proxy_web(log_dir, fakeweb_session.app_env(), workers=2) as web:
        yield web


@pytest.fixture
def fake(fakeweb: FakeWeb, server: WebServer, monkeypatch: pytest.MonkeyPatch) -> FakeWeb:
    use_proxy_config(monkeypatch, strm_public_base_url=server.base_url)
    return fakeweb


def _segment_url() -> str:
    master = get(stream_url(HLS))
    assert master.status == 200, master
    variant = get(hls_uris(master.body)[-1])
    assert variant.status == 200, variant
    return hls_uris(variant.body)[1]


def _site_and_hoster(fake: FakeWeb) -> tuple[int, int]:
    return fake.counts.total("aniworld", EPISODE_PAGE), fake.counts.total("voe", "/e/*")


def test_failing_requests_for_one_segment_re_resolve_once_per_window(fake: FakeWeb) -> None:
    url = _segment_url()
    expected = (fake.media.root / SEGMENT).read_bytes()

    # The CDN refuses the segment whatever the token: every request fails with 403.
    fake.cdn.fail_next(SEGMENT, status=403, count=10_000)
    before = _site_and_hoster(fake)
    answers = [get(url) for _ in range(REQUESTS)]  # new connections: both workers serve
    after = _site_and_hoster(fake)
    assert [a.status for a in answers] == [502] * REQUESTS
    assert max(a.seconds for a in answers) < 3
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1), (before, after)

    # The re-resolve itself failing: the site is down too.
    site = fake.servers["aniworld"]
    site.fail_next(EPISODE_PAGE, status=503, count=10_000)
    _window_passed()
    before = _site_and_hoster(fake)
    failing = [get(url) for _ in range(REQUESTS)]
    after = _site_and_hoster(fake)
    assert [a.status for a in failing] == [502] * REQUESTS
    site_attempts = after[0] - before[0]
    assert 1 <= site_attempts <= 3, site_attempts  # one resolve, with its own retries
    assert after[1] == before[1]

    # Once the CDN and the site recover, playback goes on.
    fake.cdn.clear_faults()
    site.clear_faults()
    _window_passed()
    recovered = get(url)
    assert (recovered.status, recovered.body) == (200, expected)
    record(
        "re-resolve amplification",
        REQUESTS * 2,
        f"{REQUESTS} requests failing on one segment (2 web workers): 1 episode-page and "
        f"1 hoster-page fetch; with the site down too: 1 resolve attempt "
        f"({site_attempts} episode-page request(s)) for {REQUESTS} more; window "
        f"{resolved.RESOLVE_WINDOW_SECONDS} s, shared through Redis; playback recovers",
    )


def _window_passed() -> None:
    """Let the next failure re-resolve, as RESOLVE_WINDOW_SECONDS passing would."""
    from django.core.cache import cache as django_cache

    from strm import cache

    django_cache.delete_many([cache.window_key(HLS), cache.failure_key(HLS)])
