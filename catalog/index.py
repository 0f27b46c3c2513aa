"""The title index of every enabled site: fetched rarely, kept in Redis, matched in process.

Each site's entries live in the Django cache (Redis) with a small meta record (version,
fetch time). A search never waits for a site when a cached index exists: a stale
index keeps serving while a Celery task (`catalog.tasks.refresh_title_index`) fetches
a new one, enqueued once per staleness thanks to a Redis marker. Only a cold start (no
cached index: fresh install, Redis flushed) fetches during a request, under a Redis
lock, so concurrent requests in all processes wait for one fetch.

Every process keeps one `TitleIndex` over all enabled sites, built from the cached
entries and rebuilt when a site's cached version changes (~2 s for 20k titles), so a
request costs one Redis round trip for the versions. Without Redis, the process index
keeps serving; a process that has none fetches the sites directly.

A search the index misses may be for a series the site added today: `refresh_on_miss`
queues a forced refresh of the sites searched, at most once per
TITLES_REFRESH_ON_MISS_MINUTES per site across all processes, and `wait_for_refresh`
lets the search wait for it until its deadline.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import LockError, RedisError

from anibridge_site.redis_client import get_redis
from catalog import breaker, registry, snapshot
from catalog.memo import TtlMemo
from catalog.sites.base import SiteError
from catalog.titles import TitleEntry, TitleIndex

__all__ = [
    "IndexMeta",
    "cached_meta",
    "enqueue_refresh",
    "forget_process_index",
    "is_stale",
    "refresh_done",
    "refresh_hours",
    "refresh_on_miss",
    "refresh_site",
    "stale_sites",
    "title_index",
    "wait_for_refresh",
]

log = logging.getLogger(__name__)

# The fetch lock expires by itself should its holder die; no site takes this long.
FETCH_LOCK_SECONDS = 300
# A request waits this long for another process's cold-start fetch, then goes without.
COLD_START_WAIT_SECONDS = 60
# A queued refresh that has not finished in this time (worker down) may be queued again.
REFRESH_QUEUED_SECONDS = 15 * 60
# After a failed cold start, requests skip the site this long instead of each retrying.
FAILED_FETCH_BACKOFF_SECONDS = 60
# How often a search waiting for a refresh looks at the cached version.
REFRESH_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class IndexMeta:
    """What is known about a site's cached index without loading it."""

    version: str
    fetched_at: float  # epoch seconds
    count: int


# Cached entries are plain tuples, so a change to the entry classes never makes an old
# cache unreadable: (slug, title, alternatives, year).
_Row = tuple[str, str, tuple[str, ...], int | None]


def _cache_key(site: str, part: str) -> str:
    """A Django cache key of the site's index: "entries", "meta" or "failed"."""
    return f"catalog:titles:{site}:{part}"


def _redis_key(site: str, part: str) -> str:
    """A plain Redis key of the site's index: the "fetch" lock, the "queued" and
    "refreshed-on-miss" markers."""
    return f"anibridge:catalog:titles:{site}:{part}"


# -- staleness --------------------------------------------------------------------------


def refresh_hours(site: str) -> float:
    """The configured refresh interval of `site` in hours; 0 means never automatically."""
    try:
        return registry.info(site).index_refresh_hours(settings.CONFIG)
    except ValueError:
        return 0.0  # a site no longer registered


def is_stale(site: str, meta: IndexMeta, now: float | None = None) -> bool:
    hours = refresh_hours(site)
    if hours <= 0:
        return False
    return (time.time() if now is None else now) - meta.fetched_at >= hours * 3600


# -- the cache --------------------------------------------------------------------------


def _meta_from(raw: Any) -> IndexMeta | None:
    if not isinstance(raw, Mapping):
        return None
    try:
        return IndexMeta(str(raw["version"]), float(raw["fetched_at"]), int(raw["count"]))
    except (KeyError, TypeError, ValueError):
        return None


