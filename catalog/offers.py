"""What to offer for a search: the releases of the episodes (or film) a Sonarr or Radarr
search means, named in Sonarr's numbering, each with what a probe found.

Sonarr numbers episodes by TVDB; anime sites number them their own way
(catalog.numbering maps one to the other), and Sonarr's specials (S00Exx) are
AniWorld's films (catalog.specials). Availability comes from the cache, or from probes
by the workers until the caller's deadline (catalog.availability); an episode not known
by then is left out, and its probe finishes for the next search.

Which site offers which languages, numbers episodes like anime or names releases with
which group is catalog.registry's.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from django.conf import settings

from catalog import lookup, numbering, registry, skyhook, specials
from catalog.availability import Known, availability_by_deadline
from catalog.identity import EpisodeIdentity
from catalog.naming import build_release_name

__all__ = [
    "DEFAULT_HEIGHT",
    "Known",
    "Release",
    "Target",
    "Wanted",
    "episode_releases",
    "find_series",
    "identity",
    "movie_releases",
    "series_releases",
    "test_releases",
    "variants",
]

log = logging.getLogger(__name__)

DEFAULT_HEIGHT = 1080  # a release no probe measured is named and sized as 1080p
_ABSOLUTE_Q = re.compile(r"^\d{1,4}$")
_TRAILING_NUMBER = re.compile(r"^(?P<title>.+?)\s+(?P<number>\d{1,4})$")


@dataclass(frozen=True)
class Target:
    """The series a search is about and the title its releases carry."""

    site: str
    slug: str
    title: str  # what the *arr client calls it: its query or SkyHook's title
    tvdb_id: int | None = None


@dataclass(frozen=True)
class Wanted:
    """One episode to offer: where it is on the site and how Sonarr numbers it."""

    season: int  # on the site
    episode: int
    name_season: int  # in the release name (Sonarr's numbering)
    name_episode: int
    absolute: int | None = None


@dataclass(frozen=True)
class Release:
    """One release to offer: the episode, its name, and what a probe found of it."""

    identity: EpisodeIdentity
    name: str
    strm: bool  # the STRM variant (a .strm file instead of a download)
    height: int | None
    published: datetime
    film: bool = False  # a Radarr film rather than a Sonarr episode
    tvdb_id: int | None = None


def variants() -> tuple[bool, ...]:
    """Which variants each release is offered in (STRM_FILES_MODE): download, STRM, both."""
    mode = settings.CONFIG.strm_files_mode
    return {"no": (False,), "both": (False, True), "only": (True,)}[mode]


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


# Identities validate their fields when made; a season search makes ~100 of the same.
identity = _identity = lru_cache(maxsize=16384)(EpisodeIdentity)
# Names are a pure function of their parts; a cached search asks for the same ones again.
_release_name = lru_cache(maxsize=8192)(build_release_name)


def test_releases(*, film: bool = False) -> list[Release]:
    """The connectivity-test release (TORZNAB_RETURN_TEST_RESULT), or none; `film`: named
    and filed as a film, for Radarr's RSS sync and Test button (`t=movie`, no title)."""
    cfg = settings.CONFIG
    if not cfg.torznab_return_test_result:
        return []
    identity = EpisodeIdentity(
        site="aniworld.to",
        slug=cfg.torznab_test_slug,
        season=cfg.torznab_test_season,
        episode=cfg.torznab_test_episode,
        language=cfg.torznab_test_language,
    )
    now = datetime.now(UTC)
    return [
        Release(
            identity,
            _test_film_name(identity, strm, now.year)
            if film
            else _name(identity, cfg.torznab_test_title, strm, DEFAULT_HEIGHT),
            strm,
            DEFAULT_HEIGHT,
            now,
            film=film,
        )
        for strm in variants()
    ]


def _test_film_name(identity: EpisodeIdentity, strm: bool, year: int) -> str:
    cfg = settings.CONFIG
    return build_release_name(
        title=cfg.torznab_test_title,
        site=identity.site,
        language=identity.language,
        year=year,
        height=DEFAULT_HEIGHT,
        source=cfg.source_tag,
        group=registry.info(identity.site).group(cfg),
        strm=strm,
    )


def _name(identity: EpisodeIdentity, title: str, strm: bool, height: int) -> str:
    cfg = settings.CONFIG
    return build_release_name(
        title=title,
        site=identity.site,
        language=identity.language,
        season=identity.season,
        episode=identity.episode,
        height=height,
        source=cfg.source_tag,
        group=registry.info(identity.site).group(cfg),
        strm=strm,
    )


