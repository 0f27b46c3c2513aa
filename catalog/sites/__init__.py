"""The streaming sites: `get_site("aniworld.to")`, `enabled_sites()` (CATALOG_SITES order).

Sites come behind their circuit breaker (catalog.sites.guarded). Site modules load on
first use, so importing `catalog.sites` stays light.
"""

from __future__ import annotations

import threading

from django.conf import settings

from catalog.identity import normalize_site
from catalog.sites.base import Site

__all__ = ["Site", "enabled_sites", "get_site"]

_lock = threading.Lock()
_sites: dict[str, Site] = {}


def _build(name: str) -> Site:
    from catalog.sites.guarded import GuardedSite

    return GuardedSite(_site(name))


def _site(name: str) -> Site:
    if name == "aniworld.to":
        from catalog.sites.aniworld import AniworldSite

        return AniworldSite()
    if name == "s.to":
        from catalog.sites.sto import StoSite

        return StoSite()
    from catalog.sites.megakino import MegakinoSite

    return MegakinoSite()


def get_site(name: str) -> Site:
    """The site for a name or alias ("aniworld", "sto", ...); ValueError if unknown.

    One instance per process: sites read settings.CONFIG on every call."""
    canonical = normalize_site(name)
    with _lock:
        site = _sites.get(canonical)
        if site is None:
            site = _sites[canonical] = _build(canonical)
    return site


def enabled_sites() -> list[Site]:
    """The sites CATALOG_SITES enables, in its order (the order ties are broken in)."""
    return [get_site(name) for name in settings.CONFIG.catalog_sites]
