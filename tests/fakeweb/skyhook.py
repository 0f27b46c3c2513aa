"""Fake SkyHook (Sonarr's metadata API): `/v1/tvdb/shows/en/<tvdbId>` and
`/v1/tvdb/search/en/?term=`, shaped like skyhook.sonarr.tv's ShowResource.

Shows come from catalog_data: every series (aniworld and s.to) with its regular
episodes (`absoluteEpisodeNumber` counts across seasons; a series' `tvdb_layout`
regroups them into TVDB's seasons) and its `specials` as season 0 (no absolute
number). Search matches the title and alternative titles; the terms `imdb:tt...` and
`tmdb:N` look a show up by id, as the real SkyHook does for Sonarr.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakeweb import catalog_data as data
from tests.fakeweb.server import FakeServer, Request, Response, json_response


def tvdb_numbers(series: data.Series) -> list[tuple[int, int, data.Episode]]:
    """(TVDB season, TVDB episode, episode) in airing order: the site's numbering, or
    `tvdb_layout`'s where TVDB splits the same episodes into other seasons."""
    in_order = [(s.number, e) for s in series.seasons for e in s.episodes]
    if not series.tvdb_layout:
        return [(season, ep.number, ep) for season, ep in in_order]
    numbered = []
    eps = iter(ep for _, ep in in_order)
    for season, size in enumerate(series.tvdb_layout, start=1):
        numbered += [(season, number, next(eps)) for number in range(1, size + 1)]
    return numbered


def show_resource(series: data.Series, *, with_episodes: bool = True) -> dict[str, Any]:
    episodes: list[dict[str, Any]] = []
    for special in series.specials:
        episodes.append(_episode(series, 0, special.number, special.title, special.air_date))
    regular = tvdb_numbers(series)
    for absolute, (season, number, ep) in enumerate(regular, start=1):
        item = _episode(series, season, number, ep.title_en, ep.air_date)
        item["absoluteEpisodeNumber"] = absolute
        episodes.append(item)
    season_numbers = ([0] if series.specials else []) + sorted({s for s, _, _ in regular})
    show: dict[str, Any] = {
        "tvdbId": series.tvdb_id,
        "title": series.title,
        "overview": f"{series.title} is an invented series for tests.",
        "slug": series.slug,
        "originalCountry": "jpn" if series.site == data.ANIWORLD else "usa",
        "originalLanguage": "jpn" if series.site == data.ANIWORLD else "eng",
        "language": "en",
        "firstAired": episodes[len(series.specials)]["airDate"],
        "status": "ended",
        "runtime": 24,
        "imdbId": series.imdb,
        "genres": ["Animation", "Anime"] if series.site == data.ANIWORLD else ["Drama"],
        "alternativeTitles": [{"title": t} for t in series.alt_titles],
        "images": [],
        "seasons": [{"seasonNumber": n, "images": []} for n in season_numbers],
    }
    if with_episodes:
        show["episodes"] = episodes
    return show


def _episode(series: data.Series, season: int, number: int, title: str, air: str) -> dict[str, Any]:
    return {
        "tvdbShowId": series.tvdb_id,
        "tvdbId": series.tvdb_id * 1000 + season * 100 + number,
        "seasonNumber": season,
        "episodeNumber": number,
        "title": title,
        "airDate": air,
        "airDateUtc": f"{air}T15:00:00Z",
        "runtime": 24,
        "overview": "",
    }


class SkyHook(FakeServer):
    _show = re.compile(r"^/v1/tvdb/shows/en/(\d+)/?$")

    def handle(self, request: Request) -> Response:
        if m := self._show.match(request.path):
            tvdb_id = int(m[1])
            for series in data.all_series():
                if series.tvdb_id == tvdb_id:
                    return json_response(show_resource(series))
            return json_response({"message": f"show {tvdb_id} not found"}, 404)
        if request.path.rstrip("/") == "/v1/tvdb/search/en":
            term = request.arg("term").strip().lower()
            hits = [show_resource(s, with_episodes=False) for s in _search(term)]
            return json_response(hits)
        return json_response({"message": "not found"}, 404)


def _search(term: str) -> list[data.Series]:
    # Like SkyHook, `imdb:tt...` and `tmdb:N` look a show up by that id (Sonarr's
    # SearchForNewSeriesByImdbId/ByTmdbId send exactly these terms).
    kind, _, value = term.partition(":")
    if kind == "imdb" and value:
        return [s for s in data.all_series() if s.imdb == value]
    if kind == "tmdb" and value.isdigit():
        return [s for s in data.all_series() if s.tmdb_id == int(value)]
    return [
        s
        for s in data.all_series()
        if term and any(term in t.lower() for t in (s.title, *s.alt_titles))
    ]