def episode_releases(
    target: Target, wanted: Wanted, identity: EpisodeIdentity, row: Known
) -> list[Release]:
    """The releases of one episode in one language the probe found available."""
    cfg = settings.CONFIG
    releases = []
    published = row.checked_at if row.checked_at else datetime.now(UTC)
    for strm in variants():
        try:
            name = _release_name(
                title=target.title,
                site=target.site,
                language=row.language,
                season=wanted.name_season,
                episode=wanted.name_episode,
                absolute=wanted.absolute,
                height=row.height,
                vcodec=row.vcodec or None,
                source=cfg.source_tag,
                group=registry.info(target.site).group(cfg),
                strm=strm,
            )
        except ValueError as exc:
            log.warning("%s: no release name: %s", identity, exc)
            return []
        releases.append(
            Release(identity, name, strm, row.height, published, tvdb_id=target.tvdb_id)
        )
    return releases


# -- series -----------------------------------------------------------------------------


def find_series(q: str, tvdb_id: int | None, deadline: float) -> tuple[Target | None, int | None]:
    """The series a search means and, for anime searches (`q=05`, `q=Title 05`), the
    absolute number; searched again after a refresh of the title indexes when it missed."""
    target, absolute = _find_target(q, tvdb_id)
    if target is None and lookup.refreshed_after_miss(deadline):
        target, absolute = _find_target(q, tvdb_id)
    return target, absolute


def _find_target(q: str, tvdb_id: int | None) -> tuple[Target | None, int | None]:
    absolute = None
    if tvdb_id:
        match = lookup.find_series_by_tvdb(tvdb_id)
        if q and _ABSOLUTE_Q.match(q):
            absolute = int(q)
        title = _skyhook_title(tvdb_id) or q
        if match is None and q and absolute is None:
            match = lookup.find_series(q)
        if match is None:
            return None, None
        return Target(match.site, match.slug, title, tvdb_id), absolute
    if not q:
        return None, None
    match = lookup.find_series(q)
    trailing = _TRAILING_NUMBER.match(q)
    if trailing and (match is None or match.score < 99):
        shorter = lookup.find_series(trailing.group("title"))
        if shorter is not None and (match is None or shorter.score > match.score):
            return Target(shorter.site, shorter.slug, trailing.group("title")), int(
                trailing.group("number")
            )
    if match is None:
        return None, None
    return Target(match.site, match.slug, q), None


def _skyhook_title(tvdb_id: int) -> str | None:
    try:
        show = skyhook.show(tvdb_id)
    except skyhook.SkyHookError as exc:
        log.info("torznab: SkyHook has no title for tvdb %s: %s", tvdb_id, exc)
        return None
    return show.title if show is not None else None


