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

from typing import Any

from catalog.identity import EpisodeIdentity
from catalog.memo import TtlMemo
from catalog.softcache import soft_delete
from strm.models import StrmUrlMapping

# A playback asks for its resolution with every segment and seek; reading it from Redis
# each time cost ~0.1 ms CPU, a tenth of a small media request (bench/bench_strm_proxy.py).
# Purges and refreshes in this process forget it at once; those of other processes are
# seen within MEMO_SECONDS, and a URL that fails upstream meanwhile is refreshed as ever.
MEMO_SECONDS = 5.0
_memo: TtlMemo[str, Any] = TtlMemo(MEMO_SECONDS, size=1024)


def _suffix(site: str, slug: str, season: int, episode: int, language: str, provider: str) -> str:
    return f"{site}:{slug}:{season}:{episode}:{language}:{provider}".replace(" ", "_")


def _identity_suffix(identity: EpisodeIdentity) -> str:
    i = identity
    return _suffix(i.site, i.slug, i.season, i.episode, i.language, i.provider or "")


def _mapping_suffix(mapping: StrmUrlMapping) -> str:
    m = mapping
    return _suffix(m.site, m.slug, m.season, m.episode, m.language, m.provider)


def identity_key(identity: EpisodeIdentity) -> str:
    return f"strm:resolved:{_identity_suffix(identity)}"


def failure_key(identity: EpisodeIdentity) -> str:
    return f"strm:resolve-failed:{_identity_suffix(identity)}"


def window_key(identity: EpisodeIdentity) -> str:
    return f"strm:resolve-window:{_identity_suffix(identity)}"


def lock_key(identity: EpisodeIdentity) -> str:
    return f"anibridge:strm:resolving:{_identity_suffix(identity)}"


def key_for(mapping: StrmUrlMapping) -> str:
    return f"strm:resolved:{_mapping_suffix(mapping)}"


def _failure_key_for(mapping: StrmUrlMapping) -> str:
    return f"strm:resolve-failed:{_mapping_suffix(mapping)}"


def remembered(key: str) -> Any | None:
    """What remember(key, ...) kept in this process, unless MEMO_SECONDS have passed."""
    return _memo.get(key)


def remember(key: str, value: Any) -> None:
    if MEMO_SECONDS > 0:
        _memo.put(key, value, MEMO_SECONDS)


def forget(key: str) -> None:
    _memo.forget(key)


def forget_all() -> None:
    """What this process remembers, as if it were another process (catalog.memo clears
    it before each test along with every other memo)."""
    _memo.clear()


def purge(mapping: StrmUrlMapping) -> None:
    """Forget the resolved URL everywhere, so the next playback resolves afresh."""
    forget(key_for(mapping))
    soft_delete(key_for(mapping), _failure_key_for(mapping))  # the row below survives anyway
    StrmUrlMapping.objects.filter(pk=mapping.pk).update(
        resolved_url="", resolved_headers={}, resolved_at=None
    )
