"""MAX_CONCURRENCY across every worker process and machine: a lease semaphore in Redis.

A slot is a member of a sorted set scored by its expiry; holders renew it with their
job lease, and a crashed holder's slot expires on its own.
"""

from __future__ import annotations

import time
from typing import Any

from anibridge_site.redis_client import get_redis

KEY = "anibridge:download-slots"
SLOT_SECONDS = 90

_ACQUIRE = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[2])
  return 1
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[2])
  return 1
end
return 0
"""
_script: Any = None


def acquire(holder: str, limit: int) -> bool:
    global _script
    if _script is None:
        _script = get_redis().register_script(_ACQUIRE)
    return bool(_script(keys=[KEY], args=[time.time(), holder, limit, SLOT_SECONDS]))


def renew(holder: str) -> None:
    get_redis().zadd(KEY, {holder: time.time() + SLOT_SECONDS}, xx=True)


def release(holder: str) -> None:
    get_redis().zrem(KEY, holder)


def holders() -> list[str]:
    client = get_redis()
    client.zremrangebyscore(KEY, "-inf", time.time())
    members: list[bytes] = client.zrange(KEY, 0, -1)  # type: ignore[assignment]
    return [m.decode() for m in members]
