"""Celery tasks: run a job through the handler for its kind, plus periodic housekeeping."""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from redis.exceptions import RedisError

from downloads import ledger, slots
from downloads.models import Job
from downloads.storage import LocalStorageError

log = logging.getLogger(__name__)

# At most one progress write per job per this many seconds: Sonarr polls once a
# minute, and SQLite has one writer at a time for every process.
PROGRESS_WRITE_INTERVAL = 1.0
HEARTBEAT_INTERVAL = ledger.LEASE_SECONDS / 4
SLOT_RETRY_SECONDS = 3


class JobInterrupted(Exception):
    """The job was cancelled or stopped (or taken over) while it ran."""


@dataclass
class JobResult:
    result_path: str = ""
    message: str = "completed"
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class JobContext:
    """What a handler uses to report progress and to learn that it must stop."""

    job_id: str
    holds_slot: bool = False
    interrupted: threading.Event = field(default_factory=threading.Event)
    _last_write: float = 0.0
    _pending: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self) -> None:
        if self.interrupted.is_set():
            raise JobInterrupted(self.job_id)

    def report(self, force: bool = False, **fields: Any) -> None:
        """Store progress fields (rate-limited) and raise JobInterrupted if we must stop."""
        self.check()
        with self._lock:
            self._pending.update(fields)
            now = time.monotonic()
            if not force and now - self._last_write < PROGRESS_WRITE_INTERVAL:
                return
            pending, self._pending = self._pending, {}
            self._last_write = now
        self._renew(pending)
        self.check()

    def _renew(self, fields: dict[str, Any]) -> None:
        if not ledger.renew(self.job_id, **fields):
            self.interrupted.set()
        if self.holds_slot:
            try:
                slots.renew(self.job_id)
            except RedisError as exc:
                # The slot outlives a Redis outage of SLOT_SECONDS; failing the
                # download over a bookkeeping write would be far worse.
                log.warning("job %s: download slot not renewed, Redis: %s", self.job_id, exc)

    @contextmanager
    def heartbeat(self) -> Iterator[None]:
        """Keep the lease alive while a handler blocks (e.g. while ffmpeg joins segments)."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(HEARTBEAT_INTERVAL):
                with self._lock:
                    pending, self._pending = self._pending, {}
                try:
                    self._renew(pending)
                except Exception as exc:  # database briefly unavailable: the lease has slack
                    log.warning("job %s: lease renewal failed: %s", self.job_id, exc)

        thread = threading.Thread(target=beat, name=f"lease-{self.job_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)


Handler = Callable[[Job, JobContext], JobResult]
HANDLERS: dict[str, Handler] = {}
# Kinds that count against MAX_CONCURRENCY (downloads; not quick .strm resolution).
SLOTTED_KINDS: set[str] = set()


def register(kind: str, slotted: bool = False) -> Callable[[Handler], Handler]:
    def decorator(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        if slotted:
            SLOTTED_KINDS.add(kind)
        return fn

    return decorator


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else 'no detail'}"[:500]


@shared_task(
    bind=True,
    name="downloads.tasks.run_job",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
)
def run_job(self: Task, job_id: str) -> str:
    kind = Job.objects.filter(pk=job_id).values_list("kind", flat=True).first()
    needs_slot = kind in SLOTTED_KINDS
    if needs_slot and not _acquire_slot(job_id):
        # MAX_CONCURRENCY downloads run elsewhere; stay queued and look again soon.
        ledger.mark_sent(job_id, self.request.id or "")  # the retry below keeps its id
        raise self.retry(countdown=SLOT_RETRY_SECONDS)
    try:
        job = ledger.claim(job_id)
    except ledger.Busy as busy:
        # A duplicate delivery of a job running elsewhere: the slot, keyed by the job
        # id, belongs to that run and must not be released by this one.
        raise self.retry(countdown=busy.retry_after) from None
    try:
        return _run_claimed(job, job_id, needs_slot)
    finally:
        if needs_slot:
            _release_slot(job_id)


def _acquire_slot(job_id: str) -> bool:
    try:
        return slots.acquire(job_id, settings.CONFIG.max_concurrency)
    except RedisError as exc:  # cannot count running downloads: wait, like a full house
        log.warning("job %s: cannot take a download slot, Redis: %s", job_id, exc)
        return False


def _release_slot(job_id: str) -> None:
    try:
        slots.release(job_id)
    except RedisError as exc:  # it expires by itself after slots.SLOT_SECONDS
        log.warning("job %s: download slot not released, Redis: %s", job_id, exc)


def _run_claimed(job: Job | None, job_id: str, holds_slot: bool) -> str:
    if job is None:
        return "skipped"
    handler = HANDLERS.get(job.kind)
    if handler is None:
        ledger.finish(
            job_id, Job.Status.FAILED, f"no handler for job kind {job.kind!r} in this worker"
        )
        return "failed"
    ctx = JobContext(job_id, holds_slot=holds_slot)
    try:
        with ctx.heartbeat():
            result = handler(job, ctx)
    except JobInterrupted:
        ledger.release(job_id)
        log.info("job %s: stopped while running (%s)", job_id, Job.objects.get(pk=job_id).status)
        return "interrupted"
    except LocalStorageError as exc:
        # Not the hoster's fault: no other hoster is tried; the job runs again later.
        log.error("job %s failed: %s", job_id, ledger.fail_for_now(job_id, str(exc)))
        return "failed"
    except Exception as exc:
        log.exception("job %s failed", job_id)
        ledger.finish(
            job_id,
            Job.Status.FAILED,
            _one_line(exc),
            error_detail="".join(traceback.format_exception(exc, limit=-8))[-4000:],
        )
        return "failed"
    ledger.finish(
        job_id,
        Job.Status.COMPLETED,
        result.message,
        result_path=result.result_path,
        progress=1.0,
        speed=0.0,
        eta=0,
        **result.fields,
    )
    log.info("job %s completed: %s", job_id, result.result_path or result.message)
    return "completed"


@shared_task(name="downloads.tasks.recover_lost_jobs", ignore_result=True)
def recover_lost_jobs() -> int:
    return ledger.recover_expired() + ledger.resend_unsent() + ledger.retry_due()
