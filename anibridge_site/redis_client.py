"""One shared Redis client per process for presence keys and locks (the cache has its own)."""

from __future__ import annotations

from functools import cache

import redis
from django.conf import settings


@cache
def get_redis() -> redis.Redis:
    # Short timeouts: callers (health, locks) must answer quickly when Redis is down.
    return redis.Redis.from_url(
        settings.CONFIG.redis_url,
        socket_connect_timeout=1,
        socket_timeout=2,
        health_check_interval=30,
    )
