"""Downloads survive a killed worker (resuming the partial file) and stop when cancelled."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client

from catalog.identity import EpisodeIdentity
from catalog.magnet import build_magnet
from downloads import ledger
from downloads.files import partial_dir
from downloads.models import Job
from qbshim.models import ClientTask
from tests.fakeweb import FakeWeb
from tests.processes import celery_worker, wait_until
from tests.resilience.record import record
from tests.test_download_job import _ffprobe

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# The fake's progressive MP4 is ~200 kB: at 40 kB/s a download takes about 5 s.
SLOW = {"DOWNLOAD_RATE_LIMIT_BYTES_PER_SEC": "40000"}


def _worker_env(fakeweb: FakeWeb) -> dict[str, str]:
    return {**fakeweb.app_env(), **SLOW}


def _status(pk: Any) -> Job:
    return Job.objects.get(pk=pk)


def _running(pk: Any) -> Job:
    return wait_until(
        lambda: (j := _status(pk)).status == Job.Status.DOWNLOADING and j.progress >= 0.25 and j,
        60,
        "the download to be a quarter done",
    )


def test_killed_worker_process_resumes_the_download(tmp_path: Path, fakeweb: FakeWeb) -> None:
    job = Job.objects.create(
        kind=Job.Kind.DOWNLOAD,
        site="aniworld.to",
        slug="kaiju-academy",
        season=1,
        episode=1,
        language="German Dub",
        provider="Vidoza",
        release_name="Kaiju.Academy.S01E01.WEB.GERMAN-aniworld",
    )
    with celery_worker(tmp_path, queues="downloads", concurrency=1, env=_worker_env(fakeweb)):
        with transaction.atomic():
            ledger.enqueue(job)
        running = _running(job.pk)
        os.kill(int(running.lease_owner.rpartition(":")[2]), signal.SIGKILL)
        done = wait_until(
            lambda: (j := _status(job.pk)).status in Job.FINISHED and j, 90, "the job to finish"
        )
    assert done.status == Job.Status.COMPLETED, done.message
    assert done.attempts == 2
    assert _ffprobe(done.result_path)["streams"]
    # The second attempt continued the partial file instead of starting over.
    ranges = [
        r.headers.get("range", "")
        for r in fakeweb.counts.requests("cdn")
        if "mp4/video.mp4" in r.path
    ]
    assert any(r.startswith("bytes=") and not r.startswith("bytes=0-") for r in ranges), ranges
    record(
        "worker SIGKILL: download",
        1,
        "pool process killed a quarter into a download: redelivered, the partial file "
        "continued with a Range request, completed in attempt 2",
    )


def test_delete_during_download_cancels_it_and_removes_the_files(
    tmp_path: Path, fakeweb: FakeWeb, client: Client
) -> None:
    identity = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 2, "German Dub", "Vidoza")
    magnet = build_magnet(identity, "Kaiju.Academy.S01E02.WEB.GERMAN-aniworld")
    with celery_worker(tmp_path, queues="downloads", concurrency=1, env=_worker_env(fakeweb)):
        assert client.post("/api/v2/torrents/add", {"urls": magnet}).content == b"Ok."
        task = ClientTask.objects.get()
        running = _running(task.job_id)
        assert partial_dir(running.pk).exists()
        client.post("/api/v2/torrents/delete", {"hashes": task.hash, "deleteFiles": "true"})
        wait_until(lambda: not partial_dir(running.pk).exists(), 15, "the partial files to go")
        stopped = _status(running.pk)
        # The worker is free again: the next download runs to the end.
        follow_up = Job.objects.create(
            kind=Job.Kind.DOWNLOAD,
            site="aniworld.to",
            slug="kaiju-academy",
            season=1,
            episode=3,
            language="German Dub",
            provider="VOE",
            release_name="Kaiju.Academy.S01E03.WEB.GERMAN-aniworld",
        )
        with transaction.atomic():
            ledger.enqueue(follow_up)
        done = wait_until(
            lambda: (j := _status(follow_up.pk)).status in Job.FINISHED and j, 60, "next job"
        )
    assert stopped.status == Job.Status.CANCELLED and stopped.lease_owner == ""
    assert ClientTask.objects.count() == 0
    assert not list(settings.CONFIG.download_dir.rglob("Kaiju.Academy.S01E02*"))
    assert done.status == Job.Status.COMPLETED, done.message


def test_rate_limit_is_honoured(tmp_path: Path, fakeweb: FakeWeb) -> None:
    job = Job.objects.create(
        kind=Job.Kind.DOWNLOAD,
        site="aniworld.to",
        slug="kaiju-academy",
        season=2,
        episode=1,
        language="German Dub",
        provider="Vidoza",
        release_name="Kaiju.Academy.S02E01.WEB.GERMAN-aniworld",
    )
    with celery_worker(tmp_path, queues="downloads", concurrency=1, env=_worker_env(fakeweb)):
        with transaction.atomic():
            ledger.enqueue(job)
        done = wait_until(
            lambda: (j := _status(job.pk)).status in Job.FINISHED and j, 60, "the job to finish"
        )
    assert done.status == Job.Status.COMPLETED, done.message
    took = (done.finished_at - done.started_at).total_seconds()
    # 200 kB at 40 kB/s cannot take less than ~4 s; unlimited it takes well under one.
    assert took >= 0.8 * done.total_bytes / 40000, (took, done.total_bytes)
