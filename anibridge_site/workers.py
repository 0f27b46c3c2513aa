"""Worker presence in Redis, read by /health (job recovery is downloads.recovery's).

Each worker process keeps a key `anibridge:worker:<nodename>` alive (TTL 30 s) listing
the queues it consumes, so /health can say "no worker serves the downloads queue"
without a broadcast round-trip.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any

from celery.signals import worker_ready, worker_shutdown

log = logging.getLogger(__name__)

PRESENCE_PREFIX = "anibridge:worker:"
PRESENCE_TTL = 30
_stop = threading.Event()


def _queues(consumer: Any) -> list[str]:
    try:
        return sorted(q.name for q in consumer.task_consumer.queues)
    except AttributeError:
        return []


def _announce(name: str, payload: str) -> None:
    from anibridge_site.redis_client import get_redis

    while not _stop.is_set():
        try:
            get_redis().set(PRESENCE_PREFIX + name, payload, ex=PRESENCE_TTL)
        except Exception as exc:  # Redis down: keep trying, the worker itself reconnects too
            log.warning("worker presence: cannot reach Redis: %s", exc)
        _stop.wait(PRESENCE_TTL / 3)


@worker_ready.connect
def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    name = getattr(sender, "hostname", None) or f"worker-{os.getpid()}"
    payload = json.dumps({"queues": _queues(sender), "pid": os.getpid()})
    threading.Thread(target=_announce, args=(name, payload), name="presence", daemon=True).start()


@worker_shutdown.connect
def _on_worker_shutdown(sender: Any = None, **_: Any) -> None:
    _stop.set()
    name = getattr(sender, "hostname", None)
    if not name:
        return
    from anibridge_site.redis_client import get_redis

    try:
        get_redis().delete(PRESENCE_PREFIX + name)
    except Exception as exc:
        log.debug("worker presence: could not remove key on shutdown: %s", exc)


def live_workers() -> dict[str, list[str]]:
    """Node name -> queues, for every worker that announced itself in the last 30 s."""
    from anibridge_site.redis_client import get_redis

    client = get_redis()
    names = list(client.scan_iter(match=PRESENCE_PREFIX + "*", count=100))
    result: dict[str, list[str]] = {}
    for key, raw in zip(names, client.mget(names) if names else [], strict=True):
        if raw is None:
            continue
        node = key.decode().removeprefix(PRESENCE_PREFIX)
        result[node] = json.loads(raw).get("queues", [])
    return result
