"""The streaming sites: `get_site("aniworld.to")`, `enabled_sites()` (CATALOG_SITES order).

Which sites exist and which class implements each is catalog.registry's. Sites come
behind their circuit breaker (catalog.sites.guarded). Site modules load on first use,
so importing `catalog.sites` stays light.
"""

from __future__ import annotations

import threading

from django.conf import settings

from catalog import registry
from catalog.identity import normalize_site
from catalog.sites.base import Site

__all__ = ["Site", "enabled_sites", "forget_site", "get_site"]

_lock = threading.Lock()
_sites: dict[str, Site] = {}


def _build(name: str) -> Site:
    from catalog.sites.guarded import GuardedSite

    site: Site = registry.info(name).load()
    return GuardedSite(site)


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


def forget_site(name: str) -> None:
    """Drop this process's instance of a site (a test's fake site, once unregistered)."""
    with _lock:
        _sites.pop(name, None)
