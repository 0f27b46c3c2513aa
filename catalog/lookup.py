"""Which site entry a Sonarr/Radarr search means: series by title or TVDB id, films by title.

Series: the enabled series sites in CATALOG_SITES order (AniWorld, s.to) through the
title index; then the sites' own search where they have one (s.to: it knows shows
newer than the cached index), accepted only if the resolver matches the query to a
suggestion too; sites indexed by URL slugs (Megakino) last, the weakest evidence.
Which site is which is catalog.registry's.

After a miss, `refreshed_after_miss` refreshes the indexes of the sites searched
(catalog.index.refresh_on_miss: rate-limited per site) and tells the caller to search
again if they arrive by its deadline: a series the site added today is found today.

A site that fails makes the lookup find less, never fail: the failure is logged once
where it happened (catalog.breaker), here only that the lookup went without it.

Films (Radarr): films on series pages (AniWorld's `/filme/film-N` of a series the
query names), then sites whose entries are films (Megakino). A film is season 0,
episode `film` on its site.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings

from catalog import index, registry, skyhook
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

# Sonarr asks for every episode of a season with the same title; the site's search
# is asked once per title in this time.
SUGGEST_CACHE_SECONDS = 30 * 60
# After the site's search failed, searches go without it this long (one warning, not
# one per title Sonarr tries).
SUGGEST_FAILED_SECONDS = 60
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
    return [s for s in settings.CONFIG.catalog_sites if registry.info(s).series]


def _slug_sites() -> list[str]:
    return [s for s in settings.CONFIG.catalog_sites if not registry.info(s).series]


def _film_sites(films: str) -> list[str]:
    return [s for s in settings.CONFIG.catalog_sites if registry.info(s).films == films]


def find_series(query: str) -> SeriesMatch | None:
    """The series `query` names on the enabled sites, or None."""
    parsed = parse_query(query)
    if not parsed.key:
        return None
    titles = title_index()
    sites = _series_sites()
    found = titles.match(query, sites) if sites else None
    for site in sites:
        if found is None and registry.info(site).has_search:
            found = _suggestion(site, query)
    slug_sites = _slug_sites()
    if found is None and slug_sites:
        found = titles.match(query, slug_sites)
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
    if films:
        wanted = [*_film_sites("series-pages"), *_film_sites("entries")]
    else:
        wanted = [*_series_sites(), *_slug_sites()]
    pending = index.refresh_on_miss(list(dict.fromkeys(wanted)))
    return bool(pending) and index.wait_for_refresh(pending, deadline)


def _suggestion(site: str, query: str) -> Match | None:
    """The site search's suggestion the resolver accepts for `query`, if any."""
    entries = _suggest(site, query)
    if not entries:
        return None
    return TitleIndex(entries).match(query, [site])


def _suggest(site: str, query: str) -> list[TitleEntry]:
    key = (
        f"catalog:suggest:{site}:"
        + hashlib.sha1(parse_query(query).text.encode(), usedforsecurity=False).hexdigest()
    )
    failed_key = f"catalog:suggest:{site}:failed"
    cached = soft_get(key)
    if isinstance(cached, list):
        return [TitleEntry(site, slug, title) for slug, title in cached]
    if soft_get(failed_key):
        log.info("%s search for %r skipped: it failed less than a minute ago", site, query)
        return []
    try:
        hits = get_site(site).suggest(query)
    except ResolveError as exc:
        # A 404 is the search API gone (moved), not a series: say so here, the breaker
        # only logs the site's failures.
        logger = log.warning if isinstance(exc, NotOnSite) else log.info
        logger("%s search for %r failed; searching without it: %s", site, query, exc)
        soft_set(failed_key, True, SUGGEST_FAILED_SECONDS)
        return []
    rows = [(hit.slug, hit.title) for hit in hits]
    soft_set(key, rows, SUGGEST_CACHE_SECONDS)
    return [TitleEntry(site, slug, title) for slug, title in rows]


# -- films ------------------------------------------------------------------------------


def find_movie(query: str, year: int | None = None) -> MovieMatch | None:
    """The film `query` (Radarr's "Title" or "Title Year") names, or None."""
    parsed = parse_query(query)
    if not parsed.key:
        return None
    year = year or parsed.year
    found = None
    for site in _film_sites("series-pages"):
        found = found or _series_film(site, query, parsed.text)
    for site in _film_sites("entries"):
        found = found or _entry_film(site, query, year)
    return found


def film_in_index(query: str, year: int | None = None) -> bool:
    """Whether the title index has an entry the film query may be: when `find_movie`
    found nothing anyway, a site failed or the film is not there, and refreshing the
    index would not help."""
    year = year or parse_query(query).year
    return any(_film_series(site, query) for site in _film_sites("series-pages")) or any(
        _film_entry(site, query, year) is not None for site in _film_sites("entries")
    )


def _film_series(site: str, query: str) -> list[Match]:
    """The site's series a film query may belong to (it starts with their name)."""
    return [
        m
        for m in title_index().candidates(query, limit=10)
        if m.site == site and m.score >= FILM_SERIES_MIN_SCORE
    ][:FILM_SERIES_CANDIDATES]


def _series_film(site: str, query: str, name: str) -> MovieMatch | None:
    """The best film of the series the query starts with, if close enough."""
    candidates = _film_series(site, query)
    best: MovieMatch | None = None
    for series in candidates:
        try:
            films = site_film_titles(series.slug, site)
        except ResolveError as exc:
            log.info("films of %s/%s: going without them: %s", site, series.slug, exc)
            continue
        for number, title in films.items():
            confidence = title_similarity(name, title, drop=(series.title, series.slug))
            if confidence >= FILM_MIN_CONFIDENCE and (
                best is None or confidence * 100 > best.score
            ):
                best = MovieMatch(site, series.slug, title, round(confidence * 100, 2), number)
    return best


def _film_entry(site: str, query: str, year: int | None) -> Match | None:
    # The year as a qualifier: the resolver rules out entries from another year.
    wanted = f"{query} ({year})" if year and parse_query(query).year is None else query
    return title_index().match(wanted, [site])


def _entry_film(site: str, query: str, year: int | None) -> MovieMatch | None:
    found = _film_entry(site, query, year)
    if found is None:
        return None
    try:
        films, released = get_site(site).film_details(found.slug)
    except ResolveError as exc:
        log.info("%s %s: going without it: %s", site, found.slug, exc)
        return None
    if not films:  # a serial, not a film
        return None
    if year and released and abs(released - year) > YEAR_TOLERANCE:
        # The index has no years; the film's page does: a remake is not the film.
        log.info("%s %s is from %d, not %d", site, found.slug, released, year)
        return None
    number, title = next(iter(films.items()))
    return MovieMatch(site, found.slug, title, found.score, number)
