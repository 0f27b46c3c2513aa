"""Fake aniworld.to, s.to and megakino, serving the HTML the real parsers read.

aniworld.to: `/animes-alphabet`, `/anime/stream/<slug>[/staffel-N[/episode-M]]`,
`/anime/stream/<slug>/filme[/film-N]`, `/redirect/<id>` (302 to the hoster embed),
`POST /ajax/search` (keyword). s.to: `/serien?by=alpha`, `/serie/<slug>[/staffel-N
[/episode-M]]`, `/r?t=<code>` (302), `/api/search/suggest?term=` ({"shows": [{name,
url}]}), `/suche?term=`. megakino: `/sitemap.xml` (index) -> `/sitemap-films.xml`,
`/sitemap-serials.xml`, `/films/<id>-<slug>.html`, `/serials/<id>-<slug>.html` with
player iframes (films) or episode/hoster selects plus iframes (serials),
`/index.php?yg=token` (sets the cookie the package fetches first; set
`require_token_cookie` to make pages insist on it).

Season and film pages flag each row with its languages (aniworld `<img class="flag"
src=".../german.svg">`, s.to `<svg class="svg-flag-german">`) and list only episodes
that have hoster links, so `LinkTable.set_languages` can hold an episode back or
release a language the way a site publishes them.

aniworld.to and s.to serve catalog_data.LATE series only once `publish(slug)` was
called (FakeWeb.reset() takes them down again): a series the site added today.
"""

from __future__ import annotations

import re
from html import escape
from typing import TYPE_CHECKING

from tests.fakeweb import catalog_data as data
from tests.fakeweb.links import HosterLink, LinkTable
from tests.fakeweb.server import (
    FakeServer,
    Request,
    Response,
    Traffic,
    html_response,
    json_response,
    not_found,
    redirect,
)

if TYPE_CHECKING:
    from collections.abc import Callable

# aniworld's data-lang-key per language (aniworld.config.LANG_KEY_MAP).
ANIWORLD_LANG_KEYS = {"German Dub": "1", "English Sub": "2", "German Sub": "3", "English Dub": "4"}
# aniworld's flag image per language (`/public/img/<name>.svg` on season pages).
ANIWORLD_FLAGS = {
    "German Dub": "german",
    "German Sub": "japanese-german",
    "English Sub": "japanese-english",
    "English Dub": "english",
}
# s.to's data-language-label per language.
STO_LANG_LABELS = {"German Dub": "Deutsch", "English Dub": "Englisch"}

_PAGE = (
    '<!doctype html>\n<html lang="de"><head><meta charset="utf-8"><title>{title}</title>'
    "</head>\n<body>\n{body}\n</body></html>\n"
)


def _page(title: str, body: str) -> Response:
    return html_response(_PAGE.format(title=escape(title), body=body))


class _LinkedSite(FakeServer):
    """A site whose episode pages list hoster links resolved by one redirect hop."""

    site = ""  # catalog_data's site name

    def __init__(
        self,
        name: str,
        traffic: Traffic,
        links: LinkTable,
        hoster_url: Callable[[HosterLink], str],
        *,
        verbose: bool = False,
    ) -> None:
        super().__init__(name, traffic, verbose=verbose)
        self.links = links
        self.hoster_url = hoster_url
        self.published: set[str] = set()

    def publish(self, slug: str) -> None:
        """Put a LATE series on the site (alphabet page, search, its pages)."""
        if not any(s.slug == slug and s.site == self.site for s in data.LATE):
            raise KeyError(f"{slug} is not a late {self.site} series in catalog_data")
        self.published.add(slug)

    def catalog(self, listed: tuple[data.Series, ...]) -> tuple[data.Series, ...]:
        """The site's series now: `listed` plus the LATE ones published so far."""
        late = tuple(s for s in data.LATE if s.site == self.site and s.slug in self.published)
        return listed + late


