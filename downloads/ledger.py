"""Job state transitions, done atomically in the database.

Celery's `acks_late` + `reject_on_worker_lost` bring a task back when a pool child
dies; they cannot help when the whole worker (or its machine) dies, because Redis
only restores unacked messages after the visibility timeout. So every running job
holds a lease in its row: the worker renews it, and an expired lease, or one held by
a dead process on this host, makes the job claimable again. Duplicate deliveries are
harmless: only one worker can claim a job.

A queued job's message lives in Redis, and Redis can lose it: a restart without
persistence, or a broker that was down when the job was committed. Every sent job
leaves a marker key next to its message in the same Redis, holding the message's task
id, which the job's row holds too; a marker that is gone or names another message
(the job was queued again while the broker was away) means the message may be gone;
`resend_unsent` sends such jobs again (a worker does it whenever it reconnects to the
broker, beat every 30 s). Again, a duplicate costs nothing.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from anibridge_site.redis_client import get_redis
from catalog.identity import EpisodeIdentity
from downloads.models import Job

log = logging.getLogger(__name__)

LEASE_SECONDS = 60
MAX_ATTEMPTS = 3
QUEUE_FOR_KIND: dict[str, str] = {Job.Kind.DOWNLOAD: "downloads", Job.Kind.STRM: "default"}
# Longer than a job normally waits in its queue; a waiting slotted job renews it at
# every slot retry, and one that outlives it anyway only gets a harmless duplicate.
SENT_MARKER_SECONDS = 24 * 3600
# A job committed this recently may still be on its way to the broker (on_commit).
RESEND_GRACE_SECONDS = 2
# Several processes sweep at once when Redis comes back; one of them resends a job.
RESEND_LOCK_SECONDS = 30
# A job failed by the local disk (full DOWNLOAD_DIR) runs again after 10, 20, 40, 80
# and 160 minutes; then it stays failed until someone retries it.
LOCAL_RETRIES = 5
LOCAL_RETRY_FIRST_SECONDS = 600


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_is_dead(owner: str) -> bool:
    """True when `owner` was a process on this host that no longer exists."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(int(pid))


def _is_zombie(pid: int) -> bool:
    # A killed pool child whose parent died too stays a zombie until init reaps it,
    # and some container init processes never do; it still answers kill(pid, 0).
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] == "Z"


def create(
    identity: EpisodeIdentity,
    kind: str,
    *,
    stopped: bool = False,
    release_name: str = "",
    save_path: str = "",
    message: str = "",
) -> Job:
    """A new job for `identity` (its preferred hoster included), queued, or held
    `stopped` until someone starts it; a queued job is sent when the transaction commits."""
    job = Job.objects.create(
        kind=kind,
        status=Job.Status.STOPPED if stopped else Job.Status.QUEUED,
        release_name=release_name,
        save_path=save_path,
        message=message,
        **Job.identity_fields(identity, with_provider=True),
    )
    if not stopped:
        enqueue(job)
    return job


def enqueue(job: Job) -> None:
    """Send the job to its queue once the surrounding transaction commits.

    When the broker is unreachable the job stays queued in the database and is sent
    by `resend_unsent` later: the caller (a qB API request, say) still succeeds.
    """
    queue = QUEUE_FOR_KIND.get(job.kind, "default")
    job_id = str(job.pk)
    # Queued again: the old message is done with, and until the new one is sent its
    # marker must not vouch for this job (see resend_unsent).
    Job.objects.filter(pk=job.pk).exclude(celery_task_id="").update(celery_task_id="")
    job.celery_task_id = ""
    transaction.on_commit(lambda: _send(job_id, queue))


def _send(job_id: str, queue: str) -> bool:
    from downloads.tasks import run_job

    try:
        result = run_job.apply_async(args=(job_id,), queue=queue)
    except OperationalError as exc:
        log.warning(
            "job %s not sent to queue %s, the broker is unreachable (%s); "
            "it is sent once the broker is back",
            job_id,
            queue,
            exc,
        )
        return False
    mark_sent(job_id, result.id)
    Job.objects.filter(pk=job_id).update(celery_task_id=result.id)
    log.info("job %s queued on %s as task %s", job_id, queue, result.id)
    return True


def _sent_key(job_id: str) -> str:
    return f"anibridge:job-sent:{job_id}"


