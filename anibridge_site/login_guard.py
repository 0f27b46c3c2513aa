"""Failed-login bans shared by the qBittorrent API login and the admin login.

Like qBittorrent (WebUI\\MaxAuthenticationFailCount=5, WebUI\\BanDuration=3600): after
LOGIN_MAX_FAILURES failed logins from one client address, that address is banned for
LOGIN_BAN_SECONDS; a successful login forgets its failures. Unlike qBittorrent, failures
are forgotten LOGIN_BAN_SECONDS after the last one, so a typo a week ago does not count.

The counts live in Redis, so every web process sees the same ones. When Redis cannot be
reached, each process counts in its own memory (a ban still happens, per process) and
logs that once a minute; a login never fails because Redis is down.

The client address is REMOTE_ADDR. X-Forwarded-For is believed only from the reverse
proxies listed in ANIBRIDGE_TRUSTED_PROXIES: anyone else could write any address there
and never be banned.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest

log = logging.getLogger(__name__)

_FAILURES = "anibridge:login:failures:"
_BANNED = "anibridge:login:banned:"
# Addresses remembered per process while Redis is down; the oldest go first.
LOCAL_LIMIT = 10_000
WARN_EVERY = 60.0


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
    if address is None:
        return False
    return any(address in net for net in settings.CONFIG.trusted_proxies)


def peer_is_trusted_proxy(request: HttpRequest | Any) -> bool:
    """Whether the request came straight from a reverse proxy in ANIBRIDGE_TRUSTED_PROXIES."""
    return _trusted(_address(str(request.META.get("REMOTE_ADDR") or "")))


def client_address(request: HttpRequest | Any) -> str:
    """The address a ban applies to (see `forwarded_client`)."""
    return forwarded_client(request.META)


def forwarded_client(meta: Mapping[str, Any]) -> str:
    """REMOTE_ADDR, or behind trusted proxies the last X-Forwarded-For entry that is not
    one of them (entries further left are the client's own word and could be anything);
    `meta`: Django's request.META or a WSGI environ."""
    remote = str(meta.get("REMOTE_ADDR") or "")
    peer = _address(remote)
    if not _trusted(peer):
        return str(peer) if peer is not None else remote
    hops: Iterable[str] = reversed(str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(","))
    for hop in hops:
        address = _address(hop)
        if address is None:
            break  # a malformed entry: nothing left of it can be trusted either
        if not _trusted(address):
            return str(address)
    return str(peer)


class _LocalCounts:
    """The same bookkeeping in this process's memory, for when Redis is unreachable."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}
        self._banned: dict[str, float] = {}

    def banned_for(self, address: str, now: float) -> float:
        with self._lock:
            until = self._banned.get(address, 0.0)
            if until <= now:
                self._banned.pop(address, None)
                return 0.0
            return until - now

    def fail(self, address: str, now: float, limit: int, ban: int) -> int:
        with self._lock:
            count, expires = self._failures.get(address, (0, 0.0))
            count = count + 1 if expires > now else 1
            if count >= limit:
                self._failures.pop(address, None)
                self._banned[address] = now + ban
            else:
                self._failures[address] = (count, now + ban)
            for table in (self._failures, self._banned):
                while len(table) > LOCAL_LIMIT:
                    table.pop(next(iter(table)))
            return count

    def forget(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()
            self._banned.clear()


class LoginGuard:
    """Counts failed logins per address and answers whether one is banned."""

    def __init__(self, redis_client: Any = None) -> None:
        self._redis = redis_client
        self.local = _LocalCounts()
        self._warned_at = -WARN_EVERY

    def _client(self) -> Any:
        if self._redis is not None:
            return self._redis
        from anibridge_site.redis_client import get_redis

        return get_redis()

    def _redis_down(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            log.warning(
                "login bans: Redis unreachable (%s); counting failed logins per process", exc
            )

    def banned_for(self, address: str) -> float:
        """Seconds left of this address's ban; 0 when it may try to log in."""
        if settings.CONFIG.login_max_failures <= 0:
            return 0.0
        local = self.local.banned_for(address, time.monotonic())
        try:
            remote = float(max(0, self._client().ttl(_BANNED + address)))
        except Exception as exc:  # any Redis failure: fall back to this process's counts
            self._redis_down(exc)
            remote = 0.0
        return max(local, remote)

    def failed(self, address: str) -> int:
        """Count one failed login; bans the address when it reaches the limit."""
        cfg = settings.CONFIG
        if cfg.login_max_failures <= 0:
            return 0
        try:
            pipe = self._client().pipeline()
            pipe.incr(_FAILURES + address)
            pipe.expire(_FAILURES + address, cfg.login_ban_seconds)
            count = int(pipe.execute()[0])
            if count >= cfg.login_max_failures:
                pipe = self._client().pipeline()
                pipe.set(_BANNED + address, "1", ex=cfg.login_ban_seconds)
                pipe.delete(_FAILURES + address)
                pipe.execute()
        except Exception as exc:
            self._redis_down(exc)
            count = self.local.fail(
                address, time.monotonic(), cfg.login_max_failures, cfg.login_ban_seconds
            )
        if count >= cfg.login_max_failures:
            log.warning(
                "login: %s banned for %d s after %d failed logins",
                address,
                cfg.login_ban_seconds,
                count,
            )
        return count

    def succeeded(self, address: str) -> None:
        """A correct login forgets the address's earlier failures."""
        self.local.forget(address)
        try:
            self._client().delete(_FAILURES + address)
        except Exception as exc:
            self._redis_down(exc)


GUARD = LoginGuard()
BANNED_MESSAGE = "Your IP address has been banned after too many failed authentication attempts."