class AniworldSite(_LinkedSite):
    site = data.ANIWORLD
    _series = re.compile(r"^/anime/stream/([a-z0-9-]+)/?$")
    _season = re.compile(r"^/anime/stream/([a-z0-9-]+)/staffel-(\d+)/?$")
    _episode = re.compile(r"^/anime/stream/([a-z0-9-]+)/staffel-(\d+)/episode-(\d+)/?$")
    _films = re.compile(r"^/anime/stream/([a-z0-9-]+)/filme/?$")
    _film = re.compile(r"^/anime/stream/([a-z0-9-]+)/filme/film-(\d+)/?$")
    _redirect = re.compile(r"^/redirect/(\d+)$")

    def handle(self, request: Request) -> Response:
        path = request.path
        if path == "/":
            return _page("AniWorld", '<a href="/animes-alphabet">Animes A-Z</a>')
        if path == "/animes-alphabet":
            return self._alphabet()
        if path == "/ajax/search" and request.method == "POST":
            return self._search(request)
        if m := self._redirect.match(path):
            link = self.links.by_redirect.get(int(m[1]))
            if link is None or link.site != data.ANIWORLD:
                return not_found()
            return redirect(self.hoster_url(link))
        for pattern, render in (
            (self._series, self._series_page),
            (self._season, self._season_page),
            (self._episode, self._episode_page),
            (self._films, self._films_page),
            (self._film, self._film_page),
        ):
            if m := pattern.match(path):
                series = _find(self.catalog(data.ANIME), m[1])
                if series is None:
                    return not_found()
                try:
                    return render(series, *(int(g) for g in m.groups()[1:]))
                except (StopIteration, LookupError):
                    return not_found()
        return not_found()

    def _alphabet(self) -> Response:
        items = "\n".join(
            f'<li><a href="/anime/stream/{s.slug}" '
            f'data-alternative-title="{escape(", ".join(s.alt_titles))}">{escape(s.title)}</a></li>'
            for s in sorted(self.catalog(data.ANIME), key=lambda s: s.title)
        )
        return _page("Animes A-Z", f'<div id="seriesContainer"><ul>\n{items}\n</ul></div>')

    def _search(self, request: Request) -> Response:
        keyword = request.body.decode(errors="replace").partition("keyword=")[2].lower()
        keyword = keyword.replace("+", " ").split("&")[0]
        hits = [
            {"title": s.title, "description": s.title, "link": f"/anime/stream/{s.slug}"}
            for s in self.catalog(data.ANIME)
            if keyword and any(keyword in t.lower() for t in (s.title, *s.alt_titles))
        ]
        return json_response(hits)

    def _series_page(self, series: data.Series) -> Response:
        seasons = "\n".join(
            f'<li><a href="/anime/stream/{series.slug}/staffel-{s.number}" '
            f'title="Staffel {s.number}">{s.number}</a></li>'
            for s in series.seasons
        )
        films = (
            f'<li><a href="/anime/stream/{series.slug}/filme" title="Alle Filme">Filme</a></li>'
            if series.films
            else ""
        )
        body = (
            '<div class="series-title">\n'
            f'<h1 itemprop="name" data-alternativetitles="{escape(", ".join(series.alt_titles))}">'
            f"<span>{escape(series.title)}</span></h1>\n"
            f'<small> (<span itemprop="startDate"><a href="/animes/jahr/{series.year}">'
            f"{series.year}</a></span>)</small>\n"
            f'<div data-fsk="12" class="fsk fsk12">Ab: <span>12</span></div>\n'
            f'<a href="https://www.imdb.com/title/{series.imdb}" data-imdb="{series.imdb}" '
            'class="imdb-link">IMDB</a>\n</div>\n'
            f'<p class="seri_des" data-full-description="{escape(series.title)} - '
            'eine erfundene Serie.">Eine erfundene Serie.</p>\n'
            f'<div id="stream" class="hosterSiteDirectNav"><ul>\n{films}\n{seasons}\n</ul></div>'
        )
        return _page(f"{series.title} | AniWorld", body)

    def _flags(self, series: data.Series, season_no: int, number: int, href: str) -> str | None:
        """The row's language flags as AniWorld shows them; None: not on the site (yet)."""
        links = self.links.for_episode(data.ANIWORLD, series.slug, season_no, number)
        if not links:
            return None
        langs = sorted({link.language for link in links}, key=ANIWORLD_LANG_KEYS.__getitem__)
        flags = "".join(
            f'<img class="flag" src="/public/img/{ANIWORLD_FLAGS[lang]}.svg" title="{lang}"> '
            for lang in langs
        )
        return f'<td class="editFunctions"><a href="{href}"> {flags}</a></td>\n'

    def _season_page(self, series: data.Series, season_no: int) -> Response:
        season = series.season(season_no)
        rows = []
        for e in season.episodes:
            href = f"/anime/stream/{series.slug}/staffel-{season_no}/episode-{e.number}"
            flags = self._flags(series, season_no, e.number, href)
            if flags is None:
                continue
            rows.append(
                f'<tr data-episode-season-id="{e.number}" itemprop="episode" itemscope="" '
                'itemtype="http://schema.org/Episode">\n'
                f'<td class="season{season_no}EpisodeID"><meta itemprop="episodeNumber" '
                f'content="{e.number}"><a itemprop="url" href="{href}"> Folge {e.number} </a>'
                "</td>\n"
                f'<td class="seasonEpisodeTitle"><a href="{href}"> <strong>'
                f"{escape(e.title_de)}</strong> - <span>{escape(e.title_en)}</span> </a></td>\n"
                f"{flags}</tr>"
            )
        return _page(
            f"Staffel {season_no} von {series.title}",
            f'<table class="seasonEpisodesList"><tbody id="season{season_no}">\n'
            + "\n".join(rows)
            + "\n</tbody></table>",
        )

    def _films_page(self, series: data.Series) -> Response:
        if not series.films:
            raise LookupError(series.slug)
        rows = "\n".join(
            f'<tr data-episode-season-id="{f.number}" itemprop="episode" itemscope="" '
            'itemtype="http://schema.org/Episode">\n'
            f'<td class="season0EpisodeID"><a href="/anime/stream/{series.slug}/filme/'
            f'film-{f.number}"> Film {f.number} </a></td>\n'
            f'<td class="seasonEpisodeTitle"><a href="/anime/stream/{series.slug}/filme/'
            f'film-{f.number}"> <strong></strong> <span>{escape(f.title)}</span> </a></td>\n'
            f"{flags}</tr>"
            for f in series.films
            if (
                flags := self._flags(
                    series, 0, f.number, f"/anime/stream/{series.slug}/filme/film-{f.number}"
                )
            )
        )
        return _page(
            f"Filme von {series.title}",
            f'<table class="seasonEpisodesList"><tbody id="season0">\n{rows}\n</tbody></table>',
        )

    def _episode_page(self, series: data.Series, season_no: int, number: int) -> Response:
        episode = series.episode(season_no, number)
        return self._links_page(series, season_no, number, episode.title_de, episode.title_en)

    def _film_page(self, series: data.Series, number: int) -> Response:
        film = next(f for f in series.films if f.number == number)
        return self._links_page(series, 0, number, film.title, film.title)

    def _links_page(
        self, series: data.Series, season_no: int, number: int, title_de: str, title_en: str
    ) -> Response:
        links = self.links.for_episode(data.ANIWORLD, series.slug, season_no, number)
        if not links:
            raise LookupError(series.slug)
        langs = sorted({link.language for link in links}, key=ANIWORLD_LANG_KEYS.__getitem__)
        flags = "".join(
            f'<img data-lang-key="{ANIWORLD_LANG_KEYS[lang]}" title="{lang}" src="/flag.svg">'
            for lang in langs
        )
        items = "\n".join(
            f'<li class="col-md-3 episodeLink{link.redirect_id}" '
            f'data-lang-key="{ANIWORLD_LANG_KEYS[link.language]}" '
            f'data-link-id="{link.redirect_id}" data-link-target="/redirect/{link.redirect_id}">'
            '<div class="generateInlinePlayer">'
            f'<a class="watchEpisode" itemprop="url" href="/redirect/{link.redirect_id}" '
            f'target="_blank"><i class="icon {link.hoster}" title="Hoster {link.hoster}"></i>'
            f'<h4>{link.hoster}</h4><div class="hosterSiteVideoButton">Video öffnen</div></a>'
            "</div></li>"
            for link in links
        )
        body = (
            '<div class="hosterSiteTitle">'
            f'<h2><span class="episodeGermanTitle">{escape(title_de)}</span> '
            f'<small class="episodeEnglishTitle">{escape(title_en)}</small></h2></div>\n'
            f'<div class="changeLanguageBox">{flags}</div>\n'
            f'<div class="hosterSiteVideo"><ul class="row">\n{items}\n</ul></div>'
        )
        return _page(f"{series.title} | AniWorld", body)


