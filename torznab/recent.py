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
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from catalog.identity import SITES
from catalog.models import EpisodeAvailability, FirstSeen
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
    "quality_height",
    "quality_vcodec",
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SD_HEIGHT = 480


def page(query: Query) -> list[Item] | None:
    """The items at `query`'s offset/limit among those its categories keep; None when
    the feed keeps none at all (the caller then offers the connectivity-test item)."""
    per_release = len(search._variants())  # one item, or two with STRM variants
    releases = _releases(query.categories)
    first = query.offset // per_release
    stop = -(-(query.offset + query.limit) // per_release)
    rows = list(releases[first:stop])
    if not rows:
        return [] if releases.exists() else None
    items: list[Item] = []
    for row in rows:
        items.extend(_items(*row))
    skip = query.offset - first * per_release
    return items[skip : skip + query.limit]


def _releases(categories: tuple[int, ...]) -> QuerySet[FirstSeen, tuple[Any, ...]]:
    confirmed = EpisodeAvailability.objects.filter(
        site=OuterRef("site"),
        slug=OuterRef("slug"),
        season=OuterRef("season"),
        episode=OuterRef("episode"),
        language=OuterRef("language"),
        available=True,
    )
    releases = (
        FirstSeen.objects.filter(baseline=False, name_season__isnull=False)
        .filter(Exists(confirmed))
        .annotate(
            quality_height=Subquery(confirmed.values("height")[:1]),
            quality_vcodec=Subquery(confirmed.values("vcodec")[:1]),
        )
    )
    if categories:
        releases = releases.filter(_kept_by(categories))
    return releases.order_by("-first_seen_at", "-id").values_list(*_FIELDS)


def _kept_by(categories: tuple[int, ...]) -> Q:
    """Releases whose items search's category filter keeps: items' categories depend
    only on the site and, off AniWorld, on SD (< 720 lines) or HD."""
    kept = Q(pk__in=[])
    hd = Q(quality_height__gte=720) | Q(quality_height__isnull=True)
    for site in SITES:
        for height, rows in ((search.DEFAULT_HEIGHT, hd), (SD_HEIGHT, ~hd)):
            sample = Item("", "", "", "", 0, _EPOCH, search._tv_categories(site, height))
            if search._category_matches(sample, categories):
                kept |= Q(site=site) & rows
    return kept


def _items(
    site: str,
    slug: str,
    season: int,
    episode: int,
    language: str,
    name_season: int,
    name_episode: int,
    absolute: int | None,
    first_seen_at: datetime,
    title: str,
    tvdb_id: int | None,
    height: int | None,
    vcodec: str | None,
) -> list[Item]:
    """A search's items for this release, dated when it was first seen."""
    target = search.Target(site, slug, title or _title_from_slug(slug), tvdb_id)
    wanted = search.Wanted(season, episode, name_season, name_episode, absolute)
    identity = search._identity(site, slug, season, episode, language)
    row = search.Known(language, True, height, vcodec or "", first_seen_at)
    return search._episode_items(target, wanted, identity, row)


def _title_from_slug(slug: str) -> str:
    """ "kaiju-academy" -> "Kaiju Academy", for a series watched before any search named it."""
    return " ".join(word.capitalize() for word in slug.split("-") if word)