def cached_meta(site: str) -> IndexMeta | None:
    """The meta record of the site's cached index, None when there is none."""
    return _meta_from(cache.get(_cache_key(site, "meta")))


def _cached_metas(sites: Sequence[str]) -> dict[str, IndexMeta]:
    found = cache.get_many([_cache_key(site, "meta") for site in sites])
    metas = {site: _meta_from(found.get(_cache_key(site, "meta"))) for site in sites}
    return {site: meta for site, meta in metas.items() if meta is not None}


def _cached_rows(site: str) -> list[_Row] | None:
    rows = cache.get(_cache_key(site, "entries"))
    return rows if isinstance(rows, list) else None


def _store(site: str, rows: list[_Row]) -> IndexMeta:
    meta = IndexMeta(uuid.uuid4().hex, time.time(), len(rows))
    # No expiry: a stale index keeps serving until its replacement is stored. Entries
    # first, so a meta record always has its entries.
    cache.set(_cache_key(site, "entries"), rows, None)
    cache.set(_cache_key(site, "meta"), asdict(meta), None)
    return meta


# -- fetching ---------------------------------------------------------------------------


def _fetch_rows(site: str) -> list[_Row]:
    """The site's title index from the site itself (network)."""
    started = time.monotonic()
    # The site refuses an empty index (a changed layout, a challenge page): storing
    # it would blank the index until the next refresh.
    rows: list[_Row] = [
        (e.slug, e.title, tuple(e.alternatives), getattr(e, "year", None))
        for e in snapshot.title_entries(site)  # live, or ANIWORLD/STO_ALPHABET_HTML
    ]
    log.info(
        "title index %s: fetched %d titles in %.1fs", site, len(rows), time.monotonic() - started
    )
    return rows


def refresh_site(site: str, *, force: bool = False) -> IndexMeta | None:
    """Fetch and cache the site's index unless it is fresh (or `force`).

    Returns the meta now cached, or None when another process holds the fetch lock
    (it is fetching the same index). Raises what the site raised.
    """
    lock = get_redis().lock(_redis_key(site, "fetch"), timeout=FETCH_LOCK_SECONDS, blocking=False)
    if not lock.acquire():
        log.info("title index %s: another process is fetching it", site)
        return None
    try:
        meta = cached_meta(site)
        if meta is not None and not force and not is_stale(site, meta):
            return meta
        return _store(site, _fetch_rows(site))
    finally:
        _release(lock)


def _cold_start(site: str) -> IndexMeta | None:
    """Fetch the index during a request because none is cached, once across processes."""
    if cache.get(_cache_key(site, "failed")):
        return None
    lock = get_redis().lock(
        _redis_key(site, "fetch"),
        timeout=FETCH_LOCK_SECONDS,
        blocking_timeout=COLD_START_WAIT_SECONDS,
    )
    if not lock.acquire():
        log.warning("title index %s: still being fetched elsewhere; searching without it", site)
        return cached_meta(site)
    try:
        meta = cached_meta(site)
        if meta is not None:  # another request fetched it while this one waited
            return meta
        log.info("title index %s: none cached, fetching it now (cold start)", site)
        return _store(site, _fetch_rows(site))
    except RedisError:
        raise
    except Exception as exc:
        # A search must answer even when one site is down (the breaker logged why);
        # anything else is a bug of ours, logged with its traceback.
        if isinstance(exc, SiteError):
            log.info("title index %s: cold start failed, searching without it: %s", site, exc)
        else:
            log.exception("title index %s: cold start failed", site)
        cache.set(_cache_key(site, "failed"), True, FAILED_FETCH_BACKOFF_SECONDS)
        return None
    finally:
        _release(lock)


def _release(lock: Any) -> None:
    try:
        lock.release()
    except LockError:
        log.warning("title index fetch lock expired before the fetch finished")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# -- background refresh -----------------------------------------------------------------


