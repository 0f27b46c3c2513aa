"""Which site entry a Sonarr/Radarr search means: series by title or TVDB id, films by title.

Series: the enabled series sites in CATALOG_SITES order (AniWorld, s.to) through the
title index; then s.to's own search (it knows shows newer than the cached index),
accepted only if the resolver matches the query to a suggestion too; Megakino last,
because its index is derived from URL slugs and is the weakest evidence.

After a miss, `refreshed_after_miss` refreshes the indexes of the sites searched
(catalog.index.refresh_on_miss: rate-limited per site) and tells the caller to search
again if they arrive by its deadline: a series the site added today is found today.

A site that fails makes the lookup find less, never fail: the failure is logged once
where it happened (catalog.breaker), here only that the lookup went without it.

Films (Radarr): AniWorld films (`/filme/film-N` of a series the query names), then
Megakino films. A film is season 0, episode `film` on its site.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings

from catalog import index, skyhook
from catalog.index import title_index
from catalog.sites import get_site
from catalog.sites.base import NotOnSite
from catalog.softcache import soft_get, soft_set
from catalog.specials import site_film_titles, title_similarity
from catalog.streams import ResolveError
from catalog.titles import Match, TitleEntry, TitleIndex, parse_query

__all__ = [
    "MovieMatch",
    "SeriesMatch",
    "film_in_index",
    "find_movie",
    "find_series",
    "find_series_by_tvdb",
    "refreshed_after_miss",
]

log = logging.getLogger(__name__)

ANIWORLD = "aniworld.to"
STO = "s.to"
MEGAKINO = "megakino"

# Sonarr asks for every episode of a season with the same title; the site's search
# is asked once per title in this time.
SUGGEST_CACHE_SECONDS = 30 * 60
# After the site's search failed, searches go without it this long (one warning, not
# one per title Sonarr tries).
SUGGEST_FAILED_SECONDS = 60
_SUGGEST_FAILED_KEY = "catalog:suggest:s.to:failed"
# AniWorld series worth opening the film list of: the query starts with the series name
# ("Kaiju Academy the Movie: Red Tide"), which the resolver scores well below a match.
FILM_SERIES_MIN_SCORE = 40.0
FILM_SERIES_CANDIDATES = 3
# A film query has no TVDB evidence behind it, so it must name the film closely.
FILM_MIN_CONFIDENCE = 0.75
# Radarr's year and a site's may differ by one (festival vs. cinema release).
YEAR_TOLERANCE = 1


@dataclass(frozen=True)
class SeriesMatch:
    site: str
    slug: str
    title: str  # the title (main or alternative) that matched
    score: float  # 0..100
    season_hint: int | None  # "Title Season 2", "Title II" -> 2; None without one


@dataclass(frozen=True)
class MovieMatch:
    site: str
    slug: str
    title: str
    score: float  # 0..100
    film: int  # the film is season 0, episode `film` on the site


# -- series -----------------------------------------------------------------------------


def _series_sites() -> list[str]:
    return [s for s in settings.CONFIG.catalog_sites if s != MEGAKINO]


def find_series(query: str) -> SeriesMatch | None:
    """The series `query` names on the enabled sites, or None."""
    parsed = parse_query(query)
    if not parsed.key:
        return None
    titles = title_index()
    sites = _series_sites()
    found = titles.match(query, sites) if sites else None
    if found is None and STO in sites:
        found = _sto_suggestion(query)
    if found is None and MEGAKINO in settings.CONFIG.catalog_sites:
        found = titles.match(query, [MEGAKINO])
    if found is None:
        return None
    return SeriesMatch(found.site, found.slug, found.title, found.score, parsed.season_hint)


def find_series_by_tvdb(tvdb_id: int) -> SeriesMatch | None:
    """The series with this TVDB id, found by its SkyHook titles (best-scoring title wins)."""
    try:
        show = skyhook.show(tvdb_id)
    except skyhook.SkyHookError as exc:
        log.info("series for tvdb %s: going without SkyHook: %s", tvdb_id, exc)
        return None
    if show is None:
        return None
    best: SeriesMatch | None = None
    for title in dict.fromkeys(show.titles):
        found = find_series(title)
        if found is not None and (best is None or found.score > best.score):
            best = found
    return best


def refreshed_after_miss(deadline: float, *, films: bool = False) -> bool:
    """After a search found nothing: refresh the indexes of the sites it looked at
    (rate-limited, catalog.index.refresh_on_miss) and wait for them until `deadline`
    (time.monotonic()). True when a new index arrived: search again."""
    enabled = settings.CONFIG.catalog_sites
    wanted = (ANIWORLD, MEGAKINO) if films else (*_series_sites(), MEGAKINO)
    pending = index.refresh_on_miss([s for s in dict.fromkeys(wanted) if s in enabled])
    return bool(pending) and index.wait_for_refresh(pending, deadline)


def _sto_suggestion(query: str) -> Match | None:
    """The s.to search's suggestion the resolver accepts for `query`, if any."""
    entries = _sto_suggest(query)
    if not entries:
        return None
    return TitleIndex(entries).match(query, [STO])


