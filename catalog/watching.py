"""Which series the RSS feed follows: noted on searches and grabs, added by hand.

A series is watched while it is not stopped and either pinned (added in the admin or
over the API) or searched for / grabbed within the last RSS_WATCH_DAYS days. Searches
note the series at most once per series and title per hour in each process (a memo,
no I/O), so a Torznab search costs one small upsert per series per hour at most.

The title noted is the one the search named its releases with (SkyHook's for a
`tvdbid` search): the feed names the same episode the same way. A title from a plain
`q` search only fills in where no TVDB-backed title is known.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from catalog import registry
from catalog.identity import normalize_site, validate_slug
from catalog.memo import TtlMemo
from catalog.models import WatchedSeries

log = logging.getLogger(__name__)

NOTE_EVERY_SECONDS = 60 * 60
_noted: TtlMemo[tuple[str, str, str, int | None], bool] = TtlMemo(NOTE_EVERY_SECONDS, 10_000)


def watched(now: datetime | None = None) -> QuerySet[WatchedSeries]:
    """The series watched at `now` (see module doc)."""
    now = now or timezone.now()
    since = now - timedelta(days=settings.CONFIG.rss_watch_days)
    return WatchedSeries.objects.filter(stopped=False).filter(
        Q(pinned=True) | Q(last_activity_at__gte=since)
    )


def is_watched(series: WatchedSeries, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    if series.stopped:
        return False
    since = now - timedelta(days=settings.CONFIG.rss_watch_days)
    return series.pinned or (
        series.last_activity_at is not None and series.last_activity_at >= since
    )


def note_search(site: str, slug: str, title: str, tvdb_id: int | None) -> None:
    """A Torznab search found this series: keep it watched. Cheap and never raises."""
    key = (site, slug, title, tvdb_id)
    if not _noted.put_new(key, True):
        return
    try:
        _touch(site, slug, WatchedSeries.Reason.SEARCH, title=title, tvdb_id=tvdb_id)
    except DatabaseError as exc:
        log.warning("rss: could not note a search for %s/%s: %s", site, slug, exc)
        _noted.forget(key)  # try again on the next search


def forget_notes() -> None:
    """Forget which searches this process noted (the next one writes again)."""
    _noted.clear()


def note_grab(site: str, slug: str, season: int) -> None:
    """The qBittorrent API added a task for an episode of this series: keep it watched.

    Megakino films (season 0) are not series and the connectivity-test item is not
    on any site; neither is noted."""
    if slug == settings.CONFIG.torznab_test_slug or (
        season == 0 and registry.info(site).films == "entries"
    ):
        return
    _touch(site, slug, WatchedSeries.Reason.GRAB)


def watch(site: str, slug: str, title: str = "", tvdb_id: int | None = None) -> WatchedSeries:
    """Watch a series by hand (admin, API): pinned until stopped. ValueError for a bad
    site or slug."""
    site, slug = normalize_site(site), validate_slug(slug)
    series, created = WatchedSeries.objects.get_or_create(
        site=site,
        slug=slug,
        defaults={
            "title": title,
            "tvdb_id": tvdb_id,
            "pinned": True,
            "last_reason": WatchedSeries.Reason.ADMIN,
            "last_activity_at": timezone.now(),
        },
    )
    if not created:
        start(WatchedSeries.objects.filter(pk=series.pk))
        fields: dict[str, object] = {"title": title} if title else {}
        if tvdb_id:
            fields["tvdb_id"] = tvdb_id
        if fields:
            WatchedSeries.objects.filter(pk=series.pk).update(**fields)
        series.refresh_from_db()
    return series


def start(queryset: QuerySet[WatchedSeries]) -> int:
    """Watch these series again (pinned), checked at the next tick."""
    return queryset.update(stopped=False, pinned=True, next_check_at=timezone.now())


def stop(queryset: QuerySet[WatchedSeries]) -> int:
    """Stop watching these series: searches and grabs no longer bring them back."""
    return queryset.update(stopped=True, pinned=False)


def _touch(
    site: str, slug: str, reason: str, *, title: str = "", tvdb_id: int | None = None
) -> None:
    now = timezone.now()
    with transaction.atomic():
        series, created = WatchedSeries.objects.get_or_create(
            site=site,
            slug=slug,
            defaults={
                "title": _usable(title),
                "tvdb_id": tvdb_id,
                "last_reason": reason,
                "last_activity_at": now,
                "next_check_at": now,  # the first check (what is there already) comes soon
            },
        )
        if created:
            log.info("rss: now watching %s/%s (%s)", site, slug, reason)
            return
        fields: dict[str, object] = {"last_reason": reason, "last_activity_at": now}
        if tvdb_id and _usable(title):
            fields.update(title=_usable(title), tvdb_id=tvdb_id)
        elif series.tvdb_id is None and _usable(title):
            fields["title"] = _usable(title)
        WatchedSeries.objects.filter(pk=series.pk).update(**fields)


def _usable(title: str) -> str:
    """A title to name releases with: not empty, not a bare number (`q=05` with SkyHook
    down leaves the search nothing better)."""
    title = " ".join(title.split())
    return "" if title.isdigit() else title[:300]
