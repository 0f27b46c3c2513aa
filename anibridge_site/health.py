"""GET /health: is the database, Redis and a worker for every queue there?

"degraded" (still a 200: AniBridge works, but finds or fetches less) when sites are
skipped while they cool down after failures (catalog.breaker) or DOWNLOAD_DIR is
nearly full."""

from __future__ import annotations

import logging
import shutil
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from anibridge_site import supervisor
from anibridge_site.redis_client import get_redis
from anibridge_site.version import VERSION
from anibridge_site.workers import live_workers
from catalog import breaker

log = logging.getLogger(__name__)

REQUIRED_QUEUES = ("default", "downloads")
# Below this, /health says "degraded": a download or two more and DOWNLOAD_DIR is full.
LOW_SPACE_MB = 1024
MB = 1024 * 1024


def _database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "engine": connection.vendor}


def _redis() -> dict[str, Any]:
    try:
        get_redis().ping()
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True}


def _workers(redis_ok: bool) -> dict[str, Any]:
    if not redis_ok:
        return {
            "ok": False,
            "error": "unknown: workers announce themselves in Redis, which is down",
        }
    try:
        nodes = live_workers()
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    served = {q for queues in nodes.values() for q in queues}
    missing = [q for q in REQUIRED_QUEUES if q not in served]
    result: dict[str, Any] = {"ok": not missing, "nodes": nodes}
    if missing:
        result["error"] = "no worker consumes queue(s): " + ", ".join(missing)
    return result


def _egress(database_ok: bool) -> dict[str, Any]:
    """The public IP traffic leaves from (informational: never makes health fail)."""
    if not database_ok:
        return {"error": "unknown: the database is down"}
    from catalog import public_ip

    try:
        return public_ip.current()
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}


def _supervised() -> dict[str, Any] | None:
    """Restarts per process when `make run`'s supervisor runs this host's stack."""
    state = supervisor.read_state(settings.CONFIG.data_dir)
    if state is None:
        return None
    return {
        name: {key: info.get(key) for key in ("running", "restarts", "last_exit", "last_restart")}
        for name, info in state.get("processes", {}).items()
    }


def _download_dir() -> dict[str, Any]:
    """Free space where downloads go; never "down": the web side works without it."""
    path = settings.CONFIG.download_dir
    try:
        free_mb = shutil.disk_usage(path).free // MB
    except OSError as exc:
        return {"ok": True, "path": str(path), "low": True, "error": f"{exc}"[:300]}
    result: dict[str, Any] = {"ok": True, "path": str(path), "free_mb": free_mb}
    result["low"] = free_mb < LOW_SPACE_MB
    if result["low"]:
        result["error"] = f"only {free_mb} MB free: downloads fail with a full disk"
    return result


def _circuits() -> dict[str, Any]:
    """Every circuit with recent failures: open ones are skipped until `retry_in_seconds`."""
    return {
        state.name: {
            "open": state.is_open,
            "retry_in_seconds": round(state.retry_in),
            "failures": state.failures,
            "last_failure": state.reason,
        }
        for state in breaker.states()
    }


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    database = _database()
    redis = _redis()
    workers = _workers(redis["ok"])
    download_dir = _download_dir()
    parts = {"database": database, "redis": redis, "workers": workers}
    down = [name for name, part in parts.items() if not part["ok"]]
    circuits = _circuits()
    degraded = [name for name, circuit in circuits.items() if circuit["open"]]
    if download_dir["low"]:
        degraded.append("download_dir")
    status = "down" if down else ("degraded" if degraded else "ok")
    body = {"status": status, "down": down, "version": VERSION, **parts}
    body |= {"degraded": degraded, "circuits": circuits, "download_dir": download_dir}
    body["egress"] = _egress(database["ok"])
    processes = _supervised()
    if processes is not None:
        body["processes"] = processes
    if down:
        log.warning("health: %s down", ", ".join(down))
    return JsonResponse(body, status=200 if not down else 503)