def enqueue_refresh(site: str, *, force: bool = False) -> bool:
    """Queue `refresh_title_index(site, force)` unless one is queued already; True if queued."""
    if not get_redis().set(_redis_key(site, "queued"), "1", nx=True, ex=REFRESH_QUEUED_SECONDS):
        return False
    from catalog.tasks import refresh_title_index  # the task module imports this one

    try:
        refresh_title_index.delay(site, force)
    except Exception as exc:
        get_redis().delete(_redis_key(site, "queued"))
        log.warning("title index %s: could not queue a refresh: %s", site, _one_line(exc))
        return False
    log.info("title index %s: refresh queued", site)
    return True


def refresh_done(site: str) -> None:
    """Allow the next refresh of `site` to be queued."""
    get_redis().delete(_redis_key(site, "queued"))


def refresh_on_miss(sites: Sequence[str]) -> dict[str, str | None]:
    """Refresh the indexes of `sites` after a search missed them (see the module doc).

    Returns site -> the cached version before, for the sites whose refresh is now
    under way; {} when every site was refreshed on a miss recently, is cooling down
    (catalog.breaker) or Redis is unavailable."""
    seconds = settings.CONFIG.titles_refresh_on_miss_minutes * 60
    if seconds <= 0:
        return {}
    pending: dict[str, str | None] = {}
    try:
        redis = get_redis()
        for site in sites:
            if breaker.state(site).is_open:
                continue
            if not redis.set(
                _redis_key(site, "refreshed-on-miss"), "1", nx=True, ex=max(1, int(seconds))
            ):
                continue
            meta = cached_meta(site)
            # A refresh already queued (the index went stale) serves as well.
            if enqueue_refresh(site, force=True) or redis.exists(_redis_key(site, "queued")):
                log.info("title index %s: a search missed it; refreshing it now", site)
                pending[site] = meta.version if meta else None
    except RedisError as exc:
        log.info("title index: no refresh after a miss, Redis unavailable (%s)", exc)
    return pending


def wait_for_refresh(pending: Mapping[str, str | None], deadline: float) -> bool:
    """Wait until the refreshes of the `pending` sites (refresh_on_miss) ended, or until
    `deadline` (monotonic); True when at least one stored a new index."""
    waiting = dict(pending)
    arrived = False
    try:
        redis = get_redis()
        while True:
            for site, before in list(waiting.items()):
                if redis.exists(_redis_key(site, "queued")):
                    continue
                # Ended: read the version after the marker (the task stores it first).
                meta = cached_meta(site)
                arrived = arrived or (meta is not None and meta.version != before)
                del waiting[site]
            if not waiting:
                return arrived
            if time.monotonic() + REFRESH_POLL_SECONDS > deadline:
                log.info("title index: refresh of %s not done by the deadline", ", ".join(waiting))
                return arrived
            time.sleep(REFRESH_POLL_SECONDS)  # cooperative under the gevent workers
    except RedisError as exc:
        log.info("title index: stopped waiting for a refresh, Redis unavailable (%s)", exc)
        return arrived


def stale_sites() -> list[str]:
    """Enabled sites whose cached index is stale or missing."""
    sites = list(settings.CONFIG.catalog_sites)
    metas = _cached_metas(sites)
    return [s for s in sites if s not in metas or is_stale(s, metas[s])]


# -- the process index ------------------------------------------------------------------


@dataclass(frozen=True)
class _ProcessIndex:
    versions: dict[str, str]  # site -> cached version the entries came from
    rows: dict[str, list[_Row]]
    index: TitleIndex


_memo: _ProcessIndex | None = None
# Smaller indexes (tests, a fresh install) are not worth pinning garbage for: freezing
# also keeps what is unreachable at that moment for the life of the process.
FREEZE_MIN_TITLES = 1000
_build_lock = threading.Lock()
# Without Redis there is no shared backoff: the sites whose direct fetch failed here lately.
_local_failures: TtlMemo[str, bool] = TtlMemo(FAILED_FETCH_BACKOFF_SECONDS, size=64)


