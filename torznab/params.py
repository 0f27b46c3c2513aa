"""Torznab request parameters, validated into a Query (errors in Torznab's own codes)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

FUNCTIONS = {
    "caps": "caps",
    "search": "search",
    "tvsearch": "tvsearch",
    "tv-search": "tvsearch",
    "movie": "movie",
    "movie-search": "movie",
    "moviesearch": "movie",
}
MAX_LIMIT = 100
MAX_OFFSET = 10_000
MAX_QUERY = 300
_DIGITS = re.compile(r"\d{1,12}")


class TorznabError(Exception):
    """An error answered as `<error code=... description=...>`."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@dataclass(frozen=True)
class Query:
    function: str
    q: str = ""
    season: int | None = None
    episode: int | None = None
    daily: bool = False
    tvdbid: int | None = None
    imdbid: str = ""
    tmdbid: int | None = None
    categories: tuple[int, ...] = ()
    offset: int = 0
    limit: int = MAX_LIMIT

    @property
    def has_ids(self) -> bool:
        return bool(self.tvdbid or self.imdbid or self.tmdbid)


def _number(params: Mapping[str, str], name: str, maximum: int) -> int | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    if not _DIGITS.fullmatch(raw) or int(raw) > maximum:
        raise TorznabError(
            201, f"Incorrect parameter: {name} must be a whole number from 0 to {maximum}"
        )
    return int(raw)


def _imdb(params: Mapping[str, str]) -> str:
    raw = params.get("imdbid", "").strip().lower().removeprefix("tt")
    if raw and not _DIGITS.fullmatch(raw):
        raise TorznabError(
            201, "Incorrect parameter: imdbid must be digits, optionally prefixed with tt"
        )
    return raw


def _categories(params: Mapping[str, str]) -> tuple[int, ...]:
    raw = params.get("cat", "").strip()
    if not raw:
        return ()
    cats = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        if not _DIGITS.fullmatch(part):
            raise TorznabError(201, "Incorrect parameter: cat must be comma-separated category ids")
        cats.append(int(part))
    return tuple(cats)


def parse(params: Mapping[str, str]) -> Query:
    raw_t = params.get("t", "").strip().lower()
    if not raw_t:
        raise TorznabError(200, "Missing parameter (t)")
    function = FUNCTIONS.get(raw_t)
    if function is None:
        raise TorznabError(202, f"No such function ({raw_t[:40]})")
    q = params.get("q", "").strip()
    if len(q) > MAX_QUERY:
        raise TorznabError(201, f"Incorrect parameter: q is longer than {MAX_QUERY} characters")
    episode_raw = params.get("ep", "").strip()
    daily = "/" in episode_raw  # season=YYYY&ep=MM/DD: a daily show
    offset = _number(params, "offset", MAX_OFFSET) or 0
    limit = _number(params, "limit", 1_000_000)
    return Query(
        function=function,
        q=q,
        season=_number(params, "season", 9999),
        episode=None if daily else _number(params, "ep", 99999),
        daily=daily,
        tvdbid=_number(params, "tvdbid", 10**12),
        imdbid=_imdb(params),
        tmdbid=_number(params, "tmdbid", 10**12),
        categories=_categories(params),
        offset=offset,
        limit=MAX_LIMIT if not limit else min(limit, MAX_LIMIT),
    )
