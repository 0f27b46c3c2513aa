"""AniWorld (aniworld.to): anime series and their films, through the `aniworld` package.

Films are season 0: `/anime/stream/<slug>/filme/film-N` is season 0, episode N.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from catalog import package, registry
from catalog.sites.base import NotOnSite, SiteError, TitleEntry
from catalog.sites.http import fetch_json, fetch_text
from catalog.sites.packaged import PackageSite
from catalog.sites.pages import slug_after, strip_tags, title_anchors

SERIES_PREFIX = "/anime/stream/"


class AniworldSite(PackageSite):
    name = "aniworld.to"
    languages: tuple[str, ...] = registry.info(name).languages

    def title_entries(self) -> list[TitleEntry]:
        html = fetch_text(settings.CONFIG.aniworld_alphabet_url)
        return title_anchors(html, self.name, SERIES_PREFIX)

    def suggest(self, query: str) -> list[TitleEntry]:
        if not query.strip():
            return []
        hits = fetch_json(
            f"{settings.CONFIG.aniworld_base_url}/ajax/search",
            method="POST",
            data={"keyword": query.strip()},
            headers={"X-Requested-With": "XMLHttpRequest"},
        )
        entries: dict[str, TitleEntry] = {}
        for hit in hits if isinstance(hits, list) else []:
            slug = slug_after(str(hit.get("link") or ""), SERIES_PREFIX)
            title = strip_tags(str(hit.get("title") or ""))
            if slug and title and slug not in entries:
                entries[slug] = TitleEntry(self.name, slug, title)
        return list(entries.values())

    def film_titles(self, slug: str) -> dict[int, str]:
        package.ensure_package()
        from aniworld import AniworldSeason

        url = self.page_url(slug, 0)
        what = f"{self.name}/{slug} films"

        def read() -> dict[int, str]:
            films = AniworldSeason(url).episodes
            return {
                int(f.episode_number): str(f.title_en or f.title_de or "")
                for f in films
                if f.episode_number is not None
            }

        try:
            found = self._read(url, what, read)
            if not found:
                package.raise_for_page(url, what)
        except NotOnSite:
            return {}  # a series without films has no /filme page
        if not found:
            raise SiteError(f"{what}: the page lists no films; the site may have changed")
        return found

    def _series(self, url: str) -> Any:
        from aniworld import AniworldSeries

        return AniworldSeries(url)

    def _episode(self, url: str) -> Any:
        from aniworld import AniworldEpisode

        return AniworldEpisode(url)
