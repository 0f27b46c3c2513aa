"""Job state transitions without a worker: claim, lease, cancel, retry, recovery."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from downloads import ledger
from downloads.models import Job

pytestmark = pytest.mark.django_db


def _job(**fields) -> Job:
    return Job.objects.create(
        site="s.to", slug="show", season=1, episode=2, language="German Dub", **fields
    )


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_claim_takes_a_queued_job_once() -> None:
    job = _job()
    claimed = ledger.claim(str(job.pk))
    assert claimed is not None and claimed.status == Job.Status.DOWNLOADING
    assert claimed.lease_owner == ledger.owner_id() and claimed.attempts == 1
    with pytest.raises(ledger.Busy):  # our own lease is live: a duplicate delivery waits
        ledger.claim(str(job.pk))


@pytest.mark.parametrize("status", [Job.Status.COMPLETED, Job.Status.CANCELLED, Job.Status.STOPPED])
def test_claim_skips_jobs_that_are_not_waiting(status: str) -> None:
    assert ledger.claim(str(_job(status=status).pk)) is None


def test_claim_takes_over_an_expired_lease() -> None:
    job = _job(
        status=Job.Status.DOWNLOADING,
        lease_owner="elsewhere:1",
        attempts=1,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    claimed = ledger.claim(str(job.pk))
    assert claimed is not None and claimed.attempts == 2


def test_claim_takes_over_from_a_dead_process_on_this_host() -> None:
    job = _job(
        status=Job.Status.DOWNLOADING,
        attempts=1,
        lease_owner=f"{socket.gethostname()}:{_dead_pid()}",
        lease_expires_at=timezone.now() + timedelta(minutes=5),
    )
    assert ledger.claim(str(job.pk)) is not None


def test_claim_fails_the_job_after_max_attempts() -> None:
    job = _job(
        status=Job.Status.DOWNLOADING,
        attempts=ledger.MAX_ATTEMPTS,
        lease_owner="gone:1",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    assert ledger.claim(str(job.pk)) is None
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "gave up after 3 attempts" in job.message


def test_renew_fails_once_the_job_was_cancelled() -> None:
    job = ledger.claim(str(_job().pk))
    assert job is not None
    assert ledger.renew(str(job.pk), progress=0.5)
    assert ledger.cancel(job)
    assert not ledger.renew(str(job.pk), progress=0.6)
    job.refresh_from_db()
    assert (job.status, job.progress) == (Job.Status.CANCELLED, 0.5)


def test_finish_only_by_the_lease_holder() -> None:
    job = _job(
        status=Job.Status.DOWNLOADING,
        lease_owner="other:1",
        lease_expires_at=timezone.now() + timedelta(minutes=1),
    )
    assert not ledger.finish(str(job.pk), Job.Status.COMPLETED)
    assert Job.objects.get(pk=job.pk).status == Job.Status.DOWNLOADING


def test_recover_expired_requeues_and_sends_a_new_task(django_capture_on_commit_callbacks) -> None:
    job = _job(
        status=Job.Status.DOWNLOADING,
        lease_owner="vanished:1",
        attempts=1,
        lease_expires_at=timezone.now() - timedelta(minutes=5),
    )
    fresh = _job(
        status=Job.Status.DOWNLOADING,
        lease_owner="alive:1",
        lease_expires_at=timezone.now() + timedelta(minutes=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert ledger.recover_expired() == 1
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED and job.celery_task_id
    assert Job.objects.get(pk=fresh.pk).status == Job.Status.DOWNLOADING


def test_recover_orphans_only_touches_dead_local_processes(
    django_capture_on_commit_callbacks,
) -> None:
    host = socket.gethostname()
    orphan = _job(
        status=Job.Status.DOWNLOADING,
        lease_owner=f"{host}:{_dead_pid()}",
        lease_expires_at=timezone.now() + timedelta(minutes=1),
    )
    alive = _job(
        status=Job.Status.DOWNLOADING,
        lease_owner=f"{host}:{os.getpid()}",
        lease_expires_at=timezone.now() + timedelta(minutes=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert ledger.recover_orphans_on_this_host() == 1
    assert Job.objects.get(pk=orphan.pk).status == Job.Status.QUEUED
    assert Job.objects.get(pk=alive.pk).status == Job.Status.DOWNLOADING


def test_retry_requeues_failed_jobs_only(django_capture_on_commit_callbacks) -> None:
    failed = _job(status=Job.Status.FAILED, attempts=3, message="boom", progress=0.4)
    running = _job(status=Job.Status.DOWNLOADING)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert ledger.retry(failed)
        assert not ledger.retry(running)
    assert len(callbacks) == 1
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.progress) == (Job.Status.QUEUED, 0, 0.0)


def test_enqueue_waits_for_the_transaction_to_commit(django_capture_on_commit_callbacks) -> None:
    job = _job()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        ledger.enqueue(job)
        assert Job.objects.get(pk=job.pk).celery_task_id == ""
    assert len(callbacks) == 1


def test_a_zombie_lease_holder_counts_as_dead() -> None:
    # Containers whose init never reaps leave killed pool children as zombies.
    proc = subprocess.Popen(["true"])
    deadline = time.monotonic() + 5
    while Path(f"/proc/{proc.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    try:
        job = _job(
            status=Job.Status.DOWNLOADING,
            attempts=1,
            lease_owner=f"{socket.gethostname()}:{proc.pid}",
            lease_expires_at=timezone.now() + timedelta(minutes=5),
        )
        assert ledger.claim(str(job.pk)) is not None
    finally:
        proc.wait()


def _queued_a_while_ago(**fields) -> Job:
    job = _job(**fields)
    Job.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(seconds=30))
    return job


def test_resend_sends_queued_jobs_whose_message_the_broker_lost() -> None:
    from anibridge_site.redis_client import get_redis

    lost = _queued_a_while_ago(kind=Job.Kind.DOWNLOAD)
    assert ledger.resend_unsent() == 1
    assert get_redis().llen("downloads") == 1
    assert Job.objects.get(pk=lost.pk).celery_task_id
    # Its marker is back: a second sweep (another worker reconnecting) sends nothing.
    assert ledger.resend_unsent() == 0
    assert get_redis().llen("downloads") == 1


def test_resend_leaves_sent_fresh_and_running_jobs_alone(
    django_capture_on_commit_callbacks,
) -> None:
    from anibridge_site.redis_client import get_redis

    sent = _queued_a_while_ago(kind=Job.Kind.STRM)
    with django_capture_on_commit_callbacks(execute=True):
        ledger.enqueue(sent)
    just_committed = _job()  # its on_commit send may still be under way
    _queued_a_while_ago(status=Job.Status.DOWNLOADING)
    _queued_a_while_ago(status=Job.Status.STOPPED)
    assert ledger.resend_unsent() == 0
    assert get_redis().llen("default") == 1  # the one enqueue, nothing more
    assert Job.objects.get(pk=just_committed.pk).celery_task_id == ""


def test_a_duplicate_delivery_keeps_the_download_slot_of_the_running_job() -> None:
    from celery.exceptions import Retry

    from downloads import slots
    from downloads.tasks import run_job

    job = _job(
        kind=Job.Kind.DOWNLOAD,
        status=Job.Status.DOWNLOADING,
        attempts=1,
        lease_owner=ledger.owner_id(),  # alive: this process
        lease_expires_at=timezone.now() + timedelta(minutes=1),
    )
    assert slots.acquire(str(job.pk), 1)
    with pytest.raises(Retry):
        run_job(str(job.pk))
    assert slots.holders() == [str(job.pk)]


def test_the_periodic_recovery_task_also_sends_lost_jobs() -> None:
    from anibridge_site.redis_client import get_redis
    from downloads.tasks import recover_lost_jobs

    _queued_a_while_ago(kind=Job.Kind.STRM)
    assert recover_lost_jobs() == 1
    assert get_redis().llen("default") == 1


def test_a_job_queued_again_while_the_broker_is_down_is_resent_once_it_is_back(
    django_capture_on_commit_callbacks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its marker from the first send survives (Redis with persistence); it must not
    vouch for the second message, which never reached the broker."""
    from kombu.exceptions import OperationalError

    from anibridge_site.redis_client import get_redis
    from downloads.tasks import run_job

    job = _queued_a_while_ago(kind=Job.Kind.STRM)
    with django_capture_on_commit_callbacks(execute=True):
        ledger.enqueue(job)
    first_id = Job.objects.get(pk=job.pk).celery_task_id
    assert first_id and get_redis().llen("default") == 1
    get_redis().delete("default")  # the worker took the message and failed the job
    Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED)

    def broker_down(*args: object, **kwargs: object) -> None:
        raise OperationalError("connection refused")

    with monkeypatch.context() as patch, django_capture_on_commit_callbacks(execute=True):
        patch.setattr(run_job, "apply_async", broker_down)
        assert ledger.retry(Job.objects.get(pk=job.pk))
    assert get_redis().get(f"anibridge:job-sent:{job.pk}") == first_id.encode()
    Job.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(seconds=30))
    assert ledger.resend_unsent() == 1
    assert get_redis().llen("default") == 1
    second_id = Job.objects.get(pk=job.pk).celery_task_id
    assert second_id and second_id != first_id
    assert ledger.resend_unsent() == 0  # its new marker vouches for it now