def _sto_suggest(query: str) -> list[TitleEntry]:
    key = (
        "catalog:suggest:s.to:"
        + hashlib.sha1(parse_query(query).text.encode(), usedforsecurity=False).hexdigest()
    )
    cached = soft_get(key)
    if isinstance(cached, list):
        return [TitleEntry(STO, slug, title) for slug, title in cached]
    if soft_get(_SUGGEST_FAILED_KEY):
        log.info("s.to search for %r skipped: it failed less than a minute ago", query)
        return []
    try:
        hits = get_site(STO).suggest(query)
    except ResolveError as exc:
        # A 404 is the search API gone (moved), not a series: say so here, the breaker
        # only logs the site's failures.
        logger = log.warning if isinstance(exc, NotOnSite) else log.info
        logger("s.to search for %r failed; searching without it: %s", query, exc)
        soft_set(_SUGGEST_FAILED_KEY, True, SUGGEST_FAILED_SECONDS)
        return []
    rows = [(hit.slug, hit.title) for hit in hits]
    soft_set(key, rows, SUGGEST_CACHE_SECONDS)
    return [TitleEntry(STO, slug, title) for slug, title in rows]


# -- films ------------------------------------------------------------------------------


def find_movie(query: str, year: int | None = None) -> MovieMatch | None:
    """The film `query` (Radarr's "Title" or "Title Year") names, or None."""
    parsed = parse_query(query)
    if not parsed.key:
        return None
    year = year or parsed.year
    sites = settings.CONFIG.catalog_sites
    found = _aniworld_film(query, parsed.text) if ANIWORLD in sites else None
    if found is None and MEGAKINO in sites:
        found = _megakino_film(query, year)
    return found


def film_in_index(query: str, year: int | None = None) -> bool:
    """Whether the title index has an entry the film query may be: when `find_movie`
    found nothing anyway, a site failed or the film is not there, and refreshing the
    index would not help."""
    sites = settings.CONFIG.catalog_sites
    year = year or parse_query(query).year
    return bool(
        (ANIWORLD in sites and _film_series(query))
        or (MEGAKINO in sites and _megakino_entry(query, year) is not None)
    )


def _film_series(query: str) -> list[Match]:
    """The AniWorld series a film query may belong to (it starts with their name)."""
    return [
        m
        for m in title_index().candidates(query, limit=10)
        if m.site == ANIWORLD and m.score >= FILM_SERIES_MIN_SCORE
    ][:FILM_SERIES_CANDIDATES]


def _aniworld_film(query: str, name: str) -> MovieMatch | None:
    """The best AniWorld film of the series the query starts with, if close enough."""
    candidates = _film_series(query)
    best: MovieMatch | None = None
    for series in candidates:
        try:
            films = site_film_titles(series.slug)
        except ResolveError as exc:
            log.info("films of %s/%s: going without them: %s", ANIWORLD, series.slug, exc)
            continue
        for number, title in films.items():
            confidence = title_similarity(name, title, drop=(series.title, series.slug))
            if confidence >= FILM_MIN_CONFIDENCE and (
                best is None or confidence * 100 > best.score
            ):
                best = MovieMatch(ANIWORLD, series.slug, title, round(confidence * 100, 2), number)
    return best


def _megakino_entry(query: str, year: int | None) -> Match | None:
    # The year as a qualifier: the resolver rules out entries from another year.
    wanted = f"{query} ({year})" if year and parse_query(query).year is None else query
    return title_index().match(wanted, [MEGAKINO])


def _megakino_film(query: str, year: int | None) -> MovieMatch | None:
    found = _megakino_entry(query, year)
    if found is None:
        return None
    try:
        films, released = get_site(MEGAKINO).film_details(found.slug)
    except ResolveError as exc:
        log.info("megakino %s: going without it: %s", found.slug, exc)
        return None
    if not films:  # a serial, not a film
        return None
    if year and released and abs(released - year) > YEAR_TOLERANCE:
        # The index has no years; the film's page does: a remake is not the film.
        log.info("megakino %s is from %d, not %d", found.slug, released, year)
        return None
    number, title = next(iter(films.items()))
    return MovieMatch(MEGAKINO, found.slug, title, found.score, number)
