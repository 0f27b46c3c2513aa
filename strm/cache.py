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


def _suffix(episode: EpisodeIdentity | StrmUrlMapping) -> str:
    e = episode
    return f"{e.site}:{e.slug}:{e.season}:{e.episode}:{e.language}:{e.provider or ''}".replace(
        " ", "_"
    )


def identity_key(identity: EpisodeIdentity) -> str:
    return f"strm:resolved:{_suffix(identity)}"


def failure_key(identity: EpisodeIdentity) -> str:
    return f"strm:resolve-failed:{_suffix(identity)}"


def window_key(identity: EpisodeIdentity) -> str:
    return f"strm:resolve-window:{_suffix(identity)}"


def lock_key(identity: EpisodeIdentity) -> str:
    return f"anibridge:strm:resolving:{_suffix(identity)}"


def key_for(mapping: StrmUrlMapping) -> str:
    return f"strm:resolved:{_suffix(mapping)}"


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
    soft_delete(
        key_for(mapping), f"strm:resolve-failed:{_suffix(mapping)}"
    )  # the row below survives anyway
    StrmUrlMapping.objects.filter(pk=mapping.pk).update(
        resolved_url="", resolved_headers={}, resolved_at=None
    )
