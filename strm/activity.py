"""Which .strm is playing now: the proxy counts what it sends per episode and client, and
the admin's "Active streams" page reads it.

Cheap by design: a reply only adds to a counter in this process; at most every
FLUSH_SECONDS per stream the sums go to Redis in one script call (a hash per stream
that expires when the stream stops, and a sorted set to list them). Rates are
measured over windows of at least WINDOW_SECONDS across all web processes. A Redis
failure costs the page its numbers, never a byte of a stream.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from anibridge_site.redis_client import get_redis
from catalog.identity import EpisodeIdentity

if TYPE_CHECKING:
    from strm.proxy import ClientRequest, Reply

log = logging.getLogger(__name__)

FLUSH_SECONDS = 5.0
WINDOW_SECONDS = 10.0
# A stream without a request for this long is no longer playing.
IDLE_SECONDS = 60
INDEX_KEY = "anibridge:strm:playing"
# Streams this process keeps counts for before it forgets the stopped ones.
MAX_TRACKED = 500
_PREFIX = "anibridge:strm:playing:"

# KEYS[1] the stream's hash, KEYS[2] the index; ARGV: now, bytes, ttl, who (JSON).
_FLUSH = """
local now = tonumber(ARGV[1])
if redis.call('HSETNX', KEYS[1], 'since', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'who', ARGV[4], 'window_start', ARGV[1], 'window_bytes', 0)
end
redis.call('HINCRBY', KEYS[1], 'bytes', ARGV[2])
local window = redis.call('HINCRBY', KEYS[1], 'window_bytes', ARGV[2])
local started = tonumber(redis.call('HGET', KEYS[1], 'window_start'))
if now > started and now - started >= tonumber(ARGV[5]) then
  redis.call('HSET', KEYS[1], 'rate', window / (now - started), 'window_start', ARGV[1],
             'window_bytes', 0)
end
redis.call('HSET', KEYS[1], 'last_seen', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], now, KEYS[1])
return 1
"""


@dataclass
class _Pending:
    who: str
    bytes: int = 0
    flushed_at: float = 0.0  # monotonic; 0: never, so a new stream shows up at once


@dataclass(frozen=True)
class Stream:
    identity: EpisodeIdentity
    client: str
    agent: str
    since: float  # epoch seconds
    last_seen: float
    bytes: int
    rate: float | None  # bytes per second over the last window; None until measured


_pending: dict[str, _Pending] = {}
_lock = threading.Lock()
_script: Any = None


def _wall() -> float:
    return time.time()


def _stream_key(identity: EpisodeIdentity, client: str, agent: str) -> str:
    raw = f"{identity}|{client}|{agent}".encode()
    return _PREFIX + hashlib.sha1(raw, usedforsecurity=False).hexdigest()[:20]


def record(identity: EpisodeIdentity, client: str, agent: str, sent: int) -> None:
    """Count `sent` bytes the proxy answers `client` with for `identity`."""
    key = _stream_key(identity, client, agent)
    now = time.monotonic()
    with _lock:
        pending = _pending.get(key)
        if pending is None:
            if len(_pending) >= MAX_TRACKED:
                _forget_stopped(now)
            who = json.dumps(
                {
                    "site": identity.site,
                    "slug": identity.slug,
                    "season": identity.season,
                    "episode": identity.episode,
                    "language": identity.language,
                    "client": client,
                    "agent": agent[:200],
                }
            )
            pending = _pending[key] = _Pending(who)
        pending.bytes += sent
        if now - pending.flushed_at < FLUSH_SECONDS:
            return
        amount, pending.bytes, pending.flushed_at = pending.bytes, 0, now
    _flush(key, pending.who, amount)


def _forget_stopped(now: float) -> None:
    for key in [k for k, p in _pending.items() if now - p.flushed_at > IDLE_SECONDS]:
        del _pending[key]


def _flush(key: str, who: str, amount: int) -> None:
    global _script
    try:
        if _script is None:
            _script = get_redis().register_script(_FLUSH)
        _script(
            keys=[key, INDEX_KEY],
            args=[_wall(), amount, IDLE_SECONDS, who, WINDOW_SECONDS],
        )
    except RedisError as exc:
        log.debug("strm activity not recorded (Redis): %s", exc)


def playing() -> list[Stream]:
    """The streams that sent something in the last IDLE_SECONDS, newest first."""
    client = get_redis()
    now = _wall()
    client.zremrangebyscore(INDEX_KEY, "-inf", now - IDLE_SECONDS)
    keys: list[bytes] = client.zrevrange(INDEX_KEY, 0, 199)  # type: ignore[assignment]
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.hgetall(key)
    streams = []
    for raw in pipe.execute():
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        if "who" not in fields:
            continue  # expired between the two calls
        who = json.loads(fields["who"])
        streams.append(
            Stream(
                identity=EpisodeIdentity(
                    who["site"], who["slug"], who["season"], who["episode"], who["language"]
                ),
                client=who["client"],
                agent=who["agent"],
                since=float(fields["since"]),
                last_seen=float(fields["last_seen"]),
                bytes=int(fields.get("bytes", 0)),
                rate=float(fields["rate"]) if "rate" in fields else None,
            )
        )
    return streams


def forget_pending() -> None:
    """Drop this process's unsent counts (tests)."""
    with _lock:
        _pending.clear()


def seen(identity: EpisodeIdentity, client: ClientRequest, reply: Reply) -> Reply:
    """Count a proxy reply's body for the Active streams page; returns the reply."""
    if client.method == "GET" and reply.status in (200, 206):
        try:
            sent = int(reply.headers.get("Content-Length", "0"))
        except ValueError:
            sent = 0
        record(identity, client.peer, client.agent, sent)
    return reply
