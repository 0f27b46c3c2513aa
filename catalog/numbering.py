"""Absolute episode numbers (Sonarr's anime searches, `q=05` with a tvdbid) <-> the
(season, episode) a site uses.

The rule, in this order:

1. TVDB, when the site's seasons match TVDB's: every regular season on the site has
   as many episodes as the TVDB season of the same number, except the site's last
   season, which may have fewer (it is still airing, or our cached count is older
   than the newest upload). Then SkyHook's `absoluteEpisodeNumber` says which
   (season, episode) an absolute number is, and the other way round.
2. Otherwise (TVDB has one long season where the site splits it in two, or the
   reverse; no tvdbid; SkyHook down or without absolute numbers): count through the
   site's regular seasons in order, so absolute N is the N-th episode on the site.
   A number past the site's last known episode lands in the last season (the episode
   may be newer than the cached season sizes; probing will tell).

Season 0 (films, specials) has no absolute numbers; see catalog.specials.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from catalog import skyhook
from catalog.sites import get_site
from catalog.sites.base import NotOnSite, SiteError
from catalog.softcache import soft_get, soft_set

__all__ = [
    "SITE_ORDER",
    "TVDB",
    "SiteEpisode",
    "absolute_by_counting",
    "absolute_for_site_episode",
    "episode_by_counting",
    "seasons_agree",
    "site_episode_for_absolute",
    "site_seasons",
]

log = logging.getLogger(__name__)

TVDB = "tvdb"
SITE_ORDER = "site-order"
# Season sizes grow by one episode a week at most; an hour-old count is close enough
# (rule 2 lets numbers past the count land in the last season).
SEASONS_CACHE_SECONDS = 60 * 60


@dataclass(frozen=True)
class SiteEpisode:
    season: int  # on the site
    episode: int  # on the site
    absolute: int
    rule: str  # TVDB or SITE_ORDER: which rule mapped it


# -- pure rules -------------------------------------------------------------------------


def seasons_agree(site: Mapping[int, int], tvdb: Mapping[int, int]) -> bool:
    """Rule 1's condition: the site's regular seasons have TVDB's sizes (last: at most)."""
    numbers = sorted(s for s in site if s > 0)
    if not numbers:
        return False
    *complete, last = numbers
    if any(tvdb.get(s) != site[s] for s in complete):
        return False
    return last in tvdb and site[last] <= tvdb[last]


def episode_by_counting(sizes: Mapping[int, int], absolute: int) -> tuple[int, int] | None:
    """Rule 2: the (season, episode) that is the `absolute`-th episode of the regular seasons."""
    numbers = sorted(s for s in sizes if s > 0)
    if absolute < 1 or not numbers:
        return None
    remaining = absolute
    for season in numbers:
        if remaining <= sizes[season]:
            return season, remaining
        remaining -= sizes[season]
    last = numbers[-1]
    return last, sizes[last] + remaining


def absolute_by_counting(sizes: Mapping[int, int], season: int, episode: int) -> int | None:
    """Rule 2 reversed: the position of (season, episode) among the regular seasons."""
    numbers = sorted(s for s in sizes if s > 0)
    if season not in numbers or episode < 1:
        return None
    if episode > sizes[season] and season != numbers[-1]:
        return None  # past the end of a season that has a successor: not an episode
    return sum(sizes[s] for s in numbers if s < season) + episode


# -- with the site and SkyHook ----------------------------------------------------------


def site_seasons(site: str, slug: str) -> dict[int, int]:
    """Regular season -> episode count on the site (cached for an hour); {} if unknown."""
    key = f"catalog:seasons:{site}:{slug}"
    cached = soft_get(key)
    if isinstance(cached, dict):
        return cached
    try:
        sizes = {s: n for s, n in get_site(site).seasons(slug).items() if s > 0 and n > 0}
    except (NotOnSite, SiteError) as exc:  # a site failure was logged by its breaker
        log.info("seasons of %s/%s unknown: %s", site, slug, exc)
        return {}
    if sizes:
        soft_set(key, sizes, SEASONS_CACHE_SECONDS)
    return sizes


def _agreeing_show(sizes: Mapping[int, int], tvdb_id: int | None) -> skyhook.Show | None:
    """The SkyHook show when rule 1 applies to it, else None."""
    if tvdb_id is None:
        return None
    try:
        show = skyhook.show(tvdb_id)
    except skyhook.SkyHookError as exc:  # logged once by catalog.skyhook
        log.info("absolute numbering for tvdb %s falls back to site order: %s", tvdb_id, exc)
        return None
    if show is None or not seasons_agree(sizes, show.season_sizes()):
        return None
    return show


def site_episode_for_absolute(
    site: str, slug: str, absolute: int, tvdb_id: int | None = None
) -> SiteEpisode | None:
    """The site's (season, episode) for Sonarr's absolute number, by the module's rule."""
    sizes = site_seasons(site, slug)
    show = _agreeing_show(sizes, tvdb_id)
    if show is not None:
        known = show.by_absolute(absolute)
        if known is not None and known.season > 0:
            return SiteEpisode(known.season, known.episode, absolute, TVDB)
    counted = episode_by_counting(sizes, absolute)
    if counted is None:
        return None
    return SiteEpisode(counted[0], counted[1], absolute, SITE_ORDER)


def absolute_for_site_episode(
    site: str, slug: str, season: int, episode: int, tvdb_id: int | None = None
) -> int | None:
    """The absolute number of the site's (season, episode), for anime release names."""
    if season < 1:
        return None
    sizes = site_seasons(site, slug)
    show = _agreeing_show(sizes, tvdb_id)
    if show is not None:
        known = show.episode(season, episode)
        if known is not None and known.absolute is not None:
            return known.absolute
    return absolute_by_counting(sizes, season, episode)