def forget_process_index() -> None:
    """Drop this process's index (tests; a process that must start over)."""
    global _memo
    _memo = None


def title_index() -> TitleIndex:
    """The index over all enabled sites, for matching; see the module doc for freshness."""
    sites = tuple(settings.CONFIG.catalog_sites)
    try:
        metas = _cached_metas(sites)
        for site in sites:
            meta = metas.get(site)
            if meta is None:
                meta = _cold_start(site)
                if meta is not None:
                    metas[site] = meta
            elif is_stale(site, meta):
                enqueue_refresh(site)
        return _current({s: metas[s].version for s in sites if s in metas})
    except RedisError as exc:
        return _without_redis(sites, exc)


def _current(versions: dict[str, str]) -> TitleIndex:
    """The process index for these cached versions, rebuilt if they changed."""
    memo = _memo
    if memo is not None and memo.versions == versions:
        return memo.index
    # One thread rebuilds; the others keep using the old index rather than queue up.
    if not _build_lock.acquire(blocking=memo is None):
        assert memo is not None
        return memo.index
    try:
        memo = _memo
        if memo is not None and memo.versions == versions:
            return memo.index
        rows: dict[str, list[_Row]] = {}
        for site, version in versions.items():
            if memo is not None and memo.versions.get(site) == version:
                rows[site] = memo.rows[site]
            elif (cached := _cached_rows(site)) is not None:
                rows[site] = cached
            else:
                # Evicted entries under a surviving meta: drop the meta so the next
                # request cold-starts instead of finding nothing forever.
                log.warning("title index %s: entries missing from the cache", site)
                cache.delete(_cache_key(site, "meta"))
        return _install({s: versions[s] for s in rows}, rows).index
    finally:
        _build_lock.release()


def _install(versions: dict[str, str], rows: dict[str, list[_Row]]) -> _ProcessIndex:
    global _memo
    started = time.monotonic()
    index = TitleIndex(_entries(rows))
    memo = _ProcessIndex(versions, rows, index)
    _memo = memo
    if len(index) >= FREEZE_MIN_TITLES:
        # A real index (~100,000 objects per 20,000 titles) lives until the next
        # version: out of the collector's full passes, which would rescan it each time.
        gc.freeze()
    log.info(
        "title index: built over %s (%d titles) in %.1fs",
        ", ".join(rows) or "no site",
        len(index),
        time.monotonic() - started,
    )
    return memo


def _entries(rows: Mapping[str, Iterable[_Row]]) -> list[TitleEntry]:
    return [
        TitleEntry(site, slug, title, alternatives, year)
        for site, site_rows in rows.items()
        for slug, title, alternatives, year in site_rows
    ]


def _without_redis(sites: Sequence[str], exc: RedisError) -> TitleIndex:
    """Serve the process index, fetching sites it lacks directly (uncached, unlocked)."""
    log.warning("title index: Redis unavailable (%s); using this process's index", exc)
    with _build_lock:
        memo = _memo
        if memo is not None and all(site in memo.rows for site in sites):
            return memo.index
        rows = {site: memo.rows[site] for site in sites if memo and site in memo.rows}
        versions = {site: memo.versions[site] for site in rows if memo}
        for site in sites:
            if site in rows or _local_failures.get(site):
                continue
            try:
                rows[site] = _fetch_rows(site)
            except SiteError as fetch_exc:  # the breaker logged it
                _local_failures.put(site, True)
                log.info("title index %s: fetch failed: %s", site, _one_line(fetch_exc))
                continue
            except Exception:
                _local_failures.put(site, True)
                log.exception("title index %s: fetch failed", site)
                continue
            versions[site] = "local-" + uuid.uuid4().hex
        if memo is not None and versions == memo.versions:
            return memo.index
        return _install(versions, rows).index
