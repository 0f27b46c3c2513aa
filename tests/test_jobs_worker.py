"""A real Celery worker process against real Redis runs jobs through the ledger."""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path

import pytest
from django_celery_results.models import TaskResult

from downloads import ledger
from downloads.models import Job
from tests.processes import celery_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _job(kind: str = "test-sleep", **options: float) -> Job:
    job = Job.objects.create(
        kind=kind,
        site="aniworld.to",
        slug="x",
        season=1,
        episode=1,
        language="German Dub",
        options=options,
    )
    # Queue it on the downloads queue like a real download.
    Job.objects.filter(pk=job.pk).update(kind=kind)
    return job


def _enqueue(job: Job) -> None:
    from django.db import transaction

    with transaction.atomic():
        ledger.enqueue(job)


def _status(job: Job) -> Job:
    return Job.objects.get(pk=job.pk)


def test_worker_runs_a_job_and_updates_its_row(tmp_path: Path) -> None:
    job = _job(steps=4, delay=0.05)
    with celery_worker(tmp_path):
        _enqueue(job)
        done = wait_until(
            lambda: (j := _status(job)).status in Job.FINISHED and j, 30, "job to finish"
        )
    assert done.status == Job.Status.COMPLETED, done.message
    assert done.progress == 1.0
    assert done.attempts == 1
    assert done.total_bytes == 4000
    assert done.celery_task_id
    assert done.lease_owner == ""
    assert Path(done.result_path).read_text() == "attempt 1\n"
    assert done.started_at is not None and done.finished_at is not None
    result = TaskResult.objects.get(task_id=done.celery_task_id)
    assert result.status == "SUCCESS"
    assert result.result == '"completed"'


def test_failure_is_recorded_with_a_one_line_reason(tmp_path: Path) -> None:
    job = _job(kind="test-fail")
    with celery_worker(tmp_path):
        _enqueue(job)
        done = wait_until(
            lambda: (j := _status(job)).status in Job.FINISHED and j, 30, "job to fail"
        )
    assert done.status == Job.Status.FAILED
    assert done.message == "RuntimeError: the hoster said no"
    assert "Traceback" in done.error_detail and "always_fails" in done.error_detail


def _wait_running(job: Job) -> Job:
    return wait_until(
        lambda: (j := _status(job)).status == Job.Status.DOWNLOADING and j.progress > 0 and j,
        30,
        "job to run",
    )


def test_killed_pool_process_is_redelivered_and_completes(tmp_path: Path) -> None:
    job = _job(steps=30, delay=0.1)
    with celery_worker(tmp_path, concurrency=1):
        _enqueue(job)
        running = _wait_running(job)
        child_pid = int(running.lease_owner.rpartition(":")[2])
        os.kill(child_pid, signal.SIGKILL)
        done = wait_until(
            lambda: (j := _status(job)).status in Job.FINISHED and j, 60, "job to finish"
        )
    assert done.status == Job.Status.COMPLETED, done.message
    assert done.attempts == 2
    assert Path(done.result_path).read_text() == "attempt 2\n"
    assert not Job.objects.filter(status=Job.Status.DOWNLOADING).exists()


def test_killed_worker_is_recovered_when_a_worker_starts_again(tmp_path: Path) -> None:
    job = _job(steps=30, delay=0.1)
    with celery_worker(tmp_path, concurrency=1, name="first") as worker:
        _enqueue(job)
        _wait_running(job)
        worker.kill_group(signal.SIGKILL)  # main process and pool child die at once
        worker.popen.wait(timeout=10)
    time.sleep(0.2)
    assert _status(job).status == Job.Status.DOWNLOADING  # nobody left to say otherwise
    with celery_worker(tmp_path, concurrency=1, name="second"):
        done = wait_until(
            lambda: (j := _status(job)).status in Job.FINISHED and j, 60, "job to finish"
        )
    assert done.status == Job.Status.COMPLETED, done.message
    assert done.attempts == 2


def test_cancel_stops_a_running_job_within_seconds(tmp_path: Path) -> None:
    job = _job(steps=200, delay=0.1)
    with celery_worker(tmp_path, concurrency=1):
        _enqueue(job)
        running = _wait_running(job)
        assert ledger.cancel(running)
        cancelled_at = time.monotonic()
        # The worker drops its lease when it notices; then it is free for the next job.
        wait_until(
            lambda: _status(job).lease_owner == "" or _status(job).progress == 1.0,
            10,
            "worker to stop",
        )
        noticed = time.monotonic() - cancelled_at
        follow_up = _job(steps=1, delay=0.01)
        _enqueue(follow_up)
        done = wait_until(
            lambda: (j := _status(follow_up)).status in Job.FINISHED and j, 30, "next job"
        )
    final = _status(job)
    assert final.status == Job.Status.CANCELLED
    assert final.progress < 1.0
    assert noticed < 5
    assert done.status == Job.Status.COMPLETED


def test_max_concurrency_holds_across_worker_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_CONCURRENCY", "1")
    jobs = [_job(kind="test-slotted", steps=4, delay=0.15) for _ in range(3)]
    with (
        celery_worker(tmp_path, concurrency=2, name="a"),
        celery_worker(tmp_path, concurrency=2, name="b"),
    ):
        for job in jobs:
            _enqueue(job)
        done = wait_until(
            lambda: (
                all(_status(j).status in Job.FINISHED for j in jobs) and [_status(j) for j in jobs]
            ),
            60,
            "all jobs to finish",
        )
    assert all(j.status == Job.Status.COMPLETED for j in done)
    spans = sorted((j.started_at, j.finished_at) for j in done)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, f"two downloads overlapped: {spans}"
