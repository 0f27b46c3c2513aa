"""The Django cache used as an optimisation only: when Redis fails, a read is a miss and
a write or delete is skipped (logged), because an uncached answer is slower, not wrong.

Only Redis's own errors (unreachable, timed out, refused) are tolerated: anything else
is a bug and propagates. Used by catalog and strm alike, so it lives in catalog.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache
from redis.exceptions import RedisError

__all__ = ["soft_delete", "soft_get", "soft_set"]

log = logging.getLogger(__name__)


def soft_get(key: str) -> Any:
    try:
        return cache.get(key)
    except RedisError as exc:
        log.warning("cache read of %s failed (%s); going without", key, exc)
        return None


def soft_set(key: str, value: Any, timeout: float | None) -> None:
    """Store `value` for `timeout` seconds (None: no expiry; 0 or less: not at all)."""
    if timeout is not None and timeout <= 0:
        return
    try:
        cache.set(key, value, timeout)
    except RedisError as exc:
        log.warning("cache write of %s failed (%s)", key, exc)


def soft_delete(*keys: str) -> None:
    try:
        cache.delete_many(list(keys))
    except RedisError as exc:
        log.warning("cache delete of %s failed (%s)", ", ".join(keys), exc)
