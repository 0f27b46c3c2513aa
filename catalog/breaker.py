"""Circuit breakers for the outside world: a site that keeps failing is skipped for a
cool-down, so searches and jobs answer at once instead of waiting for it.

A circuit has a name: a site ("aniworld.to", "s.to", "megakino"), a site's hoster
links ("s.to hosters") or "skyhook". Its state is one Redis hash, shared by the web
processes and the workers:

- closed: calls go through. SITE_BREAKER_FAILURES failures in a row open it (a
  success in between starts the count again).
- open: `check` raises `CircuitOpen` at once, for SITE_BREAKER_COOLDOWN_SECONDS.
- after the cool-down calls go through again, but the next failure reopens it at
  once; a success closes it.

`trip` opens a circuit directly for a given time (a challenge page, SkyHook down).
`guard` wraps one call: checked before, counted after. A `NotOnSite` answer is a
success: the site answered. Without Redis every process keeps the same state for
itself, so a search still skips a site this process saw failing.

Use it for every request to a site:

    with breaker.guard("s.to"):
        page = fetch(...)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from redis.exceptions import RedisError

from anibridge_site.redis_client import get_redis
from catalog import memo
from catalog.sites.base import NotOnSite, SiteError

__all__ = [
    "CircuitOpen",
    "CircuitState",
    "check",
    "failed",
    "forget_process_state",
    "guard",
    "reset",
    "state",
    "states",
    "succeeded",
    "trip",
]

log = logging.getLogger(__name__)

_PREFIX = "anibridge:breaker:"
# Failures older than this (with none since) no longer count towards opening.
FORGET_SECONDS = 600
# After a Redis error, this process keeps its own state this long before asking again:
# every call would otherwise wait for Redis's connect timeout.
REDIS_RETRY_SECONDS = 10.0

# One failure, atomically: count it; at the threshold open the circuit unless it is
# open already. While open, the count stays one short of the threshold, so the first
# failure after the cool-down reopens it at once (half-open).
_FAILED = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local threshold = tonumber(ARGV[2])
local failures = redis.call('HINCRBY', key, 'failures', 1)
redis.call('HSET', key, 'reason', ARGV[4])
local opened = 0
if failures >= threshold then
  local open_until = tonumber(redis.call('HGET', key, 'open_until') or '0')
  if open_until <= now then
    redis.call('HSET', key, 'open_until', now + tonumber(ARGV[3]), 'failures', threshold - 1)
    opened = 1
  end
end
redis.call('EXPIRE', key, math.ceil(tonumber(ARGV[3]) + tonumber(ARGV[5])))
return opened
"""


class CircuitOpen(SiteError):
    """A circuit is open: the call was not made. str() says what and until when."""

    def __init__(self, circuit: CircuitState) -> None:
        super().__init__(
            f"{circuit.name} is paused for {circuit.retry_in:.0f} s more "
            f"(last failure: {circuit.reason or 'unknown'}); it is tried again after that"
        )
        self.circuit = circuit


@dataclass(frozen=True)
class CircuitState:
    name: str
    failures: int = 0  # in a row, or one short of the threshold while open
    open_until: float = 0.0  # epoch seconds; 0 = never opened
    reason: str = ""  # the last failure, one line

    @property
    def is_open(self) -> bool:
        return self.open_until > time.time()

    @property
    def retry_in(self) -> float:
        """Seconds until calls go through again; 0 when they do now."""
        return max(0.0, self.open_until - time.time())


# -- the store: Redis, or this process when Redis fails -------------------------------------