class StoSite(_LinkedSite):
    site = data.STO
    _series = re.compile(r"^/serie/([a-z0-9-]+)/?$")
    _season = re.compile(r"^/serie/([a-z0-9-]+)/staffel-(\d+)/?$")
    _episode = re.compile(r"^/serie/([a-z0-9-]+)/staffel-(\d+)/episode-(\d+)/?$")

    def handle(self, request: Request) -> Response:
        path = request.path
        if path == "/":
            return _page("SerienStream", '<a href="/serien?by=alpha">Serien A-Z</a>')
        if path == "/serien":
            return self._alphabet()
        if path == "/api/search/suggest":
            return self._suggest(request.arg("term"))
        if path == "/suche":
            return self._search_page(request.arg("term"))
        if path == "/r":
            link = self.links.by_code.get(request.arg("t"))
            if link is None or link.site != data.STO:
                return not_found()
            return redirect(self.hoster_url(link))
        for pattern, render in (
            (self._series, self._series_page),
            (self._season, self._season_page),
            (self._episode, self._episode_page),
        ):
            if m := pattern.match(path):
                series = _find(self.catalog(data.STO_SERIES), m[1])
                if series is None:
                    return not_found()
                try:
                    return render(series, *(int(g) for g in m.groups()[1:]))
                except (StopIteration, LookupError):
                    return not_found()
        return not_found()

    def _matches(self, term: str) -> list[data.Series]:
        term = term.strip().lower()
        return [
            s
            for s in self.catalog(data.STO_SERIES)
            if term and any(term in t.lower() for t in (s.title, *s.alt_titles))
        ]

    def _alphabet(self) -> Response:
        items = "\n".join(
            f'<li><a href="/serie/{s.slug}" data-alternative-title="'
            f'{escape(", ".join(s.alt_titles))}">{escape(s.title)}</a></li>'
            for s in sorted(self.catalog(data.STO_SERIES), key=lambda s: s.title)
            if s.listed
        )
        return _page("Serien A-Z", f'<div class="series-list"><ul>\n{items}\n</ul></div>')

    def _suggest(self, term: str) -> Response:
        shows = [{"name": s.title, "url": f"/serie/{s.slug}"} for s in self._matches(term)]
        return json_response({"shows": shows, "people": [], "genres": []})

    def _search_page(self, term: str) -> Response:
        cards = "\n".join(
            f'<div class="card"><a href="/serie/{s.slug}"><h6 class="show-title">'
            f"{escape(s.title)}</h6></a></div>"
            for s in self._matches(term)
        )
        return _page("Suche", f'<div data-group="shows">\n{cards}\n</div>')

    def _series_page(self, series: data.Series) -> Response:
        seasons = "\n".join(
            f'<li><a class="nav-link" href="/serie/{series.slug}/staffel-{s.number}">'
            f"Staffel {s.number}</a></li>"
            for s in series.seasons
        )
        body = (
            f'<h1 class="h2 mb-1 fw-bold">\n{escape(series.title)}\n</h1>\n'
            '<p class="small text-muted mb-2">\n'
            f'<a class="small text-muted" href="/jahr/{series.year}">{series.year}</a> - '
            '<span class="small text-muted">NA</span> • FSK 12 •\n'
            f'<a href="https://www.imdb.com/title/{series.imdb}/" class="small text-muted">IMDb</a>'
            "\n</p>\n"
            f'<span class="description-text">{escape(series.title)} - eine erfundene Serie.'
            "</span>\n"
            f'<ul class="nav">\n{seasons}\n</ul>'
        )
        return _page(f"{series.title} | SerienStream", body)

    def _season_page(self, series: data.Series, season_no: int) -> Response:
        season = series.season(season_no)
        rows = []
        for e in season.episodes:
            links = self.links.for_episode(data.STO, series.slug, season_no, e.number)
            if not links:
                continue  # not on the site (yet)
            offered = {link.language for link in links}
            flags = "".join(
                f'<svg class="svg-flag-{"german" if lang == "German Dub" else "english"}"></svg>'
                for lang in STO_LANG_LABELS
                if lang in offered
            )
            href = f"/serie/{series.slug}/staffel-{season_no}/episode-{e.number}"
            # One link per line: the package's episode regex is greedy within a line.
            rows.append(
                f'<tr class="episode-row">\n<td><a href="{href}"\n class="episode-link">'
                f"{e.number}</a></td>\n<td>{escape(e.title_de)}</td>\n<td>{flags}</td>\n</tr>"
            )
        return _page(
            f"Staffel {season_no} von {series.title}",
            "<table><tbody>\n" + "\n".join(rows) + "\n</tbody></table>",
        )

    def _episode_page(self, series: data.Series, season_no: int, number: int) -> Response:
        episode = series.episode(season_no, number)
        links = self.links.for_episode(data.STO, series.slug, season_no, number)
        buttons = "\n".join(
            f'<button class="link-box" data-play-url="/r?t={link.code}" '
            f'data-provider-name="{link.hoster}" '
            f'data-language-label="{STO_LANG_LABELS[link.language]}">{link.hoster}</button>'
            for link in links
        )
        body = (
            f'<h2 class="h4 mb-1">S{season_no:02d}E{number:02d}: {escape(episode.title_de)} '
            f"({escape(episode.title_en)}) </h2>\n"
            f'<div class="player-links">\n{buttons}\n</div>'
        )
        return _page(f"{series.title} | SerienStream", body)