def mark_sent(job_id: str, task_id: str) -> None:
    """Note that the broker holds message `task_id` for the job (see the module docstring)."""
    try:
        get_redis().set(_sent_key(job_id), task_id, ex=SENT_MARKER_SECONDS)
    except RedisError as exc:  # at worst resend_unsent sends a duplicate
        log.warning("job %s: cannot mark it as sent in Redis: %s", job_id, exc)


def resend_unsent(grace_seconds: float = RESEND_GRACE_SECONDS) -> int:
    """Send again every queued job whose message the broker may have lost; the count."""
    cutoff = timezone.now() - timedelta(seconds=grace_seconds)
    queued = list(
        Job.objects.filter(status=Job.Status.QUEUED, updated_at__lt=cutoff).values_list(
            "pk", "kind", "celery_task_id"
        )
    )
    if not queued:
        return 0
    client = get_redis()
    markers = client.mget([_sent_key(str(pk)) for pk, _, _ in queued])
    count = 0
    for (pk, kind, task_id), marker in zip(queued, markers, strict=True):
        job_id = str(pk)
        if task_id and marker is not None and _text(marker) == task_id:
            continue  # the broker holds its message
        if not client.set(_resend_key(job_id), "1", nx=True, ex=RESEND_LOCK_SECONDS):
            continue  # another process is sending it
        if _send(job_id, QUEUE_FOR_KIND.get(kind, "default")):
            log.warning("job %s sent again: the broker had lost or never got its message", job_id)
            count += 1
        else:
            client.delete(_resend_key(job_id))
    return count


