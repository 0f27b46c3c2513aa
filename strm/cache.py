"""The resolved-URL cache: identity -> (url, headers) in Redis, backed by StrmUrlMapping.

Keys, all per identity (provider '' = any hoster):
- `strm:resolved:...` (Django cache): the current resolution (strm.resolved), which each
  process also remembers for a few seconds (remembered/remember/forget);
- `strm:resolve-failed:...` (Django cache, seconds): a resolve just failed, don't retry yet;
- `strm:resolve-window:...` (Django cache, seconds): a resolve ran just now, successful
  or not; re-resolving once more must wait (strm.resolved.RESOLVE_WINDOW_SECONDS);
- `anibridge:strm:resolving:...` (plain Redis): the lock that serialises re-resolves.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache import cache

from catalog.identity import EpisodeIdentity
from strm.models import StrmUrlMapping

log = logging.getLogger(__name__)

# A playback asks for its resolution with every segment and seek; reading it from Redis
# each time cost ~0.1 ms CPU, a tenth of a small media request (bench/bench_strm_proxy.py).
# Purges and refreshes in this process forget it at once; those of other processes are
# seen within MEMO_SECONDS, and a URL that fails upstream meanwhile is refreshed as ever.
MEMO_SECONDS = 5.0
_MEMO_SIZE = 1024
_memo: dict[str, tuple[float, Any]] = {}


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


def window_key(identity: EpisodeIdentity) -> str:
    return f"strm:resolve-window:{_identity_suffix(identity)}"


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


def remembered(key: str) -> Any | None:
    """What remember(key, ...) kept in this process, unless MEMO_SECONDS have passed."""
    item = _memo.get(key)
    if item is None or item[0] < time.monotonic():
        return None
    return item[1]


def remember(key: str, value: Any) -> None:
    if MEMO_SECONDS <= 0:
        return
    if len(_memo) >= _MEMO_SIZE:
        _memo.clear()  # expired entries pile up otherwise; losing the rest costs a read
    _memo[key] = (time.monotonic() + MEMO_SECONDS, value)


def forget(key: str) -> None:
    _memo.pop(key, None)


def forget_all() -> None:
    """For tests: each starts with an empty Redis, so with nothing remembered either."""
    _memo.clear()


def purge(mapping: StrmUrlMapping) -> None:
    """Forget the resolved URL everywhere, so the next playback resolves afresh."""
    forget(key_for(mapping))
    try:
        cache.delete_many([key_for(mapping), _failure_key_for(mapping)])
    except Exception as exc:  # Redis down: the row below is what survives anyway
        log.warning("strm cache purge for %s could not reach Redis: %s", mapping, exc)
    StrmUrlMapping.objects.filter(pk=mapping.pk).update(
        resolved_url="", resolved_headers={}, resolved_at=None
    )
