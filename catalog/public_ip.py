"""The public IP address our outbound traffic leaves from, checked now and then.

With PUBLIC_IP_CHECK_ENABLED, beat runs `check()` every PUBLIC_IP_CHECK_INTERVAL_MIN
minutes: it asks PUBLIC_IP_CHECK_URL (an echo service answering the caller's address
as text, or JSON with an "ip" field) over the same route as every other fetch (the
proxy, if one is configured) and keeps the answer in EgressAddress rows.

CDN URLs are bound to the address that resolved them. When the address changes, the
change time goes to Redis and `changed_since(t)` tells whether something resolved at
`t` predates it. strm consults it when it reads a stored resolution (strm.resolved),
so each resolved URL is re-resolved on its next use instead of failing first. A time
rather than a purge: catalog may not reach into strm's tables, a purge in one process
would miss the resolutions other processes hold in memory, and one read per stored
resolution costs less than sweeping every cache key and mapping row.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from django.conf import settings
from django.utils import timezone

from anibridge_site.redis_client import get_redis
from catalog.egress import sessions, ssrf
from catalog.models import EgressAddress

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 15.0
CHANGED_KEY = "anibridge:egress:changed-at"  # epoch seconds; "0" = never changed
ERROR_KEY = "anibridge:egress:error"


class CheckFailed(Exception):
    """The check URL could not tell our address; str() is one line."""


@dataclass(frozen=True)
class Status:
    address: str
    seen_since: datetime
    last_seen_at: datetime
    changed: bool


def check() -> Status:
    """Ask the check URL for our address now and record it; CheckFailed if it cannot say."""
    url = settings.CONFIG.public_ip_check_url
    try:
        address = _ask(url)
    except CheckFailed as exc:
        _note_error(str(exc))
        raise
    _note_error("")
    now = timezone.now()
    latest = EgressAddress.objects.order_by("-seen_since").first()
    if latest is not None and latest.address == address:
        EgressAddress.objects.filter(pk=latest.pk).update(last_seen_at=now)
        return Status(address, latest.seen_since, now, changed=False)
    EgressAddress.objects.create(address=address, seen_since=now, last_seen_at=now)
    if latest is None:
        log.info("public IP: traffic leaves from %s", address)
        return Status(address, now, now, changed=False)
    log.warning(
        "public IP changed from %s to %s: resolved stream URLs will be resolved again",
        latest.address,
        address,
    )
    _set_changed_at(now)
    return Status(address, now, now, changed=True)


def _ask(url: str) -> str:
    try:
        response = _session().get(url, timeout=TIMEOUT_SECONDS)
    except ssrf.BlockedTarget as exc:
        raise CheckFailed(f"public IP check not sent: {exc}") from None
    except requests.RequestException as exc:
        reason = sessions.reason(exc) or type(exc).__name__
        raise CheckFailed(f"public IP check {url} failed: {reason}") from None
    if response.status_code != 200:
        raise CheckFailed(f"public IP check {url} answered HTTP {response.status_code}")
    text = response.text.strip()
    if text.startswith("{"):
        try:
            text = str(response.json().get("ip", ""))
        except (ValueError, AttributeError):
            text = ""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise CheckFailed(f"public IP check {url} answered no IP address: {text[:60]!r}") from None


_session_holder: dict[str, requests.Session] = {}


def _session() -> requests.Session:
    # Beat runs one check at a time: one session per process is enough.
    if "session" not in _session_holder:
        _session_holder["session"] = sessions.checked_session()
    return _session_holder["session"]


def current() -> dict[str, Any]:
    """What /health and the admin show: address, since when, last check, last error."""
    if not settings.CONFIG.public_ip_check_enabled:
        return {"check_enabled": False}
    latest = EgressAddress.objects.order_by("-seen_since").first()
    try:
        raw = get_redis().get(ERROR_KEY) or b""
        error = raw.decode() if isinstance(raw, bytes) else str(raw)
    except Exception as exc:  # Redis down: health reports that part itself
        error = f"unknown ({type(exc).__name__})"
    return {
        "check_enabled": True,
        "ip": latest.address if latest else None,
        "changed_at": latest.seen_since.isoformat() if latest else None,
        "checked_at": latest.last_seen_at.isoformat() if latest else None,
        "error": error or None,
    }


def changed_since(moment: datetime) -> bool:
    """Whether the public IP changed after `moment` (a URL resolved then is stale)."""
    if not settings.CONFIG.public_ip_check_enabled:
        return False
    changed_at = _changed_at()
    return changed_at is not None and moment.timestamp() < changed_at


def _changed_at() -> float | None:
    try:
        raw = get_redis().get(CHANGED_KEY)
    except Exception:
        raw = None
    if raw is None:
        # Redis lost it (restart without persistence): the rows still know.
        rows = list(EgressAddress.objects.order_by("-seen_since")[:2])
        value = rows[0].seen_since.timestamp() if len(rows) == 2 else 0.0
        try:
            get_redis().set(CHANGED_KEY, repr(value))
        except Exception as exc:
            log.debug("public IP: cannot keep the change time in Redis: %s", exc)
        return value or None
    value = float(raw)
    return value or None


def _set_changed_at(moment: datetime) -> None:
    try:
        get_redis().set(CHANGED_KEY, repr(moment.timestamp()))
    except Exception as exc:  # a Redis that lost the key is refilled from the rows
        log.warning("public IP: cannot note the change in Redis: %s", exc)


def _note_error(text: str) -> None:
    try:
        if text:
            get_redis().set(ERROR_KEY, text[:500])
        else:
            get_redis().delete(ERROR_KEY)
    except Exception as exc:
        log.debug("public IP: cannot note the check's outcome in Redis: %s", exc)
