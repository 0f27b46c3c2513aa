"""s.to (SerienStream): series through the `aniworld` package.

s.to offers German and English audio only ("Deutsch"/"Englisch" on the site) and has
no separate film pages, so `film_titles` is always empty.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from catalog import registry
from catalog.sites.base import TitleEntry
from catalog.sites.http import fetch_json, fetch_text
from catalog.sites.packaged import PackageSite
from catalog.sites.pages import slug_after, strip_tags, title_anchors

SERIES_PREFIX = "/serie/"


class StoSite(PackageSite):
    name = "s.to"
    languages: tuple[str, ...] = registry.info(name).languages

    def title_entries(self) -> list[TitleEntry]:
        html = fetch_text(settings.CONFIG.sto_alphabet_url)
        return title_anchors(html, self.name, SERIES_PREFIX)

    def suggest(self, query: str) -> list[TitleEntry]:
        if not query.strip():
            return []
        answer = fetch_json(
            f"{settings.CONFIG.sto_base_url}/api/search/suggest",
            params={"term": query.strip()},
            headers={"Accept": "application/json"},
        )
        shows = answer.get("shows") if isinstance(answer, dict) else None
        entries: dict[str, TitleEntry] = {}
        for show in shows if isinstance(shows, list) else []:
            slug = slug_after(str(show.get("url") or ""), SERIES_PREFIX)
            title = strip_tags(str(show.get("name") or ""))
            if slug and title and slug not in entries:
                entries[slug] = TitleEntry(self.name, slug, title)
        return list(entries.values())

    def film_titles(self, slug: str) -> dict[int, str]:
        return {}

    def _series(self, url: str) -> Any:
        from aniworld import SerienstreamSeries

        return SerienstreamSeries(url)

    def _episode(self, url: str) -> Any:
        from aniworld import SerienstreamEpisode

        return SerienstreamEpisode(url)
