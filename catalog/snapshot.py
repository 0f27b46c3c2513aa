"""A site's title index, with a saved copy of its alphabet page when the site blocks it.

ANIWORLD_ALPHABET_HTML / STO_ALPHABET_HTML (the original's settings) name a local copy of
the index page (saved from a browser). The live page comes first; the copy is read
when the live one cannot be fetched or lists no titles (a challenge page), so a search
still finds titles while the site blocks this address.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings

from catalog import registry
from catalog.sites import get_site
from catalog.sites.base import TitleEntry
from catalog.sites.pages import title_anchors

log = logging.getLogger(__name__)


def _saved_copy(site: str) -> tuple[Path, str] | None:
    """The configured copy of `site`'s alphabet page and its series path prefix."""
    info = registry.info(site)
    saved = getattr(settings.CONFIG, info.alphabet_html_setting or "", "")
    return (Path(saved), info.series_path) if saved else None


def title_entries(site: str) -> list[TitleEntry]:
    """The site's titles: live, else from the saved copy; raises what the site raised
    when there is no usable copy."""
    try:
        entries = get_site(site).title_entries()
    except Exception as exc:
        copied = _from_copy(site, f"the live index failed: {exc}")
        if copied is None:
            raise
        return copied
    if entries:
        return entries
    return _from_copy(site, "the live index listed no titles") or entries


def _from_copy(site: str, why: str) -> list[TitleEntry] | None:
    copy = _saved_copy(site)
    if copy is None:
        return None
    path, prefix = copy
    try:
        html = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        log.warning(
            "title index %s: %s, and the saved copy %s is unreadable: %s",
            site,
            why,
            path,
            exc.strerror,
        )
        return None
    entries = title_anchors(html, site, prefix)
    log.warning(
        "title index %s: %s; using the saved copy %s (%d titles)", site, why, path, len(entries)
    )
    return entries or None
