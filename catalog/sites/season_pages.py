"""Which episodes a season page lists and in which languages, in one page load.

AniWorld and s.to flag each episode row of a season page with the languages it is
offered in, so one page tells what is out without opening every episode:

- AniWorld: `<tr ... itemtype="http://schema.org/Episode">` rows linking to
  `/anime/stream/<slug>/staffel-N/episode-M` (films: `/anime/stream/<slug>/filme`,
  rows linking to `/filme/film-M`), flags as `<img class="flag" src=".../german.svg">`:
  german = German Dub, japanese-german = German Sub, japanese-english = English Sub,
  english = English Dub;
- s.to: `<tr class="episode-row">` rows linking to `/serie/<slug>/staffel-N/episode-M`,
  flags as `<svg class="svg-flag-german">` (German Dub) and `svg-flag-english` (English Dub).

Pages are fetched at the configured base URLs through catalog.sites.http (NotOnSite
for 404/410, SiteError when the site fails), behind the site's circuit breaker like
every other page load (catalog.sites.guarded). Season 0 is AniWorld's films page.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

from django.conf import settings

from catalog import breaker
from catalog.identity import validate_slug
from catalog.sites.base import NotOnSite
from catalog.sites.http import fetch_text

ANIWORLD_FLAGS = {
    "german": "German Dub",
    "japanese-german": "German Sub",
    "japanese-english": "English Sub",
    "english": "English Dub",
}
STO_FLAGS = {"svg-flag-german": "German Dub", "svg-flag-english": "English Dub"}
_EPISODE_LINK = re.compile(r"/staffel-(\d+)/episode-(\d+)/?$")
_FILM_LINK = re.compile(r"/filme/film-(\d+)/?$")

# Episode number -> the languages its row is flagged with (empty: listed, not out yet).
EpisodeLanguages = dict[int, frozenset[str]]


def page_url(site: str, slug: str, season: int) -> str:
    """The season page (season 0: AniWorld's films page) at the configured base URL."""
    cfg = settings.CONFIG
    slug = validate_slug(slug)
    if site == "aniworld.to":
        part = "filme" if season == 0 else f"staffel-{season}"
        return f"{cfg.aniworld_base_url}/anime/stream/{slug}/{part}"
    if site == "s.to" and season > 0:
        return f"{cfg.sto_base_url}/serie/{slug}/staffel-{season}"
    raise NotOnSite(f"{site} has no season page {season} for {slug}")


def episode_languages(site: str, slug: str, season: int) -> EpisodeLanguages:
    """Every episode row of the season page with its flagged languages (one request)."""
    url = page_url(site, slug, season)
    with breaker.guard(site):
        html = fetch_text(url)
    return parse(html, season)


def parse(html: str, season: int) -> EpisodeLanguages:
    """The rows of a season page (season 0: a films page) that link to an episode of it."""
    rows = _Rows()
    rows.feed(html)
    rows.close()
    found: EpisodeLanguages = {}
    for links, flags in rows.found:
        number = _number(links, season)
        if number is not None:
            found[number] = found.get(number, frozenset()) | frozenset(flags)
    return dict(sorted(found.items()))


def _number(links: list[str], season: int) -> int | None:
    for href in links:
        path = urlsplit(href).path
        if season == 0:
            film = _FILM_LINK.search(path)
            if film:
                return int(film[1])
            continue
        episode = _EPISODE_LINK.search(path)
        if episode and int(episode[1]) == season:
            return int(episode[2])
    return None


class _Rows(HTMLParser):
    """(links, languages) of every `<tr>`."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[list[str], set[str]]] = []
        self._row: tuple[list[str], set[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._row = ([], set())
            self.found.append(self._row)
            return
        if self._row is None:
            return
        values = {k: v or "" for k, v in attrs}
        classes = values.get("class", "").split()
        if tag == "a" and values.get("href"):
            self._row[0].append(values["href"])
        elif tag == "img" and "flag" in classes:
            name = urlsplit(values.get("src", "")).path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            if name.lower() in ANIWORLD_FLAGS:
                self._row[1].add(ANIWORLD_FLAGS[name.lower()])
        elif tag == "svg":
            self._row[1].update(STO_FLAGS[c] for c in classes if c in STO_FLAGS)

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None
