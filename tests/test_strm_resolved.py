"""strm.resolved: cache -> mapping -> resolver, expiry, and one re-resolve at a time
(STRM-PROXY.md required behaviour 2 and the "no stampede" half of 5)."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import timedelta

import pytest
from django.core.cache import cache as django_cache
from django.db import connection
from django.utils import timezone

from anibridge_site.redis_client import get_redis
from catalog.identity import EpisodeIdentity
from catalog.streams import ResolveError
from strm import cache, resolved
from strm.models import StrmUrlMapping
from tests.fakeweb import FakeWeb
from tests.strm_helpers import use_proxy_config

KAIJU = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "VOE")
# Only VOE hosts it: when VOE fails, resolving fails.
MOONLIT = EpisodeIdentity("aniworld.to", "moonlit-blade", 1, 1, "German Dub")


@pytest.fixture
def web(fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch) -> FakeWeb:
    use_proxy_config(monkeypatch, strm_proxy_upstream_allowlist=("127.0.0.1",))
    return fake_sites


def resolves(web: FakeWeb) -> int:
    return web.counts.total("voe", "/e/*")


@pytest.mark.django_db
def test_reads_the_cache_then_the_mapping_then_resolves(web: FakeWeb) -> None:
    StrmUrlMapping.objects.create(
        site=KAIJU.site,
        slug=KAIJU.slug,
        season=1,
        episode=1,
        language="German Dub",
        provider="VOE",
        strm_path="/media/Kaiju Academy/S01E01.strm",
    )
    first = resolved.current(KAIJU)
    assert resolves(web) == 1
    assert first.url.startswith(web.urls["cdn"]) and first.headers["User-Agent"]
    row = StrmUrlMapping.objects.get(slug=KAIJU.slug)
    assert (row.resolved_url, row.provider_used) == (first.url, "VOE")
    assert row.resolved_headers == first.headers and row.resolved_at == first.resolved_at
    assert row.strm_path == "/media/Kaiju Academy/S01E01.strm"  # the writer's field survives

    cache.forget_all()  # what this process remembers; as in another process
    assert resolved.current(KAIJU) == first  # from Redis
    get_redis().flushall()
    cache.forget_all()
    assert resolved.current(KAIJU) == first  # from the row, and back into Redis
    assert django_cache.get(cache.identity_key(KAIJU))["url"] == first.url
    assert resolves(web) == 1


def redis_reads() -> int:
    stats = get_redis().info("commandstats")
    return int(stats.get("cmdstat_get", {}).get("calls", 0))


@pytest.mark.django_db
def test_a_playback_reads_its_resolution_from_redis_once_per_few_seconds(
    web: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = resolved.current(KAIJU)
    before = redis_reads()
    assert all(resolved.current(KAIJU) == first for _ in range(5))
    assert redis_reads() == before  # remembered in this process
    monkeypatch.setattr(cache, "MEMO_SECONDS", 0.05)
    cache.forget_all()
    resolved.current(KAIJU)
    time.sleep(0.1)
    assert resolved.current(KAIJU) == first
    assert redis_reads() == before + 2  # once to remember, once after it expired


@pytest.mark.django_db
def test_refresh_failure_and_invalidate_forget_the_remembered_resolution(web: FakeWeb) -> None:
    stale = resolved.current(KAIJU)
    fresh = resolved.refresh(KAIJU, stale=stale)
    assert resolved.current(KAIJU) == fresh
    # Another process re-resolved meanwhile; a failure here makes us read what it stored.
    newer = dataclasses.replace(fresh, url=fresh.url + "&newer", resolved_at=timezone.now())
    django_cache.set(cache.identity_key(KAIJU), newer.to_cache())
    assert resolved.current(KAIJU) == fresh
    resolved.record_failure(KAIJU, 403, "cdn answered 403")
    assert resolved.current(KAIJU) == newer
    resolved.invalidate(KAIJU)
    assert resolved.current(KAIJU).version not in (fresh.version, newer.version)
    assert resolves(web) == 3


@pytest.mark.django_db
def test_cache_ttl_expires_redis_and_the_mapping_alike(
    web: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = resolved.current(KAIJU)
    assert get_redis().ttl(django_cache.make_key(cache.identity_key(KAIJU))) == -1  # 0 = forever
    use_proxy_config(monkeypatch, strm_proxy_cache_ttl_seconds=60)
    get_redis().flushall()
    cache.forget_all()  # remembered for seconds only: the TTL is minutes
    StrmUrlMapping.objects.update(resolved_at=timezone.now() - timedelta(minutes=2))
    second = resolved.current(KAIJU)
    assert second.url != first.url and resolves(web) == 2
    assert 0 < get_redis().ttl(django_cache.make_key(cache.identity_key(KAIJU))) <= 60


@pytest.mark.django_db
def test_refresh_replaces_a_stale_resolution_once(web: FakeWeb) -> None:
    stale = resolved.current(KAIJU)
    fresh = resolved.refresh(KAIJU, stale=stale)
    assert fresh.version != stale.version and resolves(web) == 2
    # A second request that failed on the same stale resolution gets the fresh one.
    assert resolved.refresh(KAIJU, stale=stale) == fresh
    assert resolves(web) == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_share_one_resolve(web: FakeWeb) -> None:
    stale = resolved.current(KAIJU)
    web.hoster("VOE").stall_next("/e/*", seconds=0.5)  # keep the first resolve busy
    results: list[str] = []

    def refresh() -> None:
        try:
            results.append(resolved.refresh(KAIJU, stale=stale).version)
        finally:
            connection.close()

    threads = [threading.Thread(target=refresh) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 6 and len(set(results)) == 1
    assert resolves(web) == 2


@pytest.mark.django_db
def test_a_failed_resolve_is_remembered_briefly_then_retried_after_purge(web: FakeWeb) -> None:
    web.hoster("VOE").fail_next("/e/*", status=404, count=10)
    with pytest.raises(ResolveError, match="VOE"):
        resolved.current(MOONLIT)
    attempts = resolves(web)
    with pytest.raises(ResolveError, match="VOE"):
        resolved.current(MOONLIT)  # no second round of hoster requests
    assert resolves(web) == attempts
    web.hoster("VOE").clear_faults()
    StrmUrlMapping.objects.create(
        site=MOONLIT.site, slug=MOONLIT.slug, season=1, episode=1, language="German Dub"
    )
    cache.purge(StrmUrlMapping.objects.get(slug=MOONLIT.slug))  # the admin action
    assert resolved.current(MOONLIT).url.startswith(web.urls["cdn"])


@pytest.mark.django_db
def test_failures_and_recovery_are_recorded_on_the_mapping(web: FakeWeb) -> None:
    resolved.current(KAIJU)
    resolved.record_failure(KAIJU, 403, "cdn answered 403")
    resolved.record_failure(KAIJU, 410, "cdn answered 410")
    row = StrmUrlMapping.objects.get(slug=KAIJU.slug)
    assert (row.last_status, row.fail_count, row.last_error) == (410, 2, "cdn answered 410")
    assert row.last_checked_at is not None
    resolved.record_success(KAIJU, 206)
    row.refresh_from_db()
    assert (row.last_status, row.fail_count, row.last_error) == (206, 0, "")


@pytest.mark.django_db
def test_invalidate_forgets_the_url_everywhere(web: FakeWeb) -> None:
    resolved.current(KAIJU)
    resolved.invalidate(KAIJU)
    assert django_cache.get(cache.identity_key(KAIJU)) is None
    assert StrmUrlMapping.objects.get(slug=KAIJU.slug).resolved_url == ""
    resolved.current(KAIJU)
    assert resolves(web) == 2


@pytest.mark.django_db
def test_a_re_resolve_runs_once_per_window_even_when_it_succeeds(
    web: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = resolved.current(KAIJU)
    fresh = resolved.refresh(KAIJU, stale=stale)
    assert resolves(web) == 2
    # Its URL fails upstream too: requests failing on it get it back, no new resolve,
    # also in other processes (the marker is in Redis).
    for _ in range(5):
        cache.forget_all()
        assert resolved.refresh(KAIJU, stale=fresh) == fresh
    assert resolves(web) == 2
    # Once a request succeeded on it, its expiry in turn is re-resolved at once.
    resolved.record_success(KAIJU, 206)
    newer = resolved.refresh(KAIJU, stale=fresh)
    assert newer.version != fresh.version and resolves(web) == 3
    # And the window ends by itself.
    monkeypatch.setattr(resolved, "RESOLVE_WINDOW_SECONDS", 1)
    resolved.record_success(KAIJU, 206)
    newest = resolved.refresh(KAIJU, stale=newer)
    assert resolved.refresh(KAIJU, stale=newest) == newest and resolves(web) == 4
    time.sleep(1.2)
    assert resolved.refresh(KAIJU, stale=newest).version != newest.version
    assert resolves(web) == 5
