"""Worker presence in Redis (read by /health), job recovery when a worker starts, and
re-sending jobs whose messages the broker lost whenever a worker reconnects to it.

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

from celery import bootsteps
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

    from downloads import ledger

    recovered = ledger.recover_orphans_on_this_host()
    if recovered:
        log.info("requeued %d job(s) left running by a worker that died on this host", recovered)


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


class ResendUnsentJobs(bootsteps.StartStopStep):
    """A consumer step: Celery starts it again after every reconnection to the broker,
    which is when a restarted Redis may have lost queued messages (downloads.ledger).

    Not at the first connection: nothing was lost from this worker's point of view,
    and beat's periodic sweep covers jobs that were never sent. Every worker start
    scanning the queued jobs would only add duplicate deliveries.
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.connections = 0

    def start(self, parent: Any) -> None:
        from downloads import ledger

        self.connections += 1
        if self.connections == 1:
            return
        try:
            sent = ledger.resend_unsent()
        except Exception as exc:  # never keep the worker from consuming; beat tries again
            log.warning("could not check for jobs the broker lost: %s", exc)
            return
        if sent:
            log.info("sent %d queued job(s) again that the broker had lost", sent)