def series_releases(
    target: Target,
    *,
    season: int | None,
    episode: int | None,
    absolute: int | None,
    limit: int,
    deadline: float,
) -> list[Release]:
    """The available releases of the episodes asked for: one episode, a season (up to
    TORZNAB_SEASON_SEARCH_MAX_EPISODES; in `fast` mode only about `limit` releases),
    the first season for a title search, or the episode with an absolute number."""
    cfg = settings.CONFIG
    wanted = _wanted(target, season, episode, absolute)
    if not wanted:
        return []
    languages = registry.info(target.site).languages
    single = len(wanted) == 1
    if not single and cfg.torznab_season_search_mode == "fast":
        wanted = wanted[: max(1, limit // len(languages) + 1)]
    per_episode = {
        (w.season, w.episode): [
            _identity(target.site, target.slug, w.season, w.episode, lang) for lang in languages
        ]
        for w in wanted
    }
    identities = [i for group in per_episode.values() for i in group]
    rows = availability_by_deadline(identities, _remaining(deadline))
    releases: list[Release] = []
    misses = 0
    for w in wanted:
        offered = [(i, rows[i]) for i in per_episode[(w.season, w.episode)] if i in rows]
        available = [(i, r) for i, r in offered if r.available]
        if not available and offered:
            misses += 1
            if misses >= cfg.torznab_season_search_max_consecutive_misses and not single:
                break
            continue
        misses = 0
        for identity, row in available:
            releases.extend(episode_releases(target, w, identity, row))
    return releases


def _wanted(
    target: Target, season: int | None, episode: int | None, absolute: int | None
) -> list[Wanted]:
    """Episodes to offer, with the site's numbers (to fetch) and Sonarr's (to name)."""
    cfg = settings.CONFIG
    show = _show(target.tvdb_id)
    if absolute is not None:
        return _by_absolute(target, show, absolute)
    if season == 0:
        return _specials(target, episode)
    sizes = numbering.site_seasons(target.site, target.slug)  # once: per episode adds up
    if season is not None and episode is not None:
        return [_sonarr_episode(target, show, sizes, season, episode)]
    if season is None:  # a title search: the first season
        season = 1
    numbers: list[int]
    if show is not None and show.season_sizes().get(season):
        numbers = list(range(1, show.season_sizes()[season] + 1))
    else:
        numbers = list(range(1, sizes.get(season, 0) + 1))
        numbers = numbers or list(range(1, cfg.torznab_season_search_max_episodes + 1))
    numbers = numbers[: cfg.torznab_season_search_max_episodes]
    return [_sonarr_episode(target, show, sizes, season, n) for n in numbers]


def _show(tvdb_id: int | None) -> skyhook.Show | None:
    if not tvdb_id:
        return None
    try:
        return skyhook.show(tvdb_id)
    except skyhook.SkyHookError as exc:
        log.info("torznab: SkyHook unavailable for tvdb %s: %s", tvdb_id, exc)
        return None


def _by_absolute(target: Target, show: skyhook.Show | None, absolute: int) -> list[Wanted]:
    found = numbering.site_episode_for_absolute(target.site, target.slug, absolute, target.tvdb_id)
    if found is None:
        return []
    sonarr = show.by_absolute(absolute) if show is not None else None
    name = (sonarr.season, sonarr.episode) if sonarr is not None else (found.season, found.episode)
    return [Wanted(found.season, found.episode, name[0], name[1], absolute)]


def _sonarr_episode(
    target: Target, show: skyhook.Show | None, sizes: dict[int, int], season: int, episode: int
) -> Wanted:
    """Sonarr's S/E -> the site's, by catalog.numbering's rule: TVDB's numbers when its
    seasons agree with the site's, else counting episodes through the site's seasons.
    Only anime sites number their own way; elsewhere the numbers are Sonarr's."""
    if not registry.info(target.site).anime:
        return Wanted(season, episode, season, episode)
    sonarr = show.episode(season, episode) if show is not None else None
    if show is None or sonarr is None or sonarr.absolute is None:
        return Wanted(
            season, episode, season, episode, numbering.absolute_by_counting(sizes, season, episode)
        )
    if numbering.seasons_agree(sizes, show.season_sizes()):
        return Wanted(season, episode, season, episode, sonarr.absolute)
    counted = numbering.episode_by_counting(sizes, sonarr.absolute)
    if counted is None:
        return Wanted(season, episode, season, episode, sonarr.absolute)
    return Wanted(counted[0], counted[1], season, episode, sonarr.absolute)


def _specials(target: Target, episode: int | None) -> list[Wanted]:
    """Sonarr's S00Exx -> the film it is on an anime site (season 0 episode N there)."""
    info = registry.info(target.site)
    maps_specials = info.anime and info.films == "series-pages"
    tvdb_id = target.tvdb_id
    if tvdb_id is None and maps_specials:
        tvdb_id = _tvdb_for_title(target.title)
    if not settings.CONFIG.specials_metadata_enabled or not maps_specials or not tvdb_id:
        return [] if episode is None else [Wanted(0, episode, 0, episode)]
    if episode is not None:
        mapping = specials.mapping_for_special(target.slug, tvdb_id, episode)
        return [Wanted(0, mapping.film, 0, episode)] if mapping else []
    return [
        Wanted(0, m.film, 0, m.sonarr_episode)
        for m in specials.special_mappings(target.slug, tvdb_id)
    ]


def _tvdb_for_title(title: str) -> int | None:
    try:
        return skyhook.find_tvdb_id(title)
    except skyhook.SkyHookError as exc:
        log.info("torznab: no TVDB id for %r: %s", title, exc)
        return None


# -- films ------------------------------------------------------------------------------


def movie_releases(title: str, year: int | None, deadline: float) -> list[Release]:
    """The releases of the film Radarr's title (and year) names, if a probe found it."""
    cfg = settings.CONFIG
    match = lookup.find_movie(title, year)
    if (
        match is None
        and not lookup.film_in_index(title, year)
        and lookup.refreshed_after_miss(deadline, films=True)
    ):
        match = lookup.find_movie(title, year)
    if match is None:
        return []
    identity = EpisodeIdentity(match.site, match.slug, 0, match.film, "German Dub")
    row = availability_by_deadline([identity], _remaining(deadline)).get(identity)
    if row is None or not row.available:
        return []
    releases = []
    for strm in variants():
        name = build_release_name(
            title=title,
            site=match.site,
            language=row.language,
            year=year,
            height=row.height,
            vcodec=row.vcodec or None,
            source=cfg.source_tag,
            group=registry.info(match.site).group(cfg),
            strm=strm,
        )
        published = row.checked_at or datetime.now(UTC)
        releases.append(Release(identity, name, strm, row.height, published, film=True))
    return releases
