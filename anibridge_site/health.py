"""GET /health: is the database, Redis and a worker for every queue there?

Sites that are skipped while they cool down after failures (catalog.breaker) make the
status "degraded": searches find less, but AniBridge works, so it stays a 200."""

from __future__ import annotations

import logging
from typing import Any

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from anibridge_site.redis_client import get_redis
from anibridge_site.workers import live_workers
from catalog import breaker

log = logging.getLogger(__name__)

REQUIRED_QUEUES = ("default", "downloads")


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
    parts = {"database": database, "redis": redis, "workers": workers}
    down = [name for name, part in parts.items() if not part["ok"]]
    circuits = _circuits()
    degraded = [name for name, circuit in circuits.items() if circuit["open"]]
    status = "down" if down else ("degraded" if degraded else "ok")
    body = {"status": status, "down": down, **parts, "degraded": degraded, "circuits": circuits}
    if down:
        log.warning("health: %s down", ", ".join(down))
    return JsonResponse(body, status=200 if not down else 503)
