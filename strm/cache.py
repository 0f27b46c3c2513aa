"""The resolved-URL cache: identity -> (url, headers) in Redis, backed by StrmUrlMapping."""

from __future__ import annotations

import logging

from django.core.cache import cache

from strm.models import StrmUrlMapping

log = logging.getLogger(__name__)


def cache_key(site: str, slug: str, season: int, episode: int, language: str, provider: str) -> str:
    return f"strm:resolved:{site}:{slug}:{season}:{episode}:{language}:{provider}".replace(" ", "_")


def key_for(mapping: StrmUrlMapping) -> str:
    return cache_key(
        mapping.site,
        mapping.slug,
        mapping.season,
        mapping.episode,
        mapping.language,
        mapping.provider,
    )


def purge(mapping: StrmUrlMapping) -> None:
    """Forget the resolved URL everywhere, so the next playback resolves afresh."""
    try:
        cache.delete(key_for(mapping))
    except Exception as exc:  # Redis down: the row below is what survives anyway
        log.warning("strm cache purge for %s could not reach Redis: %s", mapping, exc)
    StrmUrlMapping.objects.filter(pk=mapping.pk).update(
        resolved_url="", resolved_headers={}, resolved_at=None
    )
