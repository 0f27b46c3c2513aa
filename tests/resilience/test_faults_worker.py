"""A worker killed (SIGKILL) while it resolves a STRM job: the job completes afterwards.

The hoster's embed page stalls, so the kill lands while the resolver waits on it (and
holds the per-identity resolve lock in Redis). Killing a worker during a download is
tests/test_download_durability.py.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from catalog.identity import EpisodeIdentity
from catalog.magnet import build_magnet
from downloads.models import Job
from qbshim.models import ClientTask
from strm.models import StrmUrlMapping
from tests.fakeweb import FakeWeb
from tests.processes import celery_worker, wait_until
from tests.resilience.record import record

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

IDENTITY = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 2, "German Dub", "VOE")
# Its own name: other suites look for their Kaiju.Academy files in the same DATA_DIR.
NAME = "Resilience.Kaiju.S01E02.1080p.WEB.H264.GERMAN.[STRM]-aniworld"
# Far longer than the test: only the kill ends the first attempt.
STALL_SECONDS = 120.0
# From the kill to the .strm file: redelivery (or a new worker), the dead holder's
# resolve lock running out (strm.resolved.LOCK_LEASE_SECONDS) and one resolve.
RECOVERY_SECONDS = 45.0


def _resolving_job(client: Client, fake: FakeWeb) -> Job:
    """Add the STRM torrent; return its job once the worker hangs on the stalled hoster."""
    fake.hoster("VOE").stall_next("/e/*", seconds=STALL_SECONDS)
    magnet = build_magnet(IDENTITY, NAME, mode="strm")
    assert client.post("/api/v2/torrents/add", {"urls": magnet}).content == b"Ok."
    pk = ClientTask.objects.get().job_id
    assert pk is not None
    wait_until(lambda: fake.counts.total("voe", "/e/*") >= 1, 30, "the resolver to call VOE")
    job = Job.objects.get(pk=pk)
    assert job.status == Job.Status.DOWNLOADING and job.message == "resolving", job.message
    return job


def _finished(pk: Any) -> Job | None:
    job = Job.objects.get(pk=pk)
    return job if job.status in Job.FINISHED else None


def _check_strm(job: Job, fake: FakeWeb) -> None:
    assert job.status == Job.Status.COMPLETED, job.message
    assert job.attempts == 2
    path = Path(job.result_path)
    assert path.name == f"{NAME}.strm" and path.parent == settings.CONFIG.download_dir
    # Direct mode (the default) writes the CDN URL the second attempt resolved.
    assert path.read_text().startswith(fake.urls["cdn"] + "/t/")
    mapping = StrmUrlMapping.objects.get(slug="kaiju-academy", season=1, episode=2)
    assert mapping.strm_path == str(path)
    path.unlink()


def test_strm_job_completes_after_its_pool_process_is_killed_mid_resolve(
    tmp_path: Path, fake_sites: FakeWeb, client: Client
) -> None:
    with celery_worker(
        tmp_path, queues="default", concurrency=1, env=fake_sites.app_env()
    ) as worker:
        job = _resolving_job(client, fake_sites)
        killed_at = time.monotonic()
        os.kill(int(job.lease_owner.rpartition(":")[2]), signal.SIGKILL)
        done = wait_until(lambda: _finished(job.pk), RECOVERY_SECONDS, "the STRM job to finish")
        took = time.monotonic() - killed_at
        log = worker.output()
    _check_strm(done, fake_sites)
    assert "WorkerLostError" in log or "exited with 'signal 9" in log, log[-2000:]
    record(
        "worker SIGKILL: STRM resolve (pool process)",
        1,
        f"pool process killed while the hoster stalled: redelivered, resolved again, "
        f".strm written {took:.1f} s after the kill (attempt 2)",
    )


def test_strm_job_completes_after_the_whole_worker_is_killed_mid_resolve(
    tmp_path: Path, fake_sites: FakeWeb, client: Client
) -> None:
    env = fake_sites.app_env()
    with celery_worker(tmp_path, queues="default", concurrency=1, env=env, name="first") as worker:
        job = _resolving_job(client, fake_sites)
        worker.kill_group(signal.SIGKILL)  # main process and pool child at once
        worker.popen.wait(timeout=10)
    killed_at = time.monotonic()
    assert Job.objects.get(pk=job.pk).status == Job.Status.DOWNLOADING  # nobody says otherwise
    with celery_worker(tmp_path, queues="default", concurrency=1, env=env, name="second"):
        done = wait_until(lambda: _finished(job.pk), RECOVERY_SECONDS, "the STRM job to finish")
        took = time.monotonic() - killed_at
    _check_strm(done, fake_sites)
    record(
        "worker SIGKILL: STRM resolve (whole worker)",
        1,
        f"worker group killed while the hoster stalled: the next worker requeued the orphan, "
        f".strm written {took:.1f} s after the kill (attempt 2)",
    )
