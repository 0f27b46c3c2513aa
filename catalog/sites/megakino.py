"""Megakino: films and serials, read by our own client (the package's model for it checks
host names and looks things up on GitHub, so it cannot follow MEGAKINO_BASE_URL).

Index: `/sitemap.xml` (a sitemap index) -> sitemaps -> `/films/<id>-<slug>.html` and
`/serials/<id>-<slug>.html`; our slug is `<id>-<slug>`. Sitemaps may name another
mirror domain: only their paths are used, always on the base in use (MEGAKINO_BASE_URL,
or where catalog.sites.megakino_domain found the site after it moved).

Identity: a film is season 0, episode 1; a serial page is season 1 with its episodes
numbered as the site's episode select does. Everything on Megakino is German audio.
Hosters: film pages label iframes with `<span>`s in tab order; serial pages have one
`<select id="epN">` per episode whose `<option value>` is the embed URL.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from catalog import registry
from catalog.identity import EpisodeIdentity
from catalog.sites import megakino_domain
from catalog.sites.base import HosterLinks, NotOnSite, SiteError, TitleEntry
from catalog.sites.http import fetch_text
from catalog.sites.packaged import episode_label
from catalog.streams import ResolvedStream

LANGUAGE = "German Dub"
KINDS = ("films", "serials")
_LOC = re.compile(r"<loc>\s*([^<\s]+)\s*</loc>", re.IGNORECASE)
_ENTRY_PATH = re.compile(r"^/(films|serials)/(\d+-[A-Za-z0-9-]+)\.html$")
_DIGITS = re.compile(r"\d+")
# Where the player's answer depends on a cookie the site sets first.
PLAYER_COOKIE_PATH = "/index.php?yg=token"


@dataclass
class _Select:
    id: str
    classes: str
    options: list[tuple[str, str]] = field(default_factory=list)  # value, text


class _EntryPage(HTMLParser):
    """Title, selects, tab labels and iframes of a Megakino film/serial page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.og_title = ""
        self.selects: list[_Select] = []
        self.labels: list[str] = []
        self.iframes: list[str] = []
        self._in_h1 = False
        self._tabs_depth = 0  # > 0 inside the tab label block
        self._in_label = False
        self._option: tuple[str, list[str]] | None = None
        # The release year: `<span itemprop="dateCreated"><a ...>2024</a>` inside
        # `<div class="pmovie__year">` (with the running time after it).
        self.year_text = ""
        self._in_year = 0  # > 0 inside the year block

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        classes = values.get("class", "")
        if tag == "h1" and not self.title:
            self._in_h1 = True
        elif tag == "meta" and values.get("property") == "og:title":
            self.og_title = values.get("content", "")
        elif tag == "select":
            self.selects.append(_Select(values.get("id", ""), classes))
        elif tag == "option" and self.selects:
            self._option = (values.get("value", ""), [])
        elif tag == "iframe":
            src = values.get("src") or values.get("data-src") or ""
            if src and not src.startswith("about:"):
                self.iframes.append(src)
        if self._in_year or (tag == "div" and "pmovie__year" in classes):
            self._in_year += 1
        elif tag == "span" and values.get("itemprop") == "dateCreated":
            self._in_year = 1
        if tag == "div" and (self._tabs_depth or "tabs-block__select" in classes):
            self._tabs_depth += 1
        elif tag == "span" and self._tabs_depth:
            self._in_label = True
            self.labels.append("")

    def handle_data(self, data: str) -> None:
        if self._in_year:
            self.year_text += data
        if self._in_h1:
            self.title += data
        if self._in_label:
            self.labels[-1] += data
        if self._option is not None:
            self._option[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._in_year and tag in ("div", "span", "a"):
            self._in_year -= 1
        if tag == "h1":
            self._in_h1 = False
        elif tag == "span":
            self._in_label = False
        elif tag == "div" and self._tabs_depth:
            self._tabs_depth -= 1
        elif tag == "option" and self._option is not None:
            value, text = self._option
            self.selects[-1].options.append((value, " ".join("".join(text).split())))
            self._option = None

    @property
    def has_player(self) -> bool:
        return bool(self.iframes) or any("mr-select" in s.classes for s in self.selects)

    def name(self) -> str:
        return " ".join((self.title or self.og_title).split())

    def year(self) -> int | None:
        found = _YEAR.search(self.year_text)
        return int(found.group()) if found else None

    def episode_numbers(self) -> list[int]:
        """The serial's episodes, from the episode select (`<option value="epN">`)."""
        select = next((s for s in self.selects if "se-select" in s.classes), None)
        numbers = []
        for value, text in select.options if select else []:
            digits = _DIGITS.findall(value) or _DIGITS.findall(text)
            if digits:
                numbers.append(int(digits[-1]))
        return numbers

    def episode_hosters(self, number: int) -> list[tuple[str, str]]:
        """(hoster label, embed URL) of one serial episode."""
        select = next((s for s in self.selects if s.id == f"ep{number}"), None)
        return [(text, value) for value, text in select.options if value] if select else []

    def film_hosters(self) -> list[tuple[str, str]]:
        """(hoster label, embed URL): tab labels pair with iframes in order."""
        labels = [" ".join(label.split()) for label in self.labels]
        if len(labels) != len(self.iframes):
            # Labels missing or out of step: the iframe's host names the hoster.
            labels = [urlsplit(src).hostname or src for src in self.iframes]
        return list(zip(labels, self.iframes, strict=True))


class MegakinoSite:
    name = "megakino"
    languages: tuple[str, ...] = registry.info(name).languages

    def __init__(self) -> None:
        self._kinds: dict[str, str] = {}  # slug -> "films" | "serials", learnt from sitemaps
        self._lock = threading.Lock()

    # -- index ----------------------------------------------------------------------

    def title_entries(self) -> list[TitleEntry]:
        entries: dict[str, TitleEntry] = {}
        for kind, slug in self._sitemap_entries():
            with self._lock:
                self._kinds[slug] = kind
            entries.setdefault(slug, TitleEntry(self.name, slug, _title_from_slug(slug)))
        return list(entries.values())

    def suggest(self, query: str) -> list[TitleEntry]:
        return []  # the title index is the whole site; there is no search to ask

    def _sitemap_entries(self) -> list[tuple[str, str]]:
        """(kind, slug) of every film and serial the sitemaps list."""
        root = fetch_text(_url("/sitemap.xml"))
        if "<sitemapindex" in root:
            texts = [fetch_text(_on_base(unescape(loc))) for loc in _LOC.findall(root)]
        else:
            texts = [root]
        found = []
        for text in texts:
            for loc in _LOC.findall(text):
                match = _ENTRY_PATH.match(urlsplit(unescape(loc)).path)
                if match:
                    found.append((match[1], match[2]))
        return found

    # -- one entry ------------------------------------------------------------------

    def seasons(self, slug: str) -> dict[int, int]:
        kind, page = self._page(slug)
        if kind == "films":
            return {0: 1}
        return {1: len(page.episode_numbers())}

    def film_titles(self, slug: str) -> dict[int, str]:
        return self.film_details(slug)[0]

    def film_details(self, slug: str) -> tuple[dict[int, str], int | None]:
        """film_titles and the release year its page gives (the title index has none)."""
        kind, page = self._page(slug)
        titles = {1: page.name() or _title_from_slug(slug)} if kind == "films" else {}
        return titles, page.year()

    def hoster_links(self, identity: EpisodeIdentity) -> HosterLinks:
        kind, page = self._page(identity.slug)
        if kind == "films":
            exists = (identity.season, identity.episode) == (0, 1)
            pairs = page.film_hosters() if exists else []
        else:
            exists = identity.season == 1 and identity.episode in page.episode_numbers()
            pairs = page.episode_hosters(identity.episode) if exists else []
        if not exists:
            what = episode_label(self.name, identity.slug, identity.season, identity.episode)
            raise NotOnSite(f"{what} is not on Megakino (films are S00E01)")
        from catalog import package  # the `aniworld` package loads on first use only

        base = _url("/")
        links = {package.canonical_provider(label): urljoin(base, url) for label, url in pairs}
        return {LANGUAGE: links} if links else {}

    def resolve_link(self, provider: str, link: str) -> ResolvedStream:
        from catalog import package

        # Megakino links are the hoster embed URLs themselves: no site redirect.
        return package.extract_stream(provider, link, self.name)

    def _page(self, slug: str) -> tuple[str, _EntryPage]:
        """The entry's kind and parsed page; learns the kind by trying when unknown."""
        if not _ENTRY_SLUG.fullmatch(slug):
            raise NotOnSite(f"{slug!r} is not a Megakino slug (<id>-<name>)")
        with self._lock:
            known = self._kinds.get(slug)
        for kind in (known,) if known else KINDS:
            try:
                page = self._load(f"/{kind}/{slug}.html")
            except NotOnSite:
                continue
            with self._lock:
                self._kinds[slug] = kind
            return kind, page
        raise NotOnSite(f"megakino/{slug} is not on Megakino")

    def _load(self, path: str) -> _EntryPage:
        page = _parse(fetch_text(_url(path)))
        if not page.has_player:
            # Megakino shows the player only once its token cookie is set.
            fetch_text(_url(PLAYER_COOKIE_PATH))
            page = _parse(fetch_text(_url(path)))
        if not page.has_player:
            raise SiteError(f"Megakino showed {path} without a player; try again later")
        return page


_ENTRY_SLUG = re.compile(r"\d+-[A-Za-z0-9-]+")
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")


def _parse(html: str) -> _EntryPage:
    page = _EntryPage()
    page.feed(html)
    page.close()
    return page


def _url(path: str) -> str:
    # Where Megakino is now: MEGAKINO_BASE_URL until the domain check moves it.
    return megakino_domain.current_base() + path


def _on_base(url: str) -> str:
    """A URL from the site moved onto MEGAKINO_BASE_URL (mirrors share paths)."""
    parts = urlsplit(url)
    return _url(parts.path + (f"?{parts.query}" if parts.query else ""))


def _title_from_slug(slug: str) -> str:
    """ "101-iron-orchard" -> "Iron Orchard": sitemaps carry no titles."""
    words = slug.split("-")[1:] if slug.split("-", 1)[0].isdigit() else slug.split("-")
    return " ".join(w.capitalize() for w in words if w)