def _resend_key(job_id: str) -> str:
    return f"anibridge:job-resend:{job_id}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Busy(Exception):
    """The job is leased by a live process; try again after `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"job is running elsewhere; retry in {retry_after:.0f}s")
        self.retry_after = retry_after


def claim(job_id: str) -> Job | None:
    """Take the job for this process; None when it is over or gone.

    Raises Busy when another live process holds the lease: that may be a duplicate
    delivery, or the pid of a pool child that died but is not reaped yet.
    """
    now = timezone.now()
    me = owner_id()
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            log.warning("job %s: task received for a job that no longer exists", job_id)
            return None
        takeover = job.status == Job.Status.DOWNLOADING and (
            (job.lease_expires_at is not None and job.lease_expires_at < now)
            or _owner_is_dead(job.lease_owner)
        )
        if job.status == Job.Status.DOWNLOADING and not takeover:
            expires = job.lease_expires_at or now
            raise Busy(max(1.0, (expires - now).total_seconds() + 1))
        if job.status != Job.Status.QUEUED and not takeover:
            log.info("job %s: not claimed, it is %s", job_id, job.status)
            return None
        if job.attempts >= MAX_ATTEMPTS:
            _fail_locked(
                job, f"gave up after {job.attempts} attempts: the worker running it was lost"
            )
            return None
        job.status = Job.Status.DOWNLOADING
        job.lease_owner = me
        job.lease_expires_at = now + timedelta(seconds=LEASE_SECONDS)
        job.attempts += 1
        job.started_at = job.started_at or now
        job.message = f"running on {me} (attempt {job.attempts})"
        job.save()
    log.info("job %s: claimed by %s, attempt %d", job_id, me, job.attempts)
    return job


def renew(job_id: str, **fields: Any) -> bool:
    """Extend our lease (and store progress fields); False when the job is no longer ours."""
    updated = Job.objects.filter(
        pk=job_id, status=Job.Status.DOWNLOADING, lease_owner=owner_id()
    ).update(lease_expires_at=timezone.now() + timedelta(seconds=LEASE_SECONDS), **fields)
    return updated == 1


def finish(job_id: str, status: str, message: str = "", **fields: Any) -> bool:
    """Record the end of our run; False when the job was taken from us meanwhile."""
    now = timezone.now()
    updated = Job.objects.filter(
        pk=job_id, status=Job.Status.DOWNLOADING, lease_owner=owner_id()
    ).update(
        status=status,
        message=message,
        finished_at=now,
        lease_owner="",
        lease_expires_at=None,
        **fields,
    )
    return updated == 1


def release(job_id: str) -> None:
    """Drop our lease after the job was cancelled or stopped under us."""
    Job.objects.filter(pk=job_id, lease_owner=owner_id()).update(
        lease_owner="", lease_expires_at=None
    )


def fail_for_now(job_id: str, reason: str) -> str:
    """Fail our job with `reason` (a local problem such as a full disk) and set when it
    runs again, up to LOCAL_RETRIES times; returns the message stored."""
    options = dict(Job.objects.filter(pk=job_id).values_list("options", flat=True).first() or {})
    retries = int(options.get("local_retries", 0))
    if retries >= LOCAL_RETRIES:
        options.pop("retry_at", None)
        message = f"{reason}; gave up after {retries} retries: free space, then retry the job"
    else:
        delay = LOCAL_RETRY_FIRST_SECONDS * 2**retries
        options["retry_at"] = (timezone.now() + timedelta(seconds=delay)).isoformat()
        options["local_retries"] = retries + 1
        message = f"{reason}; retrying in {delay // 60} min ({retries + 1} of {LOCAL_RETRIES})"
    finish(job_id, Job.Status.FAILED, message, options=options)
    return message


def retry_due(now: datetime | None = None) -> int:
    """Queue again the jobs failed for now (fail_for_now) whose time has come; the count."""
    now = now or timezone.now()
    count = 0
    for job in Job.objects.filter(status=Job.Status.FAILED, options__has_key="retry_at"):
        options = dict(job.options)
        try:
            due = datetime.fromisoformat(str(options.pop("retry_at")))
        except ValueError:
            due = now
        if due > now:
            continue
        with transaction.atomic():
            updated = Job.objects.filter(pk=job.pk, status=Job.Status.FAILED).update(
                status=Job.Status.QUEUED,
                attempts=0,
                options=options,
                message=f"queued again after: {job.message}"[:2000],
                finished_at=None,
            )
            if updated:
                enqueue(job)
                count += 1
        log.info("job %s queued again: %s", job.pk, job.message)
    return count


def _fail_locked(job: Job, reason: str) -> None:
    job.status = Job.Status.FAILED
    job.message = reason
    job.lease_owner = ""
    job.lease_expires_at = None
    job.finished_at = timezone.now()
    job.save()
    log.error("job %s failed: %s", job.pk, reason)


def cancel(job: Job, reason: str = "cancelled by the client") -> bool:
    """Stop the job; a worker running it notices at its next lease renewal."""
    updated = (
        Job.objects.unfinished()
        .filter(pk=job.pk)
        .update(status=Job.Status.CANCELLED, message=reason, finished_at=timezone.now())
    )
    return updated == 1


def retry(job: Job) -> bool:
    """Queue a finished or failed job again from the start."""
    with transaction.atomic():
        updated = (
            Job.objects.finished()
            .filter(pk=job.pk)
            .update(
                status=Job.Status.QUEUED,
                attempts=0,
                progress=0.0,
                downloaded_bytes=0,
                speed=0.0,
                eta=None,
                message="queued again by an operator",
                error_detail="",
                finished_at=None,
                lease_owner="",
                lease_expires_at=None,
            )
        )
        if updated:
            enqueue(job)
    return updated == 1


def _requeue(jobs: Iterable[Job], why: str) -> int:
    count = 0
    for job in jobs:
        with transaction.atomic():
            locked = Job.objects.select_for_update().running().filter(pk=job.pk).first()
            if locked is None or locked.lease_owner != job.lease_owner:
                continue  # it moved on while we looked
            if locked.attempts >= MAX_ATTEMPTS:
                _fail_locked(locked, f"gave up after {locked.attempts} attempts: {why}")
                continue
            locked.status = Job.Status.QUEUED
            locked.message = f"requeued: {why}"
            locked.lease_owner = ""
            locked.lease_expires_at = None
            locked.save()
            enqueue(locked)
            count += 1
        log.warning("job %s requeued: %s", job.pk, why)
    return count


def recover_orphans_on_this_host() -> int:
    """Requeue jobs whose lease belongs to a dead process on this host (worker restart)."""
    prefix = socket.gethostname() + ":"
    candidates = Job.objects.running().filter(lease_owner__startswith=prefix)
    orphans = [job for job in candidates if _owner_is_dead(job.lease_owner)]
    return _requeue(orphans, "its worker process died")


def recover_expired(grace_seconds: int = 15) -> int:
    """Requeue jobs whose lease ran out (their worker vanished without a trace)."""
    cutoff = timezone.now() - timedelta(seconds=grace_seconds)
    expired = Job.objects.running().filter(
        Q(lease_expires_at__lt=cutoff) | Q(lease_expires_at__isnull=True)
    )
    return _requeue(list(expired), "its worker stopped renewing the lease")
