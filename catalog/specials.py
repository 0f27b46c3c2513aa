"""AniWorld films <-> Sonarr specials (season 0), matched by title.

AniWorld hosts a series' films and specials as `/filme/film-N` (season 0, episode N on
our side) in its own order; TVDB numbers the same specials S00E01... in another. A
mapping pairs the *source* (what AniWorld hosts: S00E<film>) with the *alias* (what
Sonarr expects: S00E<sonarr_episode>): probing and downloading use the source,
release names the alias, so Sonarr imports the file as the special it asked for.

Pairs are chosen once for a whole series, best title similarity first and each film
and each special used once, so both directions (`mapping_for_special`,
`mapping_for_film`) always agree. A pair counts only at
SPECIALS_MATCH_CONFIDENCE_THRESHOLD (0..1) or above, and only while
SPECIALS_METADATA_ENABLED is on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from rapidfuzz.distance import Indel

from catalog import skyhook
from catalog.sites import get_site
from catalog.softcache import soft_get, soft_set
from catalog.streams import ResolveError
from catalog.titles import parse_query

__all__ = [
    "SpecialMapping",
    "mapping_for_film",
    "mapping_for_special",
    "site_film_titles",
    "special_mappings",
    "title_similarity",
]

log = logging.getLogger(__name__)

ANIWORLD = "aniworld.to"
# Film lists change when a film is added, which is rare; an hour late is fine.
FILMS_CACHE_SECONDS = 60 * 60
# Share of the similarity that comes from the spelled-out titles (word order, spelling).
SPELLING_WEIGHT = 0.25
# Words with one-edit spelling differences still pair ("kyoujin"/"kyojin").
MIN_TOKEN_SIMILARITY = 0.8
# Function words say little about which film is meant.
_FILLER = frozenset({"the", "a", "an", "of", "and", "to", "in", "on", "no", "der", "die", "das"})
_FILLER_WEIGHT = 0.25


@dataclass(frozen=True)
class SpecialMapping:
    slug: str
    film: int  # source: AniWorld season 0, episode `film` (/filme/film-N)
    sonarr_episode: int  # alias: Sonarr's S00E<sonarr_episode>
    film_title: str
    special_title: str
    confidence: float  # 0..1

    @property
    def source(self) -> tuple[int, int]:
        return (0, self.film)

    @property
    def alias(self) -> tuple[int, int]:
        return (0, self.sonarr_episode)


# -- title similarity -------------------------------------------------------------------


def title_similarity(a: str, b: str, drop: Iterable[str] = ()) -> float:
    """0..1: how surely two titles name the same film or special.

    `drop` are series names that may lead either title ("Kaiju Academy the Movie: Red
    Tide" vs "The Movie: Red Tide"); both forms are compared and the best counts.
    Titles with different numbers ("Movie 2" vs "Movie 3") never match.
    """
    prefixes = [p for p in (parse_query(d).full for d in drop) if p]
    return max(
        (_similarity(x, y) for x in _forms(a, prefixes) for y in _forms(b, prefixes)),
        default=0.0,
    )


def _forms(title: str, prefixes: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    tokens = parse_query(title).full
    forms = [tokens]
    for prefix in prefixes:
        if len(tokens) > len(prefix) and tokens[: len(prefix)] == prefix:
            rest = tokens[len(prefix) :]
            forms.append(rest[1:] if len(rest) > 1 and rest[0] in _FILLER else rest)
    return [f for f in forms if f]


def _weight(token: str) -> float:
    return _FILLER_WEIGHT if token in _FILLER else 1.0


def _similarity(x: tuple[str, ...], y: tuple[str, ...]) -> float:
    numbers_x = {t for t in x if t.isdigit()}
    numbers_y = {t for t in y if t.isdigit()}
    if numbers_x and numbers_y and numbers_x != numbers_y:
        return 0.0
    matched_x, matched_y = _matched_weights(x, y)
    recall = matched_x / sum(map(_weight, x))
    precision = matched_y / sum(map(_weight, y))
    f1 = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
    spelled = Indel.normalized_similarity(" ".join(x), " ".join(y))
    return (1 - SPELLING_WEIGHT) * f1 + SPELLING_WEIGHT * spelled


def _matched_weights(x: tuple[str, ...], y: tuple[str, ...]) -> tuple[float, float]:
    """Weight of x's and y's words paired with a word of the other (exact, then spelling)."""
    free = list(range(len(y)))
    matched_x = matched_y = 0.0
    pending: list[str] = []
    for token in x:
        j = next((j for j in free if y[j] == token), None)
        if j is None:
            pending.append(token)
            continue
        free.remove(j)
        matched_x += _weight(token)
        matched_y += _weight(y[j])
    for token in pending:
        if token.isdigit():
            continue
        scored = [(Indel.normalized_similarity(token, y[j]), j) for j in free if not y[j].isdigit()]
        similarity, j = max(scored, default=(0.0, -1))
        if similarity >= MIN_TOKEN_SIMILARITY:
            free.remove(j)
            matched_x += _weight(token) * similarity
            matched_y += _weight(y[j]) * similarity
    return matched_x, matched_y


# -- the site's films -------------------------------------------------------------------


def site_film_titles(slug: str, site: str = ANIWORLD) -> dict[int, str]:
    """The films of a series (AniWorld's by default): film number -> title (cached
    for an hour)."""
    key = f"catalog:films:{site}:{slug}"
    cached = soft_get(key)
    if isinstance(cached, dict):
        return cached
    films = get_site(site).film_titles(slug)
    soft_set(key, films, FILMS_CACHE_SECONDS)
    return films


# -- mappings ---------------------------------------------------------------------------


def special_mappings(slug: str, tvdb_id: int) -> list[SpecialMapping]:
    """Every film of the AniWorld series paired with its Sonarr special, where one fits."""
    cfg = settings.CONFIG
    if not cfg.specials_metadata_enabled:
        return []
    try:
        show = skyhook.show(tvdb_id)
        films = site_film_titles(slug) if show and show.specials else {}
    except (skyhook.SkyHookError, ResolveError) as exc:  # failures were logged where they happened
        log.info("specials of %s/%s (tvdb %s) unknown: %s", ANIWORLD, slug, tvdb_id, exc)
        return []
    if show is None or not films:
        return []
    names = (*show.titles, slug.replace("-", " "))
    scored = sorted(
        (
            (title_similarity(special.title, film_title, drop=names), special, number, film_title)
            for special in show.specials
            for number, film_title in films.items()
        ),
        key=lambda item: (-item[0], item[1].episode, item[2]),
    )
    threshold = cfg.specials_match_confidence_threshold
    mappings: list[SpecialMapping] = []
    used_films: set[int] = set()
    used_specials: set[int] = set()
    for confidence, special, number, film_title in scored:
        if confidence < threshold:
            break
        if number in used_films or special.episode in used_specials:
            continue
        used_films.add(number)
        used_specials.add(special.episode)
        mappings.append(
            SpecialMapping(
                slug, number, special.episode, film_title, special.title, round(confidence, 3)
            )
        )
    return sorted(mappings, key=lambda m: m.sonarr_episode)


def mapping_for_special(slug: str, tvdb_id: int, sonarr_episode: int) -> SpecialMapping | None:
    """The AniWorld film that is Sonarr's S00E<sonarr_episode>, or None."""
    return next(
        (m for m in special_mappings(slug, tvdb_id) if m.sonarr_episode == sonarr_episode), None
    )


def mapping_for_film(slug: str, tvdb_id: int, film: int) -> SpecialMapping | None:
    """The Sonarr special that AniWorld's film-<film> is, or None."""
    return next((m for m in special_mappings(slug, tvdb_id) if m.film == film), None)
