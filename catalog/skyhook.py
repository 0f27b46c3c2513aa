"""Client for SkyHook, Sonarr's TVDB metadata API: shows, their episodes and searches.

Only two routes exist (read from Sonarr's SkyHookProxy): `/v1/tvdb/shows/en/<tvdbId>`
and `/v1/tvdb/search/en/?term=`. SkyHook has no route per IMDb or TMDB id; Sonarr
looks those up by searching for the term `imdb:tt123` or `tmdb:123`, which SkyHook
resolves itself, and so do `find_by_imdb` and `find_by_tmdb`.

Answers are cached in the Django cache for SPECIALS_METADATA_CACHE_TTL_MINUTES. When
SkyHook fails, its circuit ("skyhook", catalog.breaker) opens for a minute: callers
get `SkyHookError` at once instead of waiting for the timeout on every search. The
failure is logged once, here; callers that go without SkyHook log at INFO.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import requests
from django.conf import settings

from catalog import breaker
from catalog.egress import sessions, ssrf
from catalog.softcache import soft_get, soft_set
from catalog.titles import parse_query

__all__ = [
    "Show",
    "ShowEpisode",
    "SkyHookError",
    "find_by_imdb",
    "find_by_tmdb",
    "find_tvdb_id",
    "search",
    "show",
]

log = logging.getLogger(__name__)

# After a failure, SkyHook is not asked again for this long: one Sonarr search asks
# about many episodes and must not wait for the timeout on each.
BACKOFF_SECONDS = 60
CIRCUIT = "skyhook"
_MISSING = "missing"
_IMDB_ID = re.compile(r"^tt\d{5,}$")
_HEADERS = {"User-Agent": "AniBridge"}
_local = threading.local()


class SkyHookError(Exception):
    """SkyHook could not be asked or gave an unusable answer; the message is one line."""


@dataclass(frozen=True, slots=True)
class ShowEpisode:
    season: int
    episode: int
    absolute: int | None  # TVDB's absolute number; None for specials and most non-anime
    title: str
    air_date: date | None


@dataclass(frozen=True, slots=True)
class Show:
    tvdb_id: int
    title: str
    alternate_titles: tuple[str, ...]
    year: int | None
    imdb_id: str | None
    episodes: tuple[ShowEpisode, ...]  # ordered by season, episode; empty in search results

    @property
    def titles(self) -> tuple[str, ...]:
        return (self.title, *self.alternate_titles)

    @property
    def specials(self) -> tuple[ShowEpisode, ...]:
        return tuple(e for e in self.episodes if e.season == 0)

    def episode(self, season: int, number: int) -> ShowEpisode | None:
        return next((e for e in self.episodes if (e.season, e.episode) == (season, number)), None)

    def by_absolute(self, absolute: int) -> ShowEpisode | None:
        return next((e for e in self.episodes if e.absolute == absolute), None)

    def season_sizes(self) -> dict[int, int]:
        """Regular season number -> number of episodes (season 0 left out)."""
        sizes: dict[int, int] = {}
        for e in self.episodes:
            if e.season > 0:
                sizes[e.season] = sizes.get(e.season, 0) + 1
        return sizes


# -- public API -------------------------------------------------------------------------


def show(tvdb_id: int) -> Show | None:
    """The show with its episodes, or None when TVDB does not know the id."""
    key = f"skyhook:show:{int(tvdb_id)}"
    cached = soft_get(key)
    if cached == _MISSING:
        return None
    if isinstance(cached, Show):
        return cached
    doc = _get(f"/v1/tvdb/shows/en/{int(tvdb_id)}", {}, missing_ok=True)
    if doc is None:
        _cache_set(key, _MISSING)
        return None
    if not isinstance(doc, Mapping):
        raise _failed(f"SkyHook answered show {tvdb_id} with something not an object.")
    found = _parse_show(doc, f"show {tvdb_id}")
    _cache_set(key, found)
    return found


def show_if_reachable(tvdb_id: int | None) -> Show | None:
    """`show(tvdb_id)`, or None without an id or while SkyHook fails (logged): for
    naming that falls back to the site's own numbering."""
    if not tvdb_id:
        return None
    try:
        return show(tvdb_id)
    except SkyHookError as exc:
        log.warning("SkyHook unavailable for tvdb %s: %s", tvdb_id, exc)
        return None


def tvdb_id_if_reachable(title: str) -> int | None:
    """`find_tvdb_id(title)`, or None while SkyHook fails (logged)."""
    if not title:
        return None
    try:
        return find_tvdb_id(title)
    except SkyHookError as exc:
        log.warning("no TVDB id for %r: %s", title, exc)
        return None


def search(term: str) -> list[Show]:
    """Shows for a title (or `imdb:`/`tmdb:` term), best first, without episodes."""
    term = term.strip().lower()
    if not term:
        return []
    key = "skyhook:search:" + hashlib.sha1(term.encode(), usedforsecurity=False).hexdigest()
    cached = soft_get(key)
    if isinstance(cached, list):
        return cached
    doc = _get("/v1/tvdb/search/en/", {"term": term})
    if not isinstance(doc, list):
        raise _failed(f"SkyHook answered the search for {term!r} with something not a list.")
    found = [_parse_show(item, f"search {term!r}") for item in doc if isinstance(item, Mapping)]
    _cache_set(key, found)
    return found