class _LocalStore:
    """The same rules as the Redis script, for one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, CircuitState] = {}

    def get(self, name: str) -> CircuitState:
        with self._lock:
            return self._states.get(name, CircuitState(name))

    def all(self) -> list[CircuitState]:
        with self._lock:
            return list(self._states.values())

    def failed(self, name: str, reason: str, threshold: int, cooldown: float) -> bool:
        now = time.time()
        with self._lock:
            old = self._states.get(name, CircuitState(name))
            opened = old.failures + 1 >= threshold and old.open_until <= now
            if opened:
                new = CircuitState(name, threshold - 1, now + cooldown, reason)
            else:
                new = CircuitState(name, old.failures + 1, old.open_until, reason)
            self._states[name] = new
            return opened

    def trip(self, name: str, reason: str, seconds: float, threshold: int) -> None:
        with self._lock:
            self._states[name] = CircuitState(name, threshold - 1, time.time() + seconds, reason)

    def delete(self, name: str) -> None:
        with self._lock:
            self._states.pop(name, None)

    def clear(self) -> None:
        with self._lock:
            self._states.clear()


_local = _LocalStore()
_redis_down_until = 0.0


def _redis() -> Any | None:
    """The Redis client, or None while this process is going without it."""
    return None if time.monotonic() < _redis_down_until else get_redis()


def _redis_failed(exc: RedisError) -> None:
    global _redis_down_until
    if time.monotonic() >= _redis_down_until:
        log.warning(
            "circuit breakers: Redis unavailable (%s); this process keeps its own for %.0f s",
            exc,
            REDIS_RETRY_SECONDS,
        )
    _redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS


def _key(name: str) -> str:
    return _PREFIX + name


def _from_hash(name: str, raw: dict[bytes, bytes]) -> CircuitState:
    def number(field: str) -> float:
        try:
            return float(raw.get(field.encode(), b"0"))
        except ValueError:
            return 0.0

    return CircuitState(
        name=name,
        failures=int(number("failures")),
        open_until=number("open_until"),
        reason=raw.get(b"reason", b"").decode(errors="replace"),
    )


def _threshold() -> int:
    return settings.CONFIG.site_breaker_failures


# -- the API ----------------------------------------------------------------------------------


def state(name: str) -> CircuitState:
    """The circuit's state now (closed and empty when nothing is known)."""
    client = _redis()
    if client is not None:
        try:
            return _from_hash(name, client.hgetall(_key(name)))
        except RedisError as exc:
            _redis_failed(exc)
    return _local.get(name)


def check(name: str) -> None:
    """Raise CircuitOpen while the circuit is open."""
    current = state(name)
    if current.is_open:
        raise CircuitOpen(current)


def failed(name: str, reason: str) -> bool:
    """Count one failure; True when it opened the circuit (logged once, here)."""
    cooldown = settings.CONFIG.site_breaker_cooldown_seconds
    threshold = _threshold()
    reason = " ".join(reason.split())[:300]
    opened = None
    client = _redis()
    if client is not None:
        try:
            args = (time.time(), threshold, cooldown, reason, FORGET_SECONDS)
            opened = bool(client.eval(_FAILED, 1, _key(name), *args))
        except RedisError as exc:
            _redis_failed(exc)
    if opened is None:
        opened = _local.failed(name, reason, threshold, cooldown)
    if opened:
        log.warning("%s keeps failing (last: %s); skipping it for %.0f s", name, reason, cooldown)
    return opened


def succeeded(name: str) -> None:
    """A call went through: the circuit is closed and its count starts again."""
    reset(name)


def trip(name: str, reason: str, seconds: float) -> None:
    """Open the circuit now for `seconds` (a challenge page, a service that is down)."""
    reason = " ".join(reason.split())[:300]
    now = time.time()
    client = _redis()
    if client is not None:
        try:
            fields = {"failures": _threshold() - 1, "open_until": now + seconds, "reason": reason}
            with client.pipeline() as pipe:
                pipe.hset(_key(name), mapping=fields)
                pipe.expire(_key(name), int(seconds + FORGET_SECONDS))
                pipe.execute()
            return
        except RedisError as exc:
            _redis_failed(exc)
    _local.trip(name, reason, seconds, _threshold())


def reset(name: str) -> None:
    """Close the circuit: forget its failures."""
    _local.delete(name)
    client = _redis()
    if client is None:
        return
    try:
        client.delete(_key(name))
    except RedisError as exc:
        _redis_failed(exc)


def states() -> list[CircuitState]:
    """Every circuit with something to say (failures, or open), by name."""
    client = _redis()
    if client is not None:
        try:
            keys = sorted(client.scan_iter(match=_PREFIX + "*", count=100))
            with client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hgetall(key)
                hashes = pipe.execute()
            found = [
                _from_hash(key.decode(errors="replace").removeprefix(_PREFIX), raw)
                for key, raw in zip(keys, hashes, strict=True)
                if raw
            ]
            return sorted(found, key=lambda s: s.name)
        except RedisError as exc:
            _redis_failed(exc)
    return sorted(_local.all(), key=lambda s: s.name)


@memo.also_forget
def forget_process_state() -> None:
    """Drop what this process kept while Redis was down (tests; a process starting over)."""
    global _redis_down_until
    _local.clear()
    _redis_down_until = 0.0


@contextmanager
def guard(name: str) -> Iterator[None]:
    """One call to `name`: refused while open; a SiteError inside counts as a failure
    (and is logged once, here), a return or any other answer as a success."""
    check(name)
    try:
        yield
    except CircuitOpen:
        raise  # a nested circuit refused: this one was not asked
    except NotOnSite:
        succeeded(name)
        raise
    except SiteError as exc:
        if not failed(name, str(exc)):
            log.warning("%s failed: %s", name, exc)
        raise
    succeeded(name)
