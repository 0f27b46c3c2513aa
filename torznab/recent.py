"""The RSS feed: Torznab requests without a query or ids (Sonarr's RSS sync, the Test
buttons) answered with the newest releases of the watched series, newest first.

A release is an episode in a language that catalog.watcher first saw on its site; its
items are exactly what a search for that episode offers (torznab.search builds both),
with the time it was first seen as pubDate. Like a search, the feed offers a release
only once a probe confirmed it (an available EpisodeAvailability row, whose quality
names it). Everything comes from the database: answering contacts no site.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from django.db.models import Subquery

from catalog.identity import SITES
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


class _Quality(NamedTuple):
    height: int | None
    vcodec: str


def page(query: Query) -> list[Item] | None:
    """The items at `query`'s offset/limit among those its categories keep; None when
    the feed keeps none at all (the caller then offers the connectivity-test item)."""
    per_release = len(search._variants())  # one item, or two with STRM variants
    first = query.offset // per_release
    wanted = -(-(query.offset + query.limit) // per_release) - first
    offered = _offered(query.categories, first, wanted)
    if not offered:
        return [] if first and _offered(query.categories, 0, 1) else None
    items: list[Item] = []
    for row, quality in offered:
        items.extend(_items(row, quality))
    skip = query.offset - first * per_release
    return items[skip : skip + query.limit]


def _offered(
    categories: tuple[int, ...], skip: int, count: int
) -> list[tuple[tuple[Any, ...], _Quality]]:
    """Releases `skip` to `skip + count`, newest first, among those a probe confirmed
    and the categories keep, with the quality the probe found.

    Read newest first along the feed's index, in chunks: the probe result is looked up
    for the rows read only (a filter on it would be evaluated for every release)."""
    if categories and not any(_keeps(s, hd, categories) for s in SITES for hd in (True, False)):
        return []  # e.g. cat=2000: no release of a series is a movie
    confirmed = confirmed_availability()
    ordered = (
        FirstSeen.objects.filter(baseline=False, name_season__isnull=False)
        .annotate(
            probe_id=Subquery(confirmed.values("pk")[:1]),
            probe_height=Subquery(confirmed.values("height")[:1]),
            probe_vcodec=Subquery(confirmed.values("vcodec")[:1]),
        )
        .order_by("-first_seen_at", "-id")
        .values_list(*_FIELDS, "probe_id", "probe_height", "probe_vcodec")
    )
    found: list[tuple[tuple[Any, ...], _Quality]] = []
    start, chunk = 0, max(MIN_CHUNK, skip + count + (skip + count) // 8)
    while len(found) < skip + count:
        rows = list(ordered[start : start + chunk])
        for *row, probe_id, height, vcodec in rows:
            if probe_id is not None and _kept(row[0], height, categories):
                found.append((tuple(row), _Quality(height, vcodec or "")))
        if len(rows) < chunk:
            break
        start, chunk = start + chunk, chunk * 2
    return found[skip : skip + count]


def _kept(site: str, height: int | None, categories: tuple[int, ...]) -> bool:
    """Whether search's category filter keeps this release's items (their categories
    depend only on the site and the height)."""
    if not categories:
        return True
    return _keeps(site, (height or search.DEFAULT_HEIGHT) >= 720, categories)


@lru_cache(maxsize=256)
def _keeps(site: str, hd: bool, categories: tuple[int, ...]) -> bool:
    height = search.DEFAULT_HEIGHT if hd else SD_HEIGHT
    sample = Item("", "", "", "", 0, _EPOCH, search._tv_categories(site, height))
    return search._category_matches(sample, categories)


def _items(row: tuple[Any, ...], quality: _Quality) -> list[Item]:
    """A search's items for this release, dated when it was first seen."""
    site, slug, season, episode, language, name_season, name_episode, absolute = row[:8]
    first_seen_at, title, tvdb_id = row[8:]
    target = search.Target(site, slug, title or _title_from_slug(slug), tvdb_id)
    wanted = search.Wanted(season, episode, name_season, name_episode, absolute)
    identity = search._identity(site, slug, season, episode, language)
    known = search.Known(language, True, quality.height, quality.vcodec, first_seen_at)
    return search._episode_items(target, wanted, identity, known)


def _title_from_slug(slug: str) -> str:
    """ "kaiju-academy" -> "Kaiju Academy", for a series watched before any search named it."""
    return " ".join(word.capitalize() for word in slug.split("-") if word)
