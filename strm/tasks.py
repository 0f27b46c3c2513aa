"""Celery tasks of the STRM app (queue "default"): refresh one mapping on request, and
the periodic dead-link check (beat, CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

import contextlib
import logging

from celery import shared_task
from django.db import transaction
from redis.exceptions import LockError

from anibridge_site.redis_client import get_redis
from strm import dead_links, operations
from strm.models import StrmUrlMapping

log = logging.getLogger(__name__)

DEAD_LINK_BATCH = 50
# Beat starts a run every 30 min: a run stops starting checks well before the next,
# and the lock keeps a straggler from overlapping it.
DEAD_LINK_BUDGET_SECONDS = 20 * 60
DEAD_LINK_LOCK = "anibridge:strm:dead-link-check"
DEAD_LINK_LOCK_SECONDS = 28 * 60


@shared_task(name="strm.tasks.refresh_strm_mapping", soft_time_limit=300, time_limit=360)
def refresh_strm_mapping(mapping_id: int) -> str:
    """Re-resolve one mapping and rewrite its .strm file; the outcome line is the result."""
    mapping = StrmUrlMapping.objects.filter(pk=mapping_id).first()
    if mapping is None:
        return f"mapping {mapping_id} no longer exists"
    return str(operations.refresh_mapping(mapping))


def enqueue_refresh(mapping_id: int) -> None:
    """Queue a refresh once the surrounding transaction commits (never a task for a
    row the worker cannot see yet)."""
    transaction.on_commit(lambda: refresh_strm_mapping.delay(mapping_id))


@shared_task(
    name="strm.tasks.check_dead_links",
    ignore_result=True,
    soft_time_limit=DEAD_LINK_LOCK_SECONDS - 60,
    time_limit=DEAD_LINK_LOCK_SECONDS,
)
def check_dead_links(batch: int = DEAD_LINK_BATCH) -> list[str]:
    """Probe the `batch` mappings due for a check (see strm.dead_links)."""
    lock = get_redis().lock(DEAD_LINK_LOCK, timeout=DEAD_LINK_LOCK_SECONDS)
    if not lock.acquire(blocking=False):
        log.info("strm dead-link check: the previous run is still going; skipping this one")
        return []
    try:
        return dead_links.check_due(batch, DEAD_LINK_BUDGET_SECONDS)
    finally:
        with contextlib.suppress(LockError):  # expired: the time limit ended the run anyway
            lock.release()
