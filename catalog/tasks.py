"""Celery tasks of the catalog: title indexes kept fresh in Redis, episodes probed, watched
series checked for new releases."""

from __future__ import annotations

import logging

from celery import shared_task

from catalog import index, probe
from catalog.identity import EpisodeIdentity
from catalog.sites.base import SiteError

log = logging.getLogger(__name__)


@shared_task(name="catalog.tasks.refresh_title_index")
def refresh_title_index(site: str, force: bool = False) -> str:
    """Fetch `site`'s title index into the cache unless it is fresh (or `force`)."""
    try:
        meta = index.refresh_site(site, force=force)
    except SiteError as exc:  # the site's breaker logged it; the old index keeps serving
        return f"{site}: not refreshed: {exc}"
    finally:
        index.refresh_done(site)
    if meta is None:
        return f"{site}: another process is fetching the index"
    return f"{site}: {meta.count} titles"


@shared_task(name="catalog.tasks.refresh_stale_title_indexes", ignore_result=True)
def refresh_stale_title_indexes() -> list[str]:
    """Queue a refresh for every enabled site whose index is stale or missing (beat)."""
    queued = [site for site in index.stale_sites() if index.enqueue_refresh(site)]
    if queued:
        log.info("title indexes queued for refresh: %s", ", ".join(queued))
    return queued


QUEUED_PROBE_SECONDS = 120


def probe_queued_key(identity: EpisodeIdentity) -> str:
    i = identity
    return f"anibridge:probe-queued:{i.site}:{i.slug}:{i.season}:{i.episode}:{i.language}"


def enqueue_probe(identity: EpisodeIdentity) -> bool:
    """Queue one probe per episode and language (not one per search that wants it)."""
    from anibridge_site.redis_client import get_redis

    if not get_redis().set(probe_queued_key(identity), "1", nx=True, ex=QUEUED_PROBE_SECONDS):
        return False
    i = identity
    probe_availability.delay(i.site, i.slug, i.season, i.episode, i.language)
    return True


@shared_task(name="catalog.tasks.probe_availability", ignore_result=True)
def probe_availability(
    site: str, slug: str, season: int, episode: int, language: str
) -> bool | None:
    """Probe an episode for Torznab (which waits for the cached result, not this task's)."""
    from anibridge_site.redis_client import get_redis

    identity = EpisodeIdentity(site, slug, season, episode, language)
    try:
        row = probe.availability(identity)
    finally:
        get_redis().delete(probe_queued_key(identity))
    return None if row is None else row.available


@shared_task(name="catalog.tasks.check_watched_series", ignore_result=True)
def check_watched_series(now: str | None = None) -> int:
    """Check the watched series that are due (beat, every minute); `now` (ISO 8601)
    replaces the clock, for tests that move time on."""
    from datetime import datetime

    from catalog import watcher

    return watcher.check_due(datetime.fromisoformat(now) if now else None)


@shared_task(name="catalog.tasks.check_watched_series_now", ignore_result=True)
def check_watched_series_now(pk: int) -> None:
    """Check one watched series at once (admin "check now", the API's `check`)."""
    from catalog import watcher

    watcher.check_now(pk)


def enqueue_check(pk: int) -> None:
    """Queue a check of one watched series once the current transaction commits."""
    from django.db import transaction

    transaction.on_commit(lambda: check_watched_series_now.delay(pk))


@shared_task(name="catalog.tasks.check_public_ip", ignore_result=True)
def check_public_ip() -> str:
    """Record the public IP our traffic leaves from (beat, PUBLIC_IP_CHECK_ENABLED)."""
    from catalog import public_ip

    try:
        status = public_ip.check()
    except public_ip.CheckFailed as exc:
        log.warning("%s", exc)
        return str(exc)
    return f"{status.address}{' (changed)' if status.changed else ''}"


@shared_task(name="catalog.tasks.check_megakino_domain", ignore_result=True)
def check_megakino_domain() -> str:
    """Follow Megakino to its current domain (beat, MEGAKINO_DOMAIN_CHECK_INTERVAL_MIN)."""
    from catalog.sites import megakino_domain

    return megakino_domain.check()
