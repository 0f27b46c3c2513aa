"""What a Torznab search finds: the series, the episodes asked for, the releases to offer.

Searches answer from the availability cache. Episodes not in it are probed by the
Celery workers (probing loads hoster pages through libraries that would block the web
process, see torznab.availability) while this request waits until its deadline,
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
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from django.conf import settings

from catalog import lookup, numbering, skyhook, specials, watching
from catalog.identity import EpisodeIdentity
from catalog.magnet import Mode, build_magnet, info_hash
from catalog.naming import build_release_name
from torznab.availability import Known, availability_by_deadline
from torznab.feed import Item
from torznab.params import Query

log = logging.getLogger(__name__)

SEARCH_DEADLINE_SECONDS = 20.0
DEFAULT_HEIGHT = 1080
# Languages to offer per site, best first (the original's defaults, plus English Dub).
SITE_LANGUAGES = {
    "aniworld.to": ("German Dub", "German Sub", "English Sub", "English Dub"),
    "s.to": ("German Dub", "English Dub", "German Sub"),
    "megakino": ("German Dub",),
}
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
        items = _test_items()
    else:
        items = _series_items(query, deadline)
    items = [i for i in items if _category_matches(i, query.categories)]
    return items[query.offset : query.offset + query.limit]


# -- categories and sizes ------------------------------------------------------------------


def _category_matches(item: Item, wanted: tuple[int, ...]) -> bool:
    if not wanted:
        return True
    return any(cat in wanted or (cat // 1000) * 1000 in wanted for cat in item.categories)


def _tv_categories(site: str, height: int | None) -> tuple[int, ...]:
    cfg = settings.CONFIG
    if site == "aniworld.to":
        return (5000, cfg.torznab_cat_anime)
    return (5000, 5040 if (height or DEFAULT_HEIGHT) >= 720 else 5030)


def _size(height: int | None, minutes: int) -> int:
    h = height or DEFAULT_HEIGHT
    per_minute = next(mb for floor, mb in MB_PER_MINUTE if h >= floor)
    return per_minute * minutes * 1024 * 1024


def _group(site: str) -> str:
    cfg = settings.CONFIG
    return {"aniworld.to": cfg.release_group_aniworld, "s.to": cfg.release_group_sto}.get(
        site, "megakino"
    )


# -- items -----------------------------------------------------------------------------------


def _variants() -> tuple[bool, ...]:
    mode = settings.CONFIG.strm_files_mode
    return {"no": (False,), "both": (False, True), "only": (True,)}[mode]


def _item(
    identity: EpisodeIdentity,
    name: str,
    strm: bool,
    size: int,
    categories: tuple[int, ...],
    published: datetime,
    extra: dict[str, str],
) -> Item:
    cfg = settings.CONFIG
    mode: Mode = "strm" if strm else "download"
    magnet, btih = _magnet(identity, name, mode)
    attrs = {
        "seeders": str(cfg.torznab_fake_seeders),
        "peers": str(cfg.torznab_fake_seeders + cfg.torznab_fake_leechers),
        "leechers": str(cfg.torznab_fake_leechers),
        "language": AUDIO.get(identity.language, "German"),
        **extra,
    }
    if identity.language in SUBS:
        attrs["subs"] = SUBS[identity.language]
    return Item(
        title=name,
        guid=f"anibridge-{btih}",
        magnet=magnet,
        infohash=btih,
        size=size,
        published=published,
        categories=categories,
        attrs=attrs,
    )


# Identities validate their fields when made; a season search makes ~100 of the same.
_identity = lru_cache(maxsize=16384)(EpisodeIdentity)
# Names are a pure function of their parts; a cached search asks for the same ones again.
_release_name = lru_cache(maxsize=8192)(build_release_name)


@lru_cache(maxsize=8192)
def _magnet(identity: EpisodeIdentity, name: str, mode: Mode) -> tuple[str, str]:
    """The magnet and btih of a release; a cached search asks for the same ones again."""
    return build_magnet(identity, name, mode=mode), info_hash(identity, mode=mode)


def _test_items() -> list[Item]:
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
    items = []
    for strm in _variants():
        name = build_release_name(
            title=cfg.torznab_test_title,
            site=identity.site,
            language=identity.language,
            season=identity.season,
            episode=identity.episode,
            height=DEFAULT_HEIGHT,
            source=cfg.source_tag,
            group=_group(identity.site),
            strm=strm,
        )
        items.append(
            _item(
                identity,
                name,
                strm,
                _size(DEFAULT_HEIGHT, EPISODE_MINUTES),
                _tv_categories(identity.site, DEFAULT_HEIGHT),
                datetime.now(UTC),
                {},
            )
        )
    return items


def _episode_items(
    target: Target, wanted: Wanted, identity: EpisodeIdentity, row: Known
) -> list[Item]:
    cfg = settings.CONFIG
    items = []
    extra = {"tvdbid": str(target.tvdb_id)} if target.tvdb_id else {}
    for strm in _variants():
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
                group=_group(target.site),
                strm=strm,
            )
        except ValueError as exc:
            log.warning("%s: no release name: %s", identity, exc)
            return []
        published = row.checked_at if row.checked_at else datetime.now(UTC)
        items.append(
            _item(
                identity,
                name,
                strm,
                _size(row.height, EPISODE_MINUTES),
                _tv_categories(target.site, row.height),
                published,
                extra,
            )
        )
    return items


# -- series -----------------------------------------------------------------------------------


def _target(query: Query, deadline: float) -> tuple[Target | None, int | None]:
    """`_find_target`, again after a refresh of the title indexes when it missed."""
    target, absolute = _find_target(query)
    if target is None and lookup.refreshed_after_miss(deadline):
        target, absolute = _find_target(query)
    return target, absolute


def _find_target(query: Query) -> tuple[Target | None, int | None]:
    """The series and, for anime searches (`q=05`, `q=Title 05`), the absolute number."""
    absolute = None
    q = query.q
    if query.tvdbid:
        match = lookup.find_series_by_tvdb(query.tvdbid)
        if q and _ABSOLUTE_Q.match(q):
            absolute = int(q)
        title = _skyhook_title(query.tvdbid) or q
        if match is None and q and absolute is None:
            match = lookup.find_series(q)
        if match is None:
            return None, None
        return Target(match.site, match.slug, title, query.tvdbid), absolute
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


def _wanted(query: Query, target: Target, absolute: int | None) -> list[Wanted]:
    """Episodes to offer, with the site's numbers (to fetch) and Sonarr's (to name)."""
    cfg = settings.CONFIG
    show = _show(target.tvdb_id)
    if absolute is not None:
        return _by_absolute(target, show, absolute)
    if query.season == 0:
        return _specials(query, target)
    sizes = numbering.site_seasons(target.site, target.slug)  # once: per episode adds up
    if query.season is not None and query.episode is not None:
        return [_sonarr_episode(target, show, sizes, query.season, query.episode)]
    season = query.season
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
    seasons agree with the site's, else counting episodes through the site's seasons."""
    if target.site != "aniworld.to":
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


