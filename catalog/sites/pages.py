"""HTML reading shared by the site clients: title anchors and tag stripping."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from urllib.parse import urlsplit

from catalog.sites.base import TitleEntry

_TAG = re.compile(r"<[^>]+>")


def strip_tags(html: str) -> str:
    """Text of an HTML fragment ("<em>Kaiju</em> Academy" -> "Kaiju Academy")."""
    return " ".join(unescape(_TAG.sub(" ", html)).split())


def split_alternatives(raw: str) -> tuple[str, ...]:
    """The titles in a comma-separated `data-alternative-title` value."""
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def slug_after(href: str, prefix: str) -> str | None:
    """The slug in `<prefix><slug>[/...]` ("/anime/stream/", "/serie/"), absolute or not."""
    path = urlsplit(href).path
    if not path.startswith(prefix):
        return None
    slug = path[len(prefix) :].split("/", 1)[0]
    return slug or None


class _TitleAnchors(HTMLParser):
    """Collects `<a href=... data-alternative-title=...>Title</a>` of an alphabet page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str, str]] = []  # href, alternatives, title
        self._open: tuple[str, str] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        values = dict(attrs)
        alternatives = values.get("data-alternative-title")
        if alternatives is not None and values.get("href"):
            self._open = (values["href"] or "", alternatives)
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            title = " ".join("".join(self._text).split())
            self.found.append((*self._open, title))
            self._open = None


def title_anchors(html: str, site: str, prefix: str) -> list[TitleEntry]:
    """Every title anchor under `prefix` on an alphabet page, in page order, once each."""
    parser = _TitleAnchors()
    parser.feed(html)
    parser.close()
    entries: dict[str, TitleEntry] = {}
    for href, alternatives, title in parser.found:
        slug = slug_after(href, prefix)
        if slug and title and slug not in entries:
            entries[slug] = TitleEntry(site, slug, title, split_alternatives(alternatives))
    return list(entries.values())
