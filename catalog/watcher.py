"""Checks watched series for newly available episodes and languages (the RSS feed's news).

Beat runs `check_due` every minute; each watched series is due once per
RSS_REFRESH_MINUTES at its own fixed moment of the interval (a hash of the series), so
checks spread over the interval instead of arriving all at once. A check reads at most
two pages, each through `_site_call`:

- the newest season page and, taking turns, the next season's page (a new season
  appears there) or, on AniWorld, the films page; Megakino serials are one page;
- the first check of a series (or the first after it was not watched for
  RSS_WATCH_DAYS) records what is there already as `baseline`: known, not news. Before
  it, the season sizes come from catalog.numbering (cached by the search that made the
  series watched).

Every episode x language a page flags that has no FirstSeen row yet gets one, stamped
with the check's time (the RSS item's pubDate) and named with Sonarr's numbering as a
search would name it (absolute numbers via SkyHook, films via SkyHook specials). A
stale "not available" probe result for it is dropped and a probe is queued, so the
feed (which offers only what a probe confirmed) and searches answer alike; releases
of the last day that no probe confirmed yet are queued again at each check.

A check that fails (site down, page gone) stores the reason and changes nothing else;
the next check tries again.
"""

from __future__ import annotations

import logging
import math
import time
import zlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import partial, reduce
from operator import or_
from typing import TypeVar

from django.conf import settings
from django.db.models import Exists, Q
from django.utils import timezone
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from anibridge_site.redis_client import get_redis
from catalog import numbering, registry, skyhook, specials
from catalog.models import EpisodeAvailability, FirstSeen, WatchedSeries, confirmed_availability
from catalog.sites import get_site, season_pages
from catalog.sites.base import NotOnSite, SiteError
from catalog.watching import watched

log = logging.getLogger(__name__)

T = TypeVar("T")

MEGAKINO = "megakino"
# The watcher's requests to one site are at least this far apart, across all processes.
SITE_SPACING_SECONDS = 1.0
# A tick stops taking new checks after this long; the rest are due at the next tick.
TICK_SECONDS = 50.0
MAX_DUE_PER_TICK = 500
# Releases younger than this that no probe confirmed yet are probed again at each check.
REPROBE_HOURS = 24

# (season, episode, language) as the site shows it
Seen = tuple[int, int, str]


# -- the tick ------------------------------------------------------------------------------


def check_due(now: datetime | None = None, time_budget: float = TICK_SECONDS) -> int:
    """Check every watched series due at `now` (default: the clock); returns how many."""
    if settings.CONFIG.rss_refresh_minutes == 0:
        return 0
    now = now or timezone.now()
    started = time.monotonic()
    due = list(
        watched(now)
        .filter(next_check_at__lte=now)
        .order_by("next_check_at")
        .values_list("pk", "next_check_at")[:MAX_DUE_PER_TICK]
    )
    checked = 0
    for pk, planned in due:
        if time.monotonic() - started > time_budget:
            break
        if _claim(pk, planned, now):
            check_series(pk, now)
            checked += 1
    return checked


def check_now(pk: int, now: datetime | None = None) -> None:
    """Check one series at once (admin "check now"), whether it is due or not."""
    now = now or timezone.now()
    series = WatchedSeries.objects.filter(pk=pk).first()
    if series is None:
        return
    WatchedSeries.objects.filter(pk=pk).update(next_check_at=next_slot(series, now))
    check_series(pk, now)


def next_slot(series: WatchedSeries, after: datetime) -> datetime:
    """The series' next check: its own moment of the RSS_REFRESH_MINUTES interval after
    `after`, so the series' checks are spread evenly over the interval."""
    interval = max(1, settings.CONFIG.rss_refresh_minutes) * 60
    phase = zlib.crc32(f"{series.site}/{series.slug}".encode()) % interval
    slot = (math.floor((after.timestamp() - phase) / interval) + 1) * interval + phase
    return datetime.fromtimestamp(slot, UTC)


def _claim(pk: int, planned: datetime, now: datetime) -> bool:
    """Move the series to its next slot unless another tick did first: then it is ours."""
    series = WatchedSeries.objects.filter(pk=pk).only("site", "slug").first()
    if series is None:
        return False
    moved = WatchedSeries.objects.filter(pk=pk, next_check_at=planned).update(
        next_check_at=next_slot(series, now)
    )
    return moved == 1