class MegakinoSite(_LinkedSite):
    require_token_cookie = False

    def handle(self, request: Request) -> Response:
        path = request.path
        if path == "/index.php" and request.arg("yg") == "token":
            return Response(200, b"ok", "text/plain", {"Set-Cookie": "yg_token=fake; Path=/"})
        if path == "/sitemap.xml":
            return self._sitemap_index(request)
        if path in ("/sitemap-films.xml", "/sitemap-serials.xml"):
            kind = "film" if "films" in path else "serial"
            return self._sitemap(request, kind)
        entry = next((m for m in data.MEGAKINO if m.path == path), None)
        if entry is None:
            return not_found()
        if self.require_token_cookie and "yg_token=" not in (request.header("Cookie") or ""):
            return _page("Megakino", "<p>Bitte warten…</p>")
        return self._entry_page(entry)

    def _sitemap_index(self, request: Request) -> Response:
        items = "".join(
            f"<sitemap><loc>{request.base_url}/sitemap-{name}.xml</loc>"
            "<lastmod>2024-05-01</lastmod></sitemap>"
            for name in ("films", "serials")
        )
        return _xml(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{items}</sitemapindex>\n"
        )

    def _sitemap(self, request: Request, kind: str) -> Response:
        items = "".join(
            f"<url><loc>{request.base_url}{m.path}</loc><lastmod>{m.year}-01-01</lastmod></url>"
            for m in data.MEGAKINO
            if m.kind == kind
        )
        return _xml(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</urlset>\n'
        )

    def _entry_page(self, entry: data.MegakinoEntry) -> Response:
        links = self.links.for_episode("megakino", entry.slug, 1, 1)
        labels = "".join(f"<span>{link.hoster}</span>" for link in links)
        frames = "\n".join(
            f'<div class="tabs-block__content"><iframe src="{self.hoster_url(link)}" '
            "allowfullscreen></iframe></div>"
            for link in links
        )
        selects = ""
        if entry.kind == "serial":
            options = "".join(
                f'<option value="ep{n}">Episode {n}</option>' for n in range(1, entry.episodes + 1)
            )
            per_episode = "\n".join(
                f'<select id="ep{n}" class="mr-select">'
                + "".join(
                    f'<option value="{self.hoster_url(link)}">{link.hoster}</option>'
                    for link in self.links.for_episode("megakino", entry.slug, 1, n)
                )
                + "</select>"
                for n in range(1, entry.episodes + 1)
            )
            selects = f'<select class="se-select">{options}</select>\n{per_episode}\n'
        body = (
            f'<h1 itemprop="name">{escape(entry.title)}</h1>\n'
            f'<meta property="og:title" content="{escape(entry.title)}">\n'
            f'<div class="pmovie__year"><span itemprop="dateCreated">'
            f'<a href="/jahr/{entry.year}/">{entry.year}</a></span>, 104 min</div>\n'
            f"{selects}"
            f'<div class="tabs-block__select">{labels}</div>\n{frames}'
        )
        return _page(f"{entry.title} | Megakino", body)


def _find(series: tuple[data.Series, ...], slug: str) -> data.Series | None:
    return next((s for s in series if s.slug == slug), None)


def _xml(text: str) -> Response:
    return Response(200, text.encode(), "application/xml; charset=utf-8")
