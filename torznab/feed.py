"""Torznab XML: caps, RSS items and errors, as Sonarr, Radarr and Prowlarr parse them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
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
    root = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(root, "channel")
    ET.SubElement(
        channel,
        f"{{{ATOM_NS}}}link",
        {"href": self_url, "rel": "self", "type": "application/rss+xml"},
    )
    ET.SubElement(channel, "title").text = title
    ET.SubElement(channel, "description").text = f"{title} Torznab feed"
    for item in items:
        channel.append(_item(item))
    if not items:
        # ElementTree declares a namespace only when an element uses it; declare the
        # torznab prefix on empty feeds too, as clients expect it on the root.
        root.set("xmlns:torznab", TORZNAB_NS)
    return _xml(root)


def _item(item: Item) -> ET.Element:
    el = ET.Element("item")
    ET.SubElement(el, "title").text = item.title
    ET.SubElement(el, "guid", {"isPermaLink": "false"}).text = item.guid
    ET.SubElement(el, "link").text = item.magnet
    ET.SubElement(el, "pubDate").text = format_datetime(item.published)
    ET.SubElement(el, "size").text = str(item.size)
    for cat in item.categories:
        ET.SubElement(el, "category").text = str(cat)
    ET.SubElement(
        el, "enclosure", {"url": item.magnet, "length": str(item.size), "type": MAGNET_TYPE}
    )
    attrs = {
        "size": str(item.size),
        "magneturl": item.magnet,
        "infohash": item.infohash,
        "downloadvolumefactor": "0",
        "uploadvolumefactor": "1",
        **item.attrs,
    }
    for cat in item.categories:
        ET.SubElement(el, f"{{{TORZNAB_NS}}}attr", {"name": "category", "value": str(cat)})
    for name, value in attrs.items():
        ET.SubElement(el, f"{{{TORZNAB_NS}}}attr", {"name": name, "value": value})
    return el


# Characters XML 1.0 cannot carry at all (not even escaped); ElementTree writes them
# anyway and the document no longer parses.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def error(code: int, description: str) -> bytes:
    """`<error code description/>`; the description may quote the client's parameters,
    so characters XML cannot hold become U+FFFD."""
    text = _NOT_XML.sub("\ufffd", description)
    return _xml(ET.Element("error", {"code": str(code), "description": text}))
