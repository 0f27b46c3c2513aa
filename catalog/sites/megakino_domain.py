"""Megakino's rotating domain: which base URL Megakino is reached at now.

Megakino moves between domains. Every MEGAKINO_DOMAIN_CHECK_INTERVAL_MIN minutes
(default 100, as the original; 0 turns it off) beat runs `check()`:
1. the base in use answers `/sitemap.xml` with a sitemap: nothing changes;
2. it redirects `/sitemap.xml` to another host that answers with a sitemap: that host
   is the new base (how a moved site usually forwards its old domain);
3. otherwise the hosts its `/mirrors.txt` lists (the current base's, then the
   configured one's) are tried in order, and the first with a sitemap is the new base.
The base in use is kept in the cache (Redis) for every process, tied to the configured
MEGAKINO_BASE_URL: changing that setting starts over from it. A host the site names is
only used when its addresses are public (or in STRM_PROXY_UPSTREAM_ALLOWLIST), so a
taken-over domain cannot point AniBridge at the local network.
"""

from __future__ import annotations

import logging
import socket
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.core.cache import cache

from catalog.egress import ssrf
from catalog.sites.base import NotOnSite, SiteError
from catalog.sites.http import fetch

log = logging.getLogger(__name__)

CACHE_KEY = "catalog:megakino:base"
MAX_MIRRORS = 20
_REDIRECTS = (301, 302, 303, 307, 308)


def current_base() -> str:
    """The base URL Megakino is reached at now (the configured one until a check moves it)."""
    configured = settings.CONFIG.megakino_base_url
    try:
        stored = cache.get(CACHE_KEY)
    except Exception:  # Redis down: the configured base still works for a site that did not move
        return configured
    if isinstance(stored, dict) and stored.get("configured") == configured:
        return str(stored.get("current") or configured)
    return configured


def _remember(base: str) -> None:
    cache.set(CACHE_KEY, {"configured": settings.CONFIG.megakino_base_url, "current": base}, None)


def _base_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _usable(url: str) -> bool:
    """Whether AniBridge may contact `url`'s host (public, or allow-listed)."""
    try:
        host = ssrf.check_url(url)
        port = urlsplit(url).port or (443 if url.startswith("https") else 80)
        infos = ssrf.getaddrinfo(host, port, socket.AF_UNSPEC)
    except (ssrf.BlockedTarget, OSError, ValueError):
        return False
    policy = ssrf.current_policy()
    return bool(infos) and all(
        policy.allows(host, ssrf.parse_address(str(info[4][0]))) for info in infos
    )


def _is_sitemap(text: str) -> bool:
    head = text[:2000].lower()
    return "<urlset" in head or "<sitemapindex" in head


def probe(base: str) -> str | None:
    """The base that serves Megakino's sitemap when asked at `base`: `base` itself, the
    host it redirects to, or None."""
    try:
        response = fetch(base + "/sitemap.xml", allow_redirects=False)
    except (SiteError, NotOnSite):
        return None
    if response.status_code in _REDIRECTS:
        target = urljoin(base + "/sitemap.xml", response.headers.get("Location", ""))
        if not _usable(target):
            log.warning("megakino domain: %s redirects to %s, which is not allowed", base, target)
            return None
        try:
            moved = fetch(target, allow_redirects=False)
        except (SiteError, NotOnSite):
            return None
        return _base_of(target) if moved.status_code == 200 and _is_sitemap(moved.text) else None
    return base if _is_sitemap(response.text) else None


def mirrors(base: str) -> list[str]:
    """Base URLs listed in `base`/mirrors.txt: one host or URL a line, `#` comments."""
    try:
        text = fetch(base + "/mirrors.txt", allow_redirects=False).text
    except (SiteError, NotOnSite):
        return []
    if "<" in text[:200]:
        return []  # an HTML page (a challenge, a 200 error page), not a list
    found: list[str] = []
    for line in text.splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        url = entry if "://" in entry else f"https://{entry}"
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.hostname:
            candidate = _base_of(url)
            if candidate not in found:
                found.append(candidate)
    return found[:MAX_MIRRORS]


def check() -> str:
    """Check the base in use and move to Megakino's current domain; the base after it."""
    configured = settings.CONFIG.megakino_base_url
    current = current_base()
    working = probe(current)
    if working == current:
        return current
    if working is not None:
        log.warning("megakino domain: %s moved to %s", current, working)
        _remember(working)
        return working
    sources = list(dict.fromkeys([current, configured]))
    candidates = [m for source in sources for m in mirrors(source) if m not in sources]
    for candidate in dict.fromkeys(candidates):
        if not _usable(candidate):
            log.warning("megakino domain: mirror %s is not allowed (a local address)", candidate)
            continue
        if probe(candidate) == candidate:
            log.warning("megakino domain: %s does not answer; using mirror %s", current, candidate)
            _remember(candidate)
            return candidate
    log.warning(
        "megakino domain: %s does not serve its sitemap and no mirror does; keeping it "
        "(set MEGAKINO_BASE_URL to Megakino's current address)",
        current,
    )
    return current
