"""The resolved-URL cache: identity -> (url, headers) in Redis, backed by StrmUrlMapping.

Keys, all per identity (provider '' = any hoster):
- `strm:resolved:...` (Django cache): the current resolution (strm.resolved);
- `strm:resolve-failed:...` (Django cache, seconds): a resolve just failed, don't retry yet;
- `anibridge:strm:resolving:...` (plain Redis): the lock that serialises re-resolves.
"""

from __future__ import annotations

import logging

from django.core.cache import cache

from catalog.identity import EpisodeIdentity
from strm.models import StrmUrlMapping

log = logging.getLogger(__name__)


def cache_key(site: str, slug: str, season: int, episode: int, language: str, provider: str) -> str:
    return f"strm:resolved:{_suffix(site, slug, season, episode, language, provider)}"


def _suffix(site: str, slug: str, season: int, episode: int, language: str, provider: str) -> str:
    return f"{site}:{slug}:{season}:{episode}:{language}:{provider}".replace(" ", "_")


def _identity_suffix(identity: EpisodeIdentity) -> str:
    return _suffix(
        identity.site,
        identity.slug,
        identity.season,
        identity.episode,
        identity.language,
        identity.provider or "",
    )


def identity_key(identity: EpisodeIdentity) -> str:
    return f"strm:resolved:{_identity_suffix(identity)}"


def failure_key(identity: EpisodeIdentity) -> str:
    return f"strm:resolve-failed:{_identity_suffix(identity)}"


def lock_key(identity: EpisodeIdentity) -> str:
    return f"anibridge:strm:resolving:{_identity_suffix(identity)}"


def key_for(mapping: StrmUrlMapping) -> str:
    return cache_key(
        mapping.site,
        mapping.slug,
        mapping.season,
        mapping.episode,
        mapping.language,
        mapping.provider,
    )


def _failure_key_for(mapping: StrmUrlMapping) -> str:
    suffix = _suffix(
        mapping.site,
        mapping.slug,
        mapping.season,
        mapping.episode,
        mapping.language,
        mapping.provider,
    )
    return f"strm:resolve-failed:{suffix}"


def purge(mapping: StrmUrlMapping) -> None:
    """Forget the resolved URL everywhere, so the next playback resolves afresh."""
    try:
        cache.delete_many([key_for(mapping), _failure_key_for(mapping)])
    except Exception as exc:  # Redis down: the row below is what survives anyway
        log.warning("strm cache purge for %s could not reach Redis: %s", mapping, exc)
    StrmUrlMapping.objects.filter(pk=mapping.pk).update(
        resolved_url="", resolved_headers={}, resolved_at=None
    )
