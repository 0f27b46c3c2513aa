"""Torznab XML: caps, RSS items and errors, as Sonarr, Radarr and Prowlarr parse them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from functools import lru_cache
from xml.etree import ElementTree as ET

TORZNAB_NS = "http://torznab.com/schemas/2015/feed"
ATOM_NS = "http://www.w3.org/2005/Atom"
MAGNET_TYPE = "application/x-bittorrent;x-scheme-handler/magnet"

ET.register_namespace("torznab", TORZNAB_NS)
ET.register_namespace("atom", ATOM_NS)

TV_SUBCATS = ((5030, "TV/SD"), (5040, "TV/HD"), (5070, "TV/Anime"))
MOVIE_SUBCATS = ((2030, "Movies/SD"), (2040, "Movies/HD"))
TV_PARAMS = "q,season,ep,tvdbid,imdbid,tmdbid"
MOVIE_PARAMS = "q,imdbid,tmdbid"


@dataclass(frozen=True)
class Item:
    """One release as an RSS item."""

    title: str
    guid: str
    magnet: str
    infohash: str
    size: int
    published: datetime
    categories: tuple[int, ...]
    attrs: dict[str, str] = field(default_factory=dict)


def _xml(root: ET.Element) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def caps(server_title: str, anime_cat: int, movie_cat: int) -> bytes:
    root = ET.Element("caps")
    ET.SubElement(root, "server", {"version": "1.0", "title": server_title})
    ET.SubElement(root, "limits", {"default": "100", "max": "100"})
    searching = ET.SubElement(root, "searching")
    ET.SubElement(searching, "search", {"available": "yes", "supportedParams": "q"})
    ET.SubElement(searching, "tv-search", {"available": "yes", "supportedParams": TV_PARAMS})
    ET.SubElement(searching, "movie-search", {"available": "yes", "supportedParams": MOVIE_PARAMS})
    ET.SubElement(searching, "audio-search", {"available": "no", "supportedParams": "q"})
    ET.SubElement(searching, "book-search", {"available": "no", "supportedParams": "q"})
    cats = ET.SubElement(root, "categories")
    tv = ET.SubElement(cats, "category", {"id": "5000", "name": "TV"})
    for cat_id, name in _with_configured(TV_SUBCATS, anime_cat, "TV/Anime", 5000):
        ET.SubElement(tv, "subcat", {"id": str(cat_id), "name": name})
    movies = ET.SubElement(cats, "category", {"id": "2000", "name": "Movies"})
    for cat_id, name in _with_configured(MOVIE_SUBCATS, movie_cat, "Movies/Other", 2000):
        ET.SubElement(movies, "subcat", {"id": str(cat_id), "name": name})
    return _xml(root)


def _with_configured(
    subcats: tuple[tuple[int, str], ...], configured: int, name: str, parent: int
) -> list[tuple[int, str]]:
    known = list(subcats)
    if configured != parent and configured not in {c for c, _ in known}:
        known.append((configured, name))
    return known


def rss(items: list[Item], title: str, self_url: str) -> bytes:
    """The feed, written out directly: a season search renders ~1,000 elements, and
    ElementTree's serializer was the largest part of a cached search's time."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<rss xmlns:atom="{ATOM_NS}" xmlns:torznab="{TORZNAB_NS}" version="2.0"><channel>'
        f'<atom:link href="{_attr(self_url)}" rel="self" type="application/rss+xml" />'
        f"<title>{_text(title)}</title>"
        f"<description>{_text(title)} Torznab feed</description>"
    ]
    parts.extend(
        _item(
            i.title,
            i.guid,
            i.magnet,
            i.infohash,
            i.size,
            i.published,
            i.categories,
            tuple(i.attrs.items()),
        )
        for i in items
    )
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


# Repeated searches (Sonarr's RSS sync, several apps asking for one season) render the
# same releases again: their XML is kept, keyed by everything that goes into it.
@lru_cache(maxsize=4096)
def _item(
    title: str,
    guid: str,
    magnet: str,
    infohash: str,
    size: int,
    published: datetime,
    categories: tuple[int, ...],
    extra: tuple[tuple[str, str], ...],
) -> str:
    link = _attr(magnet)
    out = [
        f"<item><title>{_text(title)}</title>"
        f'<guid isPermaLink="false">{_text(guid)}</guid>'
        f"<link>{link}</link>"
        f"<pubDate>{format_datetime(published)}</pubDate>"
        f"<size>{size}</size>"
    ]
    out.extend(f"<category>{cat}</category>" for cat in categories)
    out.append(f'<enclosure url="{link}" length="{size}" type="{MAGNET_TYPE}" />')
    out.extend(f'<torznab:attr name="category" value="{cat}" />' for cat in categories)
    attrs = {
        "size": str(size),
        "magneturl": magnet,
        "infohash": infohash,
        "downloadvolumefactor": "0",
        "uploadvolumefactor": "1",
        **dict(extra),
    }
    out.extend(f'<torznab:attr name="{_attr(k)}" value="{_attr(v)}" />' for k, v in attrs.items())
    out.append("</item>")
    return "".join(out)


def _text(value: str) -> str:
    if _NOT_XML.search(value):
        value = _NOT_XML.sub("\ufffd", value)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(value: str) -> str:
    # Whitespace other than spaces is escaped too: a parser would normalise it away.
    return (
        _text(value)
        .replace('"', "&quot;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
        .replace("\t", "&#9;")
    )


# Characters XML 1.0 cannot carry at all (not even escaped); ElementTree writes them
# anyway and the document no longer parses.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def error(code: int, description: str) -> bytes:
    """`<error code description/>`; the description may quote the client's parameters,
    so characters XML cannot hold become U+FFFD."""
    text = _NOT_XML.sub("\ufffd", description)
    return _xml(ET.Element("error", {"code": str(code), "description": text}))