def _specials(query: Query, target: Target) -> list[Wanted]:
    """Sonarr's S00Exx -> the AniWorld film it is (season 0 episode N on the site)."""
    tvdb_id = target.tvdb_id
    if tvdb_id is None and target.site == "aniworld.to":
        tvdb_id = _tvdb_for_title(target.title)
    if not settings.CONFIG.specials_metadata_enabled or target.site != "aniworld.to" or not tvdb_id:
        return [] if query.episode is None else [Wanted(0, query.episode, 0, query.episode)]
    if query.episode is not None:
        mapping = specials.mapping_for_special(target.slug, tvdb_id, query.episode)
        return [Wanted(0, mapping.film, 0, query.episode)] if mapping else []
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


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _series_items(query: Query, deadline: float) -> list[Item]:
    cfg = settings.CONFIG
    target, absolute = _target(query, deadline)
    if target is None:
        log.info("torznab: no series for q=%r tvdbid=%s", query.q, query.tvdbid)
        return []
    watching.note_search(target.site, target.slug, target.title, target.tvdb_id)
    wanted = _wanted(query, target, absolute)
    if not wanted:
        return []
    languages = SITE_LANGUAGES.get(target.site, ("German Dub",))
    single = len(wanted) == 1
    if not single and cfg.torznab_season_search_mode == "fast":
        wanted = wanted[: max(1, query.limit // len(languages) + 1)]
    per_episode = {
        (w.season, w.episode): [
            _identity(target.site, target.slug, w.season, w.episode, lang) for lang in languages
        ]
        for w in wanted
    }
    identities = [i for group in per_episode.values() for i in group]
    rows = availability_by_deadline(identities, _remaining(deadline))
    items: list[Item] = []
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
            items.extend(_episode_items(target, w, identity, row))
    return items


# -- movies ------------------------------------------------------------------------------------


def _movie_items(query: Query, deadline: float) -> list[Item]:
    cfg = settings.CONFIG
    q = query.q
    year = None
    m = re.match(r"^(?P<title>.+?)\s+\(?(?P<year>(19|20)\d{2})\)?$", q)
    if m:
        q, year = m.group("title"), int(m.group("year"))
    if not q:
        return []  # Radarr's id-only request: no title to search by without TMDB
    match = lookup.find_movie(q, year)
    if (
        match is None
        and not lookup.film_in_index(q, year)
        and lookup.refreshed_after_miss(deadline, films=True)
    ):
        match = lookup.find_movie(q, year)
    if match is None:
        return []
    identity = EpisodeIdentity(match.site, match.slug, 0, match.film, "German Dub")
    rows = availability_by_deadline([identity], _remaining(deadline))
    row = rows.get(identity)
    if row is None or not row.available:
        return []
    items = []
    for strm in _variants():
        name = build_release_name(
            title=q,
            site=match.site,
            language=row.language,
            year=year,
            height=row.height,
            vcodec=row.vcodec or None,
            source=cfg.source_tag,
            group=_group(match.site),
            strm=strm,
        )
        cats = (2000, cfg.torznab_cat_movie if cfg.torznab_cat_movie != 2000 else 2040)
        extra = {"imdb": query.imdbid} if query.imdbid else {}
        items.append(
            _item(
                identity,
                name,
                strm,
                _size(row.height, MOVIE_MINUTES),
                cats,
                row.checked_at or datetime.now(UTC),
                extra,
            )
        )
    return items