def find_by_imdb(imdb_id: str) -> list[Show]:
    """Shows with this IMDb id (`tt0944947`); [] for something that is not one."""
    imdb_id = imdb_id.strip().lower()
    if imdb_id.isdigit():  # Torznab sends the digits without "tt"
        imdb_id = f"tt{int(imdb_id):07d}"
    if not _IMDB_ID.match(imdb_id):
        return []
    return search(f"imdb:{imdb_id}")


def find_by_tmdb(tmdb_id: int) -> list[Show]:
    """Shows with this TMDB (TV) id."""
    return search(f"tmdb:{int(tmdb_id)}") if int(tmdb_id) > 0 else []


def find_tvdb_id(title: str, year: int | None = None) -> int | None:
    """The TVDB id of the show named `title` (main or alternate title, same normal form).

    A search hit counts only if one of its titles normalises to the query's form, so a
    merely similar show is not taken; with several, the one from `year` wins.
    """
    wanted = parse_query(title).key
    if not wanted:
        return None
    named = [s for s in search(title) if any(parse_query(t).key == wanted for t in s.titles)]
    if year is not None:
        named.sort(key=lambda s: abs((s.year or 0) - year))
    return named[0].tvdb_id if named else None


# -- HTTP -------------------------------------------------------------------------------


def _get(path: str, params: dict[str, str], *, missing_ok: bool = False) -> Any:
    base = settings.CONFIG.skyhook_base_url
    try:
        breaker.check(CIRCUIT)
    except breaker.CircuitOpen as exc:
        raise SkyHookError(f"SkyHook ({base}) failed less than a minute ago: {exc}") from None
    timeout = settings.CONFIG.specials_metadata_timeout_seconds
    try:
        response = _session().get(base + path, params=params, headers=_HEADERS, timeout=timeout)
    except (ssrf.BlockedTarget, requests.RequestException) as exc:
        hint = "check SKYHOOK_BASE_URL and the network."
        raise _failed(sessions.failure(f"SkyHook ({base})", exc, hint)) from None
    if response.status_code == 404 and missing_ok:
        return None
    if response.status_code != 200:
        raise _failed(f"SkyHook ({base}) answered {path} with HTTP {response.status_code}.")
    try:
        return response.json()
    except ValueError:
        raise _failed(f"SkyHook ({base}) answered {path} with invalid JSON.") from None


def _session() -> requests.Session:
    # One per thread, as in catalog.sites.http: requests.Session is not documented as
    # thread-safe, and probes ask SkyHook from pool threads.
    current: requests.Session | None = getattr(_local, "session", None)
    if current is None:
        current = _local.session = sessions.checked_session()
    return current


def _failed(reason: str) -> SkyHookError:
    """Open SkyHook's circuit for BACKOFF_SECONDS and say why, once; the error to raise."""
    breaker.trip(CIRCUIT, reason, BACKOFF_SECONDS)
    log.warning("%s Searches go without SkyHook for %d s.", reason, BACKOFF_SECONDS)
    return SkyHookError(reason)


# -- parsing ----------------------------------------------------------------------------


def _parse_show(doc: Mapping[str, Any], what: str) -> Show:
    try:
        first_aired = str(doc.get("firstAired") or "")
        return Show(
            tvdb_id=int(doc["tvdbId"]),
            title=str(doc.get("title") or ""),
            alternate_titles=_alternate_titles(doc.get("alternativeTitles")),
            year=int(first_aired[:4]) if first_aired[:4].isdigit() else None,
            imdb_id=str(doc["imdbId"]) if doc.get("imdbId") else None,
            episodes=tuple(
                sorted(
                    (_parse_episode(e) for e in doc.get("episodes") or ()),
                    key=lambda e: (e.season, e.episode),
                )
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _failed(f"SkyHook sent an unreadable {what} ({exc!r}).") from None


def _alternate_titles(raw: Any) -> tuple[str, ...]:
    # Sonarr's own ShowResource has no alternate titles; accept the {title} objects or
    # plain strings where a SkyHook instance sends them.
    titles: list[str] = []
    for item in raw or ():
        text = item.get("title") if isinstance(item, Mapping) else item
        if isinstance(text, str) and text.strip():
            titles.append(text.strip())
    return tuple(titles)


def _parse_episode(doc: Mapping[str, Any]) -> ShowEpisode:
    absolute = doc.get("absoluteEpisodeNumber")
    air = str(doc.get("airDate") or "")
    return ShowEpisode(
        season=int(doc["seasonNumber"]),
        episode=int(doc["episodeNumber"]),
        absolute=int(absolute) if absolute else None,
        title=str(doc.get("title") or ""),
        air_date=_date(air),
    )


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


# -- cache ------------------------------------------------------------------------------


def _cache_set(key: str, value: Any, timeout: float | None = None) -> None:
    if timeout is None:
        timeout = settings.CONFIG.specials_metadata_cache_ttl_minutes * 60
    soft_set(key, value, timeout)
