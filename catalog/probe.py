"""Is an episode available, in which quality, from which hoster: probed, cached in
`EpisodeAvailability`.

- `probe_episode` asks the site now and stores the answer, including "unavailable"
  (with the reason in `error`). It also stores "unavailable" for the site's other
  languages the episode page does not offer: the same page load proves that.
- `availability` answers from the cache while fresh (AVAILABILITY_TTL_HOURS), else
  probes. One probe per episode and language at a time across all processes (a lock
  in Redis): a caller that finds a probe running waits for it and reads its result,
  so Sonarr firing many searches at once costs one probe per episode.
- `probe_season` probes a season's episodes in parallel with a deadline.

A stream is read the way the STRM proxy reads it (catalog.stream_reader, through
catalog.egress): a hoster is skipped only when the proxy could not play its stream.

A failing site (SiteError: unreachable, HTTP 5xx) is not cached: it says nothing
about the episode. `availability` then answers None for a short while instead of
hammering the site (see FAILURE_MEMORY_SECONDS).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connections
from django.utils import timezone
from redis.exceptions import LockError

from anibridge_site.redis_client import get_redis
from catalog.identity import EpisodeIdentity
from catalog.media_info import StreamInfo
from catalog.models import EpisodeAvailability
from catalog.resolve import resolve_from_links
from catalog.sites import get_site
from catalog.sites.base import HosterLinks, NotOnSite, Site, SiteError
from catalog.sites.packaged import episode_label
from catalog.stream_reader import Unplayable, read_stream
from catalog.streams import LanguageNotOffered, NoHosterWorked

log = logging.getLogger(__name__)

# Longer than one probe can take (page, redirect, extractor, playlist; 30 s timeouts):
# a crashed prober's lock expires after this, and waiters give up after it.
PROBE_LOCK_SECONDS = 180
# After a SiteError, waiters and new callers answer None for this long.
FAILURE_MEMORY_SECONDS = 60
DEFAULT_SEASON_DEADLINE_SECONDS = 30.0
_KEY_PREFIX = "anibridge:probe"


@dataclass(frozen=True)
class ProbeResult:
    available: bool
    provider: str = ""
    info: StreamInfo = field(default_factory=StreamInfo)
    error: str = ""


# -- probing ----------------------------------------------------------------------------


def probe_episode(identity: EpisodeIdentity) -> EpisodeAvailability:
    """Probe the episode now (no cache, no lock) and store the result.

    Raises SiteError when the site itself failed; nothing is stored then."""
    site = get_site(identity.site)
    links: HosterLinks | None = None
    try:
        links = site.hoster_links(identity)
        result = _probe_links(site, identity, links)
    except (LanguageNotOffered, NoHosterWorked, NotOnSite) as exc:
        result = ProbeResult(available=False, error=str(exc))
    log.info("%s: probed: %s", identity, _describe(result))
    row = _store(identity, result)
    if links is not None:
        _store_languages_not_offered(site, identity, links)
    return row


def _probe_links(site: Site, identity: EpisodeIdentity, links: HosterLinks) -> ProbeResult:
    """The first hoster (in resolve order) whose stream the proxy could play."""
    failed: list[tuple[str, str]] = []
    while True:
        try:
            stream = resolve_from_links(site, identity, links, exclude=[p for p, _ in failed])
        except NoHosterWorked as exc:
            raise NoHosterWorked(str(identity), failed + exc.attempts) from None
        try:
            info = read_stream(stream)
        except Unplayable as exc:
            log.warning(
                "%s: %s resolved but its stream is unplayable: %s", identity, stream.provider, exc
            )
            failed.append((stream.provider, f"stream unplayable: {exc}"))
            continue
        return ProbeResult(True, stream.provider, info)


def _describe(result: ProbeResult) -> str:
    if not result.available:
        return f"unavailable ({result.error})"
    quality = f"{result.info.height}p" if result.info.height else "unknown height"
    return f"available from {result.provider}, {quality}"


# -- the cache ----------------------------------------------------------------------------


def _store(identity: EpisodeIdentity, result: ProbeResult) -> EpisodeAvailability:
    row, _ = EpisodeAvailability.objects.update_or_create(
        **EpisodeAvailability.identity_fields(identity),
        defaults={
            "available": result.available,
            "provider": result.provider[:32],
            "width": result.info.width,
            "height": result.info.height,
            "bandwidth": result.info.bandwidth,
            "codecs": result.info.codecs[:200],
            "vcodec": result.info.vcodec[:32],
            "error": result.error,
            "checked_at": timezone.now(),
        },
    )
    return row


def _store_languages_not_offered(site: Site, identity: EpisodeIdentity, links: HosterLinks) -> None:
    offered = [lang for lang in site.languages if links.get(lang)]
    episode = episode_label(identity.site, identity.slug, identity.season, identity.episode)
    for language in site.languages:
        if language == identity.language or language in offered:
            continue
        error = str(LanguageNotOffered(episode, language, offered))
        other = EpisodeIdentity(
            identity.site, identity.slug, identity.season, identity.episode, language
        )
        _store(other, ProbeResult(available=False, error=error))


def cached_availability(
    identity: EpisodeIdentity, max_age_hours: float | None = None
) -> EpisodeAvailability | None:
    """The stored result if younger than `max_age_hours` (default AVAILABILITY_TTL_HOURS)."""
    ttl = settings.CONFIG.availability_ttl_hours if max_age_hours is None else max_age_hours
    row = EpisodeAvailability.objects.filter(
        **EpisodeAvailability.identity_fields(identity)
    ).first()
    return row if row is not None and row.is_fresh(ttl) else None


def availability(
    identity: EpisodeIdentity, max_age_hours: float | None = None
) -> EpisodeAvailability | None:
    """The cached result while fresh, else a probe (one at a time per episode, see module
    doc). None when the site failed recently or another probe took too long."""
    row = cached_availability(identity, max_age_hours)
    if row is not None:
        return row
    redis = get_redis()
    key = _key(identity)
    if _recent_failure(redis, key):
        return None
    lock = redis.lock(
        f"{key}:lock",
        timeout=PROBE_LOCK_SECONDS,
        sleep=0.05,
        blocking_timeout=PROBE_LOCK_SECONDS,
    )
    if not lock.acquire():
        log.warning("%s: gave up waiting for another process's probe", identity)
        return cached_availability(identity, max_age_hours)
    try:
        # The probe we waited for (if any) has answered by now.
        row = cached_availability(identity, max_age_hours)
        if row is not None or _recent_failure(redis, key):
            return row
        try:
            return probe_episode(identity)
        except SiteError as exc:
            log.warning("%s: not probed: %s", identity, exc)
            redis.set(f"{key}:failed", str(exc), ex=FAILURE_MEMORY_SECONDS)
            return None
    finally:
        try:
            lock.release()
        except LockError:
            log.warning("%s: the probe outlived its lock (%ss)", identity, PROBE_LOCK_SECONDS)


def _key(identity: EpisodeIdentity) -> str:
    # Per episode and language: the preferred hoster does not change the answer.
    i = identity
    return f"{_KEY_PREFIX}:{i.site}:{i.slug}:{i.season}:{i.episode}:{i.language}"


def _recent_failure(redis: Any, key: str) -> bool:
    return bool(redis.exists(f"{key}:failed"))


def recently_failed(identities: Iterable[EpisodeIdentity]) -> set[EpisodeIdentity]:
    """The episodes whose probe the site failed less than FAILURE_MEMORY_SECONDS ago:
    waiting for their result is pointless until then."""
    wanted = list(identities)
    if not wanted:
        return set()
    with get_redis().pipeline(transaction=False) as pipe:
        for identity in wanted:
            pipe.exists(f"{_key(identity)}:failed")
        flags = pipe.execute()
    return {identity for identity, flag in zip(wanted, flags, strict=True) if flag}


# -- seasons --------------------------------------------------------------------------------


def probe_season(
    site: str,
    slug: str,
    season: int,
    language: str,
    max_workers: int = 4,
    deadline_seconds: float = DEFAULT_SEASON_DEADLINE_SECONDS,
    episodes: Iterable[int] | None = None,
) -> dict[int, EpisodeAvailability]:
    """Availability of a season's episodes (all the site lists, or `episodes`), probed
    `max_workers` at a time; cached answers cost nothing.

    Returns what is known when all finished or `deadline_seconds` passed, by episode
    number. At the deadline, probes already running finish in the background and land
    in the cache (the next search finds them); those not yet started are dropped and
    left for later. Episodes whose site failed are missing from the result."""
    numbers = list(episodes) if episodes is not None else _episode_numbers(site, slug, season)
    identities = {n: EpisodeIdentity(site, slug, season, n, language) for n in numbers}
    results: dict[int, EpisodeAvailability] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="probe")
    futures = {pool.submit(_availability_in_thread, i): n for n, i in identities.items()}
    try:
        for future in as_completed(futures, timeout=deadline_seconds):
            row = _result(future, identities[futures[future]])
            if row is not None:
                results[futures[future]] = row
    except FuturesTimeout:
        log.info(
            "%s: %d of %d episodes known at the %gs deadline; running probes finish "
            "in the background",
            episode_label(site, slug, season),
            len(results),
            len(identities),
            deadline_seconds,
        )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return dict(sorted(results.items()))


def _episode_numbers(site: str, slug: str, season: int) -> list[int]:
    return list(range(1, get_site(site).seasons(slug).get(season, 0) + 1))


def _availability_in_thread(identity: EpisodeIdentity) -> EpisodeAvailability | None:
    try:
        return availability(identity)
    finally:
        # Pool threads are not request threads: nothing else closes their connections.
        connections.close_all()


def _result(future: Any, identity: EpisodeIdentity) -> EpisodeAvailability | None:
    try:
        row: EpisodeAvailability | None = future.result()
    except Exception:
        log.exception("%s: probing failed", identity)
        return None
    return row
