"""A Torznab search: the query's parameters to catalog.offers, its releases to RSS items.

Searches answer from the availability cache. Episodes not in it are probed by the
Celery workers (probing loads hoster pages through libraries that would block the web
process, see catalog.availability) while this request waits until its deadline,
SEARCH_DEADLINE_SECONDS after it began; what is not known by then is left out (single
episodes) or offered with defaults (season searches in `fast` mode), and the probes
finish in the background for the next search.

A search the title index misses refreshes the sites' indexes (at most every
TITLES_REFRESH_ON_MISS_MINUTES per site) and searches again if they arrive by the
deadline. A failing site or SkyHook makes a search find less, never fail.
"""

from __future__ import annotations

import logging
import re
import time
from functools import lru_cache

from django.conf import settings

from catalog import offers, registry, watching
from catalog.identity import EpisodeIdentity
from catalog.magnet import Mode, build_magnet, info_hash
from catalog.offers import DEFAULT_HEIGHT, Release
from torznab.feed import Item
from torznab.params import Query

log = logging.getLogger(__name__)

SEARCH_DEADLINE_SECONDS = 20.0
# Megabytes per minute by height: plausible WEB-DL sizes, inside Sonarr's default limits.
MB_PER_MINUTE = ((2160, 120), (1080, 45), (720, 25), (0, 10))
EPISODE_MINUTES = 24
MOVIE_MINUTES = 100
SUBS = {"German Sub": "German", "English Sub": "English"}
AUDIO = {
    "German Dub": "German",
    "German Sub": "Japanese",
    "English Sub": "Japanese",
    "English Dub": "English",
}
_TITLE_AND_YEAR = re.compile(r"^(?P<title>.+?)\s+\(?(?P<year>(19|20)\d{2})\)?$")


def run(query: Query) -> list[Item]:
    if query.daily:
        return []  # daily shows (season=YYYY&ep=MM/DD) are not on these sites
    deadline = time.monotonic() + SEARCH_DEADLINE_SECONDS
    if query.function == "movie":
        items = _movie_items(query, deadline)
    elif not query.q and not query.has_ids:
        from torznab import recent  # recent builds its items with this module's functions

        page = recent.page(query)  # the RSS feed: newest releases of the watched series
        if page is not None:
            return page
        items = items_for(offers.test_releases())
    else:
        items = _series_items(query, deadline)
    items = [i for i in items if category_matches(i, query.categories)]
    return items[query.offset : query.offset + query.limit]


def _series_items(query: Query, deadline: float) -> list[Item]:
    target, absolute = offers.find_series(query.q, query.tvdbid, deadline)
    if target is None:
        log.info("torznab: no series for q=%r tvdbid=%s", query.q, query.tvdbid)
        return []
    watching.note_search(target.site, target.slug, target.title, target.tvdb_id)
    releases = offers.series_releases(
        target,
        season=query.season,
        episode=query.episode,
        absolute=absolute,
        limit=query.limit,
        deadline=deadline,
    )
    return items_for(releases)


def _movie_items(query: Query, deadline: float) -> list[Item]:
    title, year = query.q, None
    m = _TITLE_AND_YEAR.match(title)
    if m:
        title, year = m.group("title"), int(m.group("year"))
    if not title and not query.has_ids:
        # Radarr's RSS sync and Test button: it has no feed of films, but the Test fails
        # on an empty answer, so it gets the connectivity-test item filed as a film.
        return items_for(offers.test_releases(film=True))
    if not title:
        return []  # Radarr's id-only request: no title to search by without TMDB
    extra = {"imdb": query.imdbid} if query.imdbid else {}
    return items_for(offers.movie_releases(title, year, deadline), extra)


# -- items -----------------------------------------------------------------------------------


def category_matches(item: Item, wanted: tuple[int, ...]) -> bool:
    if not wanted:
        return True
    return any(cat in wanted or (cat // 1000) * 1000 in wanted for cat in item.categories)


def tv_categories(site: str, height: int | None) -> tuple[int, ...]:
    """An episode's categories: anime sites' in the anime category, others' by height."""
    cfg = settings.CONFIG
    if registry.info(site).anime:
        return (5000, cfg.torznab_cat_anime)
    return (5000, 5040 if (height or DEFAULT_HEIGHT) >= 720 else 5030)


def _movie_categories() -> tuple[int, ...]:
    cat = settings.CONFIG.torznab_cat_movie
    return (2000, cat if cat != 2000 else 2040)


def _size(height: int | None, minutes: int) -> int:
    h = height or DEFAULT_HEIGHT
    per_minute = next(mb for floor, mb in MB_PER_MINUTE if h >= floor)
    return per_minute * minutes * 1024 * 1024


def items_for(releases: list[Release], extra: dict[str, str] | None = None) -> list[Item]:
    return [_item(release, extra or {}) for release in releases]


def _item(release: Release, extra: dict[str, str]) -> Item:
    cfg = settings.CONFIG
    identity = release.identity
    magnet, btih = _magnet(identity, release.name, "strm" if release.strm else "download")
    attrs = {
        "seeders": str(cfg.torznab_fake_seeders),
        "peers": str(cfg.torznab_fake_seeders + cfg.torznab_fake_leechers),
        "leechers": str(cfg.torznab_fake_leechers),
        "language": AUDIO.get(identity.language, "German"),
        **({"tvdbid": str(release.tvdb_id)} if release.tvdb_id else {}),
        **extra,
    }
    if identity.language in SUBS:
        attrs["subs"] = SUBS[identity.language]
    if release.film:
        size, categories = _size(release.height, MOVIE_MINUTES), _movie_categories()
    else:
        size = _size(release.height, EPISODE_MINUTES)
        categories = tv_categories(identity.site, release.height)
    return Item(
        title=release.name,
        guid=f"anibridge-{btih}",
        magnet=magnet,
        infohash=btih,
        size=size,
        published=release.published,
        categories=categories,
        attrs=attrs,
    )


@lru_cache(maxsize=8192)
def _magnet(identity: EpisodeIdentity, name: str, mode: Mode) -> tuple[str, str]:
    """The magnet and btih of a release; a cached search asks for the same ones again."""
    return build_magnet(identity, name, mode=mode), info_hash(identity, mode=mode)
