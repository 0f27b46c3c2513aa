"""Where an episode's stream is right now: resolved URL + the headers to fetch it with.

Read path: Django cache (Redis) -> StrmUrlMapping row -> catalog resolver. A
re-resolve after an upstream failure runs at most once at a time per identity
across all processes (a Redis lock); whoever waited on the lock gets the fresh
result instead of resolving again. A re-resolve runs at most once per
RESOLVE_WINDOW_SECONDS, successful or not (markers in Redis, so across processes): a
failed resolve makes the next requests fail fast, and a fresh URL that fails upstream
too stays until the window ends, instead of every failing request fetching the
episode page and the hoster page again. A re-resolve that helped (the request it was
made for then succeeded) ends its window: when that URL expires in turn, it is
replaced at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import redis
from django.conf import settings
from django.db.models import F
from django.utils import timezone
from redis.lock import Lock

from anibridge_site.redis_client import get_redis
from catalog import public_ip
from catalog.identity import EpisodeIdentity
from catalog.softcache import soft_delete, soft_get, soft_set
from catalog.streams import ResolvedStream, ResolveError
from strm import cache
from strm.models import StrmUrlMapping
from strm.signing import generation_of

log = logging.getLogger(__name__)

# A resolve walks the site and up to all hosters (each with timeouts and retries).
LOCK_TIMEOUT = 180.0
WAIT_TIMEOUT = 150.0
# The lock lives this long unless its holder renews it (every third of it) while it
# resolves, up to LOCK_TIMEOUT: a holder killed mid-resolve (worker or web process)
# blocks the identity for seconds, not minutes.
LOCK_LEASE_SECONDS = 9.0
RESOLVE_WINDOW_SECONDS = 15


@dataclass(frozen=True)
class Resolution:
    """One resolve result as the proxy uses it."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    provider: str = ""
    resolved_at: datetime = field(default_factory=timezone.now)

    @property
    def generation(self) -> str:
        """Tokens made from this resolution carry it (see strm.signing)."""
        return generation_of(self.url)

    @property
    def version(self) -> str:
        """Tells two resolutions apart even when a hoster hands out the same URL again."""
        return self.resolved_at.isoformat()

    def to_cache(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "headers": self.headers,
            "provider": self.provider,
            "at": self.resolved_at.isoformat(),
        }

    @classmethod
    def from_cache(cls, value: dict[str, Any]) -> Resolution:
        return cls(
            url=str(value["url"]),
            headers={str(k): str(v) for k, v in dict(value["headers"]).items()},
            provider=str(value.get("provider", "")),
            resolved_at=datetime.fromisoformat(str(value["at"])),
        )


def _resolver() -> Callable[[EpisodeIdentity], ResolvedStream]:
    # Imported late: catalog's resolver pulls in the sites and the aniworld package.
    from catalog.resolve import resolve_stream

    return resolve_stream


# --- reading ---------------------------------------------------------------------------


def current(identity: EpisodeIdentity) -> Resolution:
    """The resolution to use now, resolving only when nothing usable is stored."""
    key = cache.identity_key(identity)
    known = cache.remembered(key)
    if isinstance(known, Resolution):
        return known
    known = _stored(identity)
    if known is None:
        known = refresh(identity, stale=None)
    cache.remember(key, known)
    return known


def _stored(identity: EpisodeIdentity) -> Resolution | None:
    value = _cache_get(cache.identity_key(identity))
    if value is not None:
        try:
            known = Resolution.from_cache(value)
        except (KeyError, TypeError, ValueError):
            log.warning("strm cache entry for %s is unreadable; ignoring it", identity)
        else:
            # CDN URLs are bound to the address that resolved them (catalog.public_ip).
            return None if public_ip.changed_since(known.resolved_at) else known
    row = _mapping(identity)
    if row is None or not row.resolved_url or row.resolved_at is None or _expired(row.resolved_at):
        return None
    if public_ip.changed_since(row.resolved_at):
        return None
    known = Resolution(
        url=row.resolved_url,
        headers={str(k): str(v) for k, v in (row.resolved_headers or {}).items()},
        provider=row.provider_used,
        resolved_at=row.resolved_at,
    )
    soft_set(cache.identity_key(identity), known.to_cache(), _ttl())
    return known


def _mapping(identity: EpisodeIdentity) -> StrmUrlMapping | None:
    return StrmUrlMapping.objects.filter(**_lookup(identity)).first()


def _lookup(identity: EpisodeIdentity) -> dict[str, Any]:
    return StrmUrlMapping.identity_fields(identity, with_provider=True)


def _ttl() -> int | None:
    # 0 means "no expiry" here; to Django's cache 0 would mean "expire at once".
    return settings.CONFIG.strm_proxy_cache_ttl_seconds or None


def _expired(resolved_at: datetime) -> bool:
    ttl = _ttl()
    return ttl is not None and timezone.now() - resolved_at > timedelta(seconds=ttl)


# --- re-resolving ----------------------------------------------------------------------


