"""The Django cache used as an optimisation only: when Redis fails, a read is a miss and a
write is skipped (logged), because an uncached answer is slower, not wrong."""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache
from redis.exceptions import RedisError

__all__ = ["soft_get", "soft_set"]

log = logging.getLogger(__name__)


def soft_get(key: str) -> Any:
    try:
        return cache.get(key)
    except RedisError as exc:
        log.warning("cache read of %s failed (%s); going without", key, exc)
        return None


def soft_set(key: str, value: Any, timeout: float) -> None:
    if timeout <= 0:
        return
    try:
        cache.set(key, value, timeout)
    except RedisError as exc:
        log.warning("cache write of %s failed (%s)", key, exc)
