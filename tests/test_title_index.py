"""The title index: fetched once, shared through Redis, refreshed in the background.

Requests to the fake sites' index pages are counted: AniWorld's alphabet page, s.to's
alphabet page and Megakino's sitemap index (one per fetch of each site's index).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from pytest_django.fixtures import Settings

from anibridge_site.redis_client import get_redis
from catalog import index
from catalog.tasks import refresh_stale_title_indexes, refresh_title_index
from catalog.titles import TitleIndex
from tests.environment import free_port
from tests.fakeweb import catalog_data as data
from tests.fakeweb.web import FakeWeb
from tests.processes import celery_worker, wait_until

INDEX_PAGES = {"aniworld": "/animes-alphabet", "sto": "/serien", "megakino": "/sitemap.xml"}
SITE_SERVERS = {"aniworld.to": "aniworld", "s.to": "sto", "megakino": "megakino"}


@pytest.fixture
def sites(fake_sites: FakeWeb) -> Iterator[FakeWeb]:
    """The fake sites, and this process starting without an index of its own."""
    index.forget_process_index()
    yield fake_sites
    index.forget_process_index()


def index_fetches(web: FakeWeb) -> dict[str, int]:
    return {server: web.counts.count(server, path) for server, path in INDEX_PAGES.items()}


ONE_EACH = {"aniworld": 1, "sto": 1, "megakino": 1}
NONE = {"aniworld": 0, "sto": 0, "megakino": 0}


def queued_tasks() -> list[str]:
    """Names of the Celery tasks waiting in the "default" queue (Redis broker list)."""
    return [json.loads(raw)["headers"]["task"] for raw in get_redis().lrange("default", 0, -1)]


def set_config(monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
    monkeypatch.setattr(settings, "CONFIG", dataclasses.replace(settings.CONFIG, **changes))


def run_together(n: int, call: Callable[[], TitleIndex]) -> list[TitleIndex]:
    """`call` in n threads released at the same moment; their results."""
    barrier = threading.Barrier(n)
    results: list[TitleIndex] = []
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(call())
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    return results


def test_cold_start_fetches_each_site_once_however_many_requests_come(sites: FakeWeb) -> None:
    results = run_together(8, index.title_index)

    assert index_fetches(sites) == ONE_EACH
    assert len(results) == 8
    for found in results:
        match = found.match("Kaiju Academy")
        assert match is not None and match.slug == "kaiju-academy"


def test_a_cached_index_is_not_fetched_again(sites: FakeWeb) -> None:
    first = index.title_index()
    assert index.title_index() is first  # same cached versions: the process index as is

    index.forget_process_index()  # like another web process: builds from Redis
    other = index.title_index()

    assert index_fetches(sites) == ONE_EACH
    assert other is not first
    match = other.match("Der stille Hafen")
    assert match is not None and (match.site, match.slug) == ("s.to", "the-quiet-harbor")


def test_a_stale_index_serves_at_once_and_is_refreshed_in_the_background(
    sites: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = index.title_index()
    set_config(monkeypatch, aniworld_titles_refresh_hours=0.1 / 3600)  # stale after 0.1 s
    time.sleep(0.2)
    sites.reset()

    assert index.title_index() is first
    assert index.title_index() is first
    assert index_fetches(sites) == NONE
    # Queued once for both requests, and only for the stale site.
    assert queued_tasks() == ["catalog.tasks.refresh_title_index"]

    # The worker's part, run here.
    assert refresh_title_index("aniworld.to") == f"aniworld.to: {len(data.ANIME)} titles"
    set_config(monkeypatch, aniworld_titles_refresh_hours=24.0)
    refreshed = index.title_index()

    assert index_fetches(sites) == {"aniworld": 1, "sto": 0, "megakino": 0}
    assert refreshed is not first  # rebuilt from the new cached version, not fetched


def test_the_refresh_task_skips_a_fresh_index_unless_forced(sites: FakeWeb) -> None:
    index.title_index()
    sites.reset()

    listed = sum(1 for series in data.STO_SERIES if series.listed)
    assert refresh_title_index("s.to") == f"s.to: {listed} titles"
    assert index_fetches(sites) == NONE
    refresh_title_index("s.to", force=True)
    assert index_fetches(sites) == {"aniworld": 0, "sto": 1, "megakino": 0}


def test_refresh_hours_zero_never_makes_an_index_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    old = index.IndexMeta("v1", time.time() - 30 * 24 * 3600, 10)
    assert index.is_stale("aniworld.to", old)
    set_config(monkeypatch, aniworld_titles_refresh_hours=0.0)
    assert not index.is_stale("aniworld.to", old)
    assert not index.is_stale("s.to", index.IndexMeta("v2", time.time() - 3600, 10))


def test_after_a_redis_flush_the_index_is_fetched_once_again(sites: FakeWeb) -> None:
    index.title_index()
    get_redis().flushall()
    sites.reset()

    run_together(4, index.title_index)

    assert index_fetches(sites) == ONE_EACH


def test_the_beat_check_queues_each_missing_or_stale_index_once(sites: FakeWeb) -> None:
    assert refresh_stale_title_indexes() == ["aniworld.to", "s.to", "megakino"]
    assert refresh_stale_title_indexes() == []  # already queued
    assert queued_tasks() == ["catalog.tasks.refresh_title_index"] * 3

    for site in ("aniworld.to", "s.to", "megakino"):
        refresh_title_index(site)
    assert index_fetches(sites) == ONE_EACH
    assert refresh_stale_title_indexes() == []  # fresh now


def test_a_site_that_fails_at_cold_start_is_left_out_and_not_retried_at_once(
    sites: FakeWeb,
) -> None:
    sites.servers["sto"].fail_next("/serien", status=500)

    found = index.title_index()
    assert found.match("Kaiju Academy") is not None
    assert found.match("Der stille Hafen") is None
    index.title_index()

    assert index_fetches(sites) == ONE_EACH  # the failed site waits out its back-off


@pytest.fixture
def redis_down(settings: Settings) -> Iterator[None]:
    """The cache and the Redis client pointed at a port nobody listens on."""
    dead = f"redis://127.0.0.1:{free_port()}/0"
    before = settings.CONFIG
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": dead,
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    settings.CONFIG = dataclasses.replace(before, redis_url=dead)
    get_redis.cache_clear()
    try:
        yield
    finally:
        settings.CONFIG = before
        get_redis.cache_clear()


def test_without_redis_the_process_index_keeps_serving(sites: FakeWeb, request: Any) -> None:
    built = index.title_index()
    sites.reset()
    request.getfixturevalue("redis_down")

    assert index.title_index() is built
    assert index_fetches(sites) == NONE


def test_without_redis_a_process_without_an_index_fetches_the_sites(
    sites: FakeWeb, request: Any
) -> None:
    request.getfixturevalue("redis_down")

    found = index.title_index()
    assert found.match("Tsukiyo no Yaiba") is not None
    assert index.title_index() is found
    assert index_fetches(sites) == ONE_EACH


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_refreshes_a_queued_index(
    sites: FakeWeb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in sites.app_env().items():
        monkeypatch.setenv(name, value)  # the worker reads its settings from the environment
    with celery_worker(tmp_path, queues="default", concurrency=1):
        assert index.enqueue_refresh("megakino")
        meta = wait_until(lambda: index.cached_meta("megakino"), 30, "the megakino index")

    assert meta.count == len(data.MEGAKINO)
    assert index_fetches(sites) == {"aniworld": 0, "sto": 0, "megakino": 1}
    found = index.title_index()  # the other sites cold-start; Megakino comes from Redis
    match = found.match("Glass Rivers")
    assert match is not None and match.slug == "202-glass-rivers"
    assert index_fetches(sites) == ONE_EACH