def refresh(identity: EpisodeIdentity, stale: Resolution | None) -> Resolution:
    """A resolution newer than `stale` (None: any stored one), resolving if there is none.

    Within RESOLVE_WINDOW_SECONDS of the last resolve, `stale` itself may come back:
    the caller then knows that retrying gains nothing. Raises ResolveError when the
    hosters cannot give one.
    """
    cache.forget(cache.identity_key(identity))
    with _resolve_lock(identity):
        known = _stored(identity)
        if known is not None and (stale is None or known.version != stale.version):
            return known  # someone else re-resolved while we waited for the lock
        _raise_recent_failure(identity)
        if stale is not None:  # a re-resolve, after an upstream failure
            if known is not None and _cache_get(cache.window_key(identity)) is not None:
                return known  # re-resolved moments ago and failing again: wait for the window
            soft_set(cache.window_key(identity), {"at": time.time()}, RESOLVE_WINDOW_SECONDS)
        if known is not None:
            invalidate(identity)  # it failed upstream: nobody may pick it up again
        try:
            stream = _resolver()(identity)
        except ResolveError as exc:
            soft_set(cache.failure_key(identity), {"error": str(exc)}, RESOLVE_WINDOW_SECONDS)
            raise
        fresh = Resolution(
            url=stream.url,
            headers=dict(stream.headers),
            provider=stream.provider,
            resolved_at=timezone.now(),
        )
        _store(identity, fresh)
        log.info("strm: resolved %s via %s", identity, fresh.provider or "?")
        return fresh


def invalidate(identity: EpisodeIdentity) -> None:
    """Forget the resolved URL everywhere: the next request resolves afresh."""
    cache.forget(cache.identity_key(identity))
    row = _mapping(identity)
    if row is not None:
        cache.purge(row)
    else:
        soft_delete(cache.identity_key(identity))


def record_failure(identity: EpisodeIdentity, status: int | None, error: str) -> None:
    """Note an upstream failure on the mapping row (admin: last status, failure count)."""
    cache.forget(cache.identity_key(identity))  # the next request reads what is stored
    StrmUrlMapping.objects.filter(**_lookup(identity)).update(
        last_status=status,
        last_error=error[:2000],
        last_checked_at=timezone.now(),
        fail_count=F("fail_count") + 1,
    )


def record_success(identity: EpisodeIdentity, status: int) -> None:
    """A retry after a re-resolve worked: note it, and let the next failure re-resolve."""
    soft_delete(cache.window_key(identity))
    StrmUrlMapping.objects.filter(**_lookup(identity)).update(
        last_status=status, last_error="", last_checked_at=timezone.now(), fail_count=0
    )


def _store(identity: EpisodeIdentity, fresh: Resolution) -> None:
    cache.forget(cache.identity_key(identity))
    soft_set(cache.identity_key(identity), fresh.to_cache(), _ttl())
    # The row may already exist with a strm_path (the .strm writer made it): keep that.
    StrmUrlMapping.objects.update_or_create(
        **_lookup(identity),
        defaults={
            "resolved_url": fresh.url,
            "resolved_headers": fresh.headers,
            "provider_used": fresh.provider,
            "resolved_at": fresh.resolved_at,
            "last_error": "",
        },
    )


@contextmanager
def _resolve_lock(identity: EpisodeIdentity) -> Iterator[None]:
    # Not thread-local: the renewing thread must see the holder's token.
    lock = get_redis().lock(
        cache.lock_key(identity),
        timeout=LOCK_LEASE_SECONDS,
        blocking_timeout=WAIT_TIMEOUT,
        sleep=0.05,
        thread_local=False,
    )
    try:
        acquired = lock.acquire()
    except redis.RedisError as exc:
        # Without Redis there is nothing to share a result through: resolve alone.
        log.warning("strm: resolve lock for %s unavailable (%s); resolving unlocked", identity, exc)
        yield
        return
    if not acquired:
        raise ResolveError(f"{identity}: another request is still resolving it; try again")
    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew_lock, args=(lock, stop, identity), name="resolve-lock", daemon=True
    )
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join(timeout=5)
        try:
            lock.release()
        except redis.RedisError as exc:  # expired meanwhile: the next holder is fine
            log.warning("strm: releasing the resolve lock for %s failed: %s", identity, exc)


def _renew_lock(lock: Lock, stop: threading.Event, identity: EpisodeIdentity) -> None:
    deadline = time.monotonic() + LOCK_TIMEOUT
    while not stop.wait(LOCK_LEASE_SECONDS / 3) and time.monotonic() < deadline:
        try:
            lock.reacquire()
        except redis.RedisError as exc:  # LockError included: lost it, others may resolve
            log.warning("strm: resolve lock for %s not renewed: %s", identity, exc)
            return


def _raise_recent_failure(identity: EpisodeIdentity) -> None:
    marker = _cache_get(cache.failure_key(identity))
    if marker is not None:
        raise ResolveError(str(marker.get("error") or f"{identity}: resolving failed just now"))


# --- the cache, tolerant of Redis being away (catalog.softcache) -------------------------


def _cache_get(key: str) -> dict[str, Any] | None:
    value = soft_get(key)
    return value if isinstance(value, dict) else None
