"""The RSS feed: Torznab requests without a query or ids (Sonarr's RSS sync, the Test
buttons) answered with the newest releases of the watched series, newest first.

A release is an episode in a language that catalog.watcher first saw on its site; its
items are exactly what a search for that episode offers (catalog.offers chooses both,
torznab.search renders both),
with the time it was first seen as pubDate. Like a search, the feed offers a release
only once a probe confirmed it (an available EpisodeAvailability row, whose quality
names it). Everything comes from the database: answering contacts no site.

Sonarr asks every 15 minutes per indexer, so the answer is kept cheap: the query is
compiled from the ORM once per process (compiling its three lookups cost more than
running them) and a release's items are kept until it or the settings change.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection
from django.db.models import Subquery

from catalog import offers, registry
from catalog.models import FirstSeen, confirmed_availability
from torznab import search
from torznab.feed import Item
from torznab.params import Query

_FIELDS = (
    "site",
    "slug",
    "season",
    "episode",
    "language",
    "name_season",
    "name_episode",
    "absolute",
    "first_seen_at",
    "series__title",
    "series__tvdb_id",
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SD_HEIGHT = 480
# Releases read per query while looking for the page (a little more than it needs:
# most releases are confirmed, so the first read usually fills it).
MIN_CHUNK = 20
_MEMO_LIMIT = 4096


class _Quality(NamedTuple):
    height: int | None
    vcodec: str


# The items of each release as last built, for the settings they were built with.
_memo: dict[tuple[Any, ...], list[Item]] = {}
_memo_config: object = None
_memo_lock = threading.Lock()


def page(query: Query) -> list[Item] | None:
    """The items at `query`'s offset/limit among those its categories keep; None when
    the feed keeps none at all (the caller then offers the connectivity-test item)."""
    per_release = len(offers.variants())  # one item, or two with STRM variants
    first = query.offset // per_release
    wanted = -(-(query.offset + query.limit) // per_release) - first
    offered = _offered(query.categories, first, wanted)
    if not offered:
        return [] if first and _offered(query.categories, 0, 1) else None
    items: list[Item] = []
    for release in offered:
        items.extend(_items(release))
    skip = query.offset - first * per_release
    return items[skip : skip + query.limit]


def _offered(categories: tuple[int, ...], skip: int, count: int) -> list[tuple[Any, ...]]:
    """Releases `skip` to `skip + count`, newest first, among those a probe confirmed
    and the categories keep: the `_FIELDS` and the probe's height and codec.

    Read newest first along the feed's index, in chunks: the probe result is looked up
    for the rows read only (a filter on it would be evaluated for every release)."""
    if categories and not any(
        _keeps(s, hd, categories) for s in registry.site_names() for hd in (True, False)
    ):
        return []  # e.g. cat=2000: no release of a series is a movie
    sql, params = _newest_sql(connection.vendor)
    found: list[tuple[Any, ...]] = []
    start, chunk = 0, max(MIN_CHUNK, skip + count + (skip + count) // 8)
    while len(found) < skip + count:
        with connection.cursor() as cursor:
            cursor.execute(sql, (*params, chunk, start))
            rows = cursor.fetchall()
        for *fields, probe_id, height, vcodec in rows:
            if probe_id is not None and _kept(fields[0], height, categories):
                fields[8] = _aware(fields[8])
                found.append((*fields, height, vcodec or ""))
        if len(rows) < chunk:
            break
        start, chunk = start + chunk, chunk * 2
    return found[skip : skip + count]


@lru_cache(maxsize=4)
def _newest_sql(vendor: str) -> tuple[str, tuple[Any, ...]]:
    """The offered releases with their probe result, newest first, as SQL with two
    more parameters: LIMIT and OFFSET."""
    confirmed = confirmed_availability()
    releases = (
        FirstSeen.objects.filter(baseline=False, name_season__isnull=False)
        .annotate(
            probe_id=Subquery(confirmed.values("pk")[:1]),
            probe_height=Subquery(confirmed.values("height")[:1]),
            probe_vcodec=Subquery(confirmed.values("vcodec")[:1]),
        )
        .order_by("-first_seen_at", "-id")
        .values_list(*_FIELDS, "probe_id", "probe_height", "probe_vcodec")
    )
    sql, params = releases.query.sql_with_params()
    return f"{sql} LIMIT %s OFFSET %s", tuple(params)


def _aware(value: Any) -> datetime:
    """A timestamp as the database returned it (SQLite: text in UTC) -> aware datetime."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _kept(site: str, height: int | None, categories: tuple[int, ...]) -> bool:
    """Whether search's category filter keeps this release's items (their categories
    depend only on the site and the height)."""
    if not categories:
        return True
    return _keeps(site, (height or offers.DEFAULT_HEIGHT) >= 720, categories)


@lru_cache(maxsize=256)
def _keeps(site: str, hd: bool, categories: tuple[int, ...]) -> bool:
    height = offers.DEFAULT_HEIGHT if hd else SD_HEIGHT
    sample = Item("", "", "", "", 0, _EPOCH, search.tv_categories(site, height))
    return search.category_matches(sample, categories)


def _items(release: tuple[Any, ...]) -> list[Item]:
    """A search's items for this release, dated when it was first seen (kept while the
    release and the settings are unchanged)."""
    global _memo_config
    config = settings.CONFIG
    with _memo_lock:
        if config is not _memo_config or len(_memo) >= _MEMO_LIMIT:
            _memo.clear()
            _memo_config = config
        known = _memo.get(release)
    if known is not None:
        return known
    site, slug, season, episode, language, name_season, name_episode, absolute = release[:8]
    first_seen_at, title, tvdb_id, height, vcodec = release[8:]
    target = offers.Target(site, slug, title or _title_from_slug(slug), tvdb_id)
    wanted = offers.Wanted(season, episode, name_season, name_episode, absolute)
    identity = offers.identity(site, slug, season, episode, language)
    row = offers.Known(language, True, height, vcodec, first_seen_at)
    built = search.items_for(offers.episode_releases(target, wanted, identity, row))
    with _memo_lock:
        _memo[release] = built
    return built


def _title_from_slug(slug: str) -> str:
    """ "kaiju-academy" -> "Kaiju Academy", for a series watched before any search named it."""
    return " ".join(word.capitalize() for word in slug.split("-") if word)