# -- one check -----------------------------------------------------------------------------


def check_series(pk: int, now: datetime) -> int:
    """Check one series and store the outcome; returns the number of new releases.

    Never raises: a failure is the series' `last_error`, and the next check retries."""
    series = WatchedSeries.objects.filter(pk=pk).first()
    if series is None:
        return 0
    sizes = {int(k): int(v) for k, v in (series.season_sizes or {}).items()}
    try:
        seen = _read_pages(series, sizes)
        new = _record(series, sizes, seen, now)
    except NotOnSite as exc:
        # The page said "no such season/series": what we knew of its seasons is void.
        return _failed(series, str(exc), now, sizes)
    except (SiteError, ValueError) as exc:
        return _failed(series, str(exc), now)
    except Exception as exc:
        log.exception("rss: checking %s/%s failed", series.site, series.slug)
        return _failed(series, f"unexpected error: {exc}", now)
    WatchedSeries.objects.filter(pk=pk).update(
        season_sizes={str(k): v for k, v in sorted(sizes.items())},
        checks=series.checks + 1,
        last_checked_at=now,
        last_error="",
        last_error_at=None,
    )
    if new:
        log.info("rss: %s/%s: %d new release(s)", series.site, series.slug, len(new))
    _queue_probes(series, new, now)
    return len(new)


def _failed(
    series: WatchedSeries, reason: str, now: datetime, sizes: dict[int, int] | None = None
) -> int:
    log.warning("rss: %s/%s not checked: %s", series.site, series.slug, reason)
    fields: dict[str, object] = {"last_error": reason[:2000], "last_error_at": now}
    if sizes is not None:
        fields["season_sizes"] = {str(k): v for k, v in sorted(sizes.items())}
    WatchedSeries.objects.filter(pk=series.pk).update(checks=series.checks + 1, **fields)
    return 0


def _read_pages(series: WatchedSeries, sizes: dict[int, int]) -> set[Seen]:
    """What the series' pages flag as out; updates `sizes` with what they list."""
    site, slug = series.site, series.slug
    if site == MEGAKINO:
        listed = _site_call(site, lambda: get_site(site).seasons(slug))
        count = listed.get(1, 0)
        sizes.update({1: count} if count else {})
        return {(1, episode, "German Dub") for episode in range(1, count + 1)}
    if not _regular(sizes):
        learnt = _site_call(site, lambda: numbering.site_seasons(site, slug))
        if not learnt:
            raise SiteError(f"could not read the seasons of {site}/{slug}; trying again next check")
        sizes.update(learnt)
    newest = max(_regular(sizes))
    films_turn = registry.info(site).films == "series-pages" and series.checks % 2 == 0
    seen: set[Seen] = set()
    for season in (newest, 0 if films_turn else newest + 1):
        try:
            rows = _site_call(site, partial(season_pages.episode_languages, site, slug, season))
        except NotOnSite:
            if season == newest:
                sizes.clear()  # renumbered or removed: learn the seasons again next time
                raise NotOnSite(f"season {season} of {site}/{slug} is gone from the site") from None
            if season == 0:
                sizes[0] = 0
            continue
        if rows or season == 0:
            sizes[season] = len(rows)
        seen.update((season, episode, lang) for episode, langs in rows.items() for lang in langs)
    return seen


def _regular(sizes: dict[int, int]) -> list[int]:
    return [s for s, n in sizes.items() if s > 0 and n > 0]


def _record(
    series: WatchedSeries, sizes: dict[int, int], seen: set[Seen], now: datetime
) -> list[FirstSeen]:
    """A FirstSeen row for each release not seen before."""
    cfg = settings.CONFIG
    known = set(
        FirstSeen.objects.filter(site=series.site, slug=series.slug).values_list(
            "season", "episode", "language"
        )
    )
    fresh = sorted(seen - known)
    if not fresh:
        return []
    before = series.last_checked_at
    baseline = before is None or before < now - timedelta(days=cfg.rss_watch_days)
    films_known = 0 in {int(k) for k in (series.season_sizes or {})}
    rows = []
    for season, episode, language in fresh:
        row = FirstSeen(
            series=series,
            site=series.site,
            slug=series.slug,
            season=season,
            episode=episode,
            language=language,
            first_seen_at=now,
            baseline=baseline or (season == 0 and not films_known),
        )
        if not row.baseline:
            row.name_season, row.name_episode, row.absolute = _sonarr_numbers(
                series, sizes, season, episode
            )
        rows.append(row)
    FirstSeen.objects.bulk_create(rows, ignore_conflicts=True)
    return [r for r in rows if not r.baseline]


