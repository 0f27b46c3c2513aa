"""Fake SkyHook (Sonarr's metadata API): `/v1/tvdb/shows/en/<tvdbId>` and
`/v1/tvdb/search/en/?term=`, shaped like skyhook.sonarr.tv's ShowResource.

Shows come from catalog_data: every series (aniworld and s.to) with its regular
episodes (`absoluteEpisodeNumber` counts across seasons) and its `specials` as
season 0 (no absolute number). Search matches the title and alternative titles.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakeweb import catalog_data as data
from tests.fakeweb.server import FakeServer, Request, Response, json_response


def show_resource(series: data.Series, *, with_episodes: bool = True) -> dict[str, Any]:
    episodes: list[dict[str, Any]] = []
    for special in series.specials:
        episodes.append(_episode(series, 0, special.number, special.title, special.air_date))
    for season in series.seasons:
        for ep in season.episodes:
            item = _episode(series, season.number, ep.number, ep.title_en, ep.air_date)
            item["absoluteEpisodeNumber"] = series.absolute_number(season.number, ep.number)
            episodes.append(item)
    season_numbers = ([0] if series.specials else []) + [s.number for s in series.seasons]
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
            hits = [
                show_resource(s, with_episodes=False)
                for s in data.all_series()
                if term and any(term in t.lower() for t in (s.title, *s.alt_titles))
            ]
            return json_response(hits)
        return json_response({"message": "not found"}, 404)