# -- naming (as catalog.offers names the same episode) --------------------------------------


def _sonarr_numbers(
    series: WatchedSeries, sizes: dict[int, int], season: int, episode: int
) -> tuple[int | None, int | None, int | None]:
    """(season, episode, absolute) in the release name: Sonarr's numbering of the site's
    episode, by catalog.numbering's rule; films by their SkyHook special."""
    if not registry.info(series.site).anime:
        return season, episode, None
    if season == 0:
        return _film_numbers(series, episode)
    regular = {s: sizes[s] for s in _regular(sizes)}
    counted = numbering.absolute_by_counting(regular, season, episode)
    show = skyhook.show_if_reachable(series.tvdb_id)
    if show is None:
        return season, episode, counted
    if numbering.seasons_agree(regular, show.season_sizes()):
        known = show.episode(season, episode)
        return season, episode, (known.absolute if known and known.absolute else counted)
    sonarr = show.by_absolute(counted) if counted else None
    if sonarr is not None and sonarr.season > 0:
        return sonarr.season, sonarr.episode, counted
    return season, episode, counted


def _film_numbers(series: WatchedSeries, film: int) -> tuple[int | None, int | None, None]:
    tvdb_id = series.tvdb_id or skyhook.tvdb_id_if_reachable(series.title)
    if not settings.CONFIG.specials_metadata_enabled or not tvdb_id:
        return 0, film, None
    mapping = _site_call(series.site, lambda: specials.mapping_for_film(series.slug, tvdb_id, film))
    return (0, mapping.sonarr_episode, None) if mapping else (None, None, None)


# -- probes ------------------------------------------------------------------------------


def _queue_probes(series: WatchedSeries, new: list[FirstSeen], now: datetime) -> None:
    """Probe the new releases (dropping "not available" results the site now
    contradicts) and the recent ones no probe confirmed yet."""
    from catalog.tasks import enqueue_probe

    if new:
        EpisodeAvailability.objects.filter(_identities_q(new), available=False).delete()
    unconfirmed = FirstSeen.objects.filter(
        series=series, baseline=False, first_seen_at__gte=now - timedelta(hours=REPROBE_HOURS)
    ).exclude(Exists(confirmed_availability()))
    try:
        for row in unconfirmed:
            enqueue_probe(row.identity())
    except (RedisError, OperationalError) as exc:
        log.warning("rss: cannot queue probes for %s/%s: %s", series.site, series.slug, exc)


def _identities_q(rows: Iterable[FirstSeen]) -> Q:
    return reduce(
        or_,
        (
            Q(site=r.site, slug=r.slug, season=r.season, episode=r.episode, language=r.language)
            for r in rows
        ),
    )


# -- the site -------------------------------------------------------------------------------


def _site_call(site: str, fn: Callable[[], T]) -> T:
    """Run `fn`, one request (or a few, for a cold cache) to `site`, for the watcher.

    Every site request of the watcher goes through here. Requests to one site are
    spaced SITE_SPACING_SECONDS apart across all processes (a key in Redis; without
    Redis they go unspaced). The per-site circuit breaker sits below, in every page
    load (catalog.sites.guarded, catalog.sites.season_pages): while a site cools down
    `fn` raises CircuitOpen (a SiteError) at once, and the check is retried next cycle."""
    _wait_for_turn(site)
    return fn()


def _wait_for_turn(site: str) -> None:
    key = f"anibridge:rss:site-turn:{site}"
    spacing_ms = int(SITE_SPACING_SECONDS * 1000)
    try:
        redis = get_redis()
        while not redis.set(key, "1", nx=True, px=spacing_ms):
            left = redis.pttl(key)
            time.sleep(max(0.01, min(left if left > 0 else 10, spacing_ms) / 1000))
    except RedisError as exc:
        log.warning("rss: requests to %s go unspaced, Redis is unreachable: %s", site, exc)
