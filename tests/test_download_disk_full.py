"""A full DOWNLOAD_DIR, for real: the worker runs with a small tmpfs as DOWNLOAD_DIR
(tests/small_fs.py), filled up. The job fails at once naming the free space, tries no
other hoster, /health shows the space (degraded, still 200), and once there is room the
retry the ledger scheduled completes the download."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from downloads import ledger
from downloads.models import Job
from tests.download_helpers import KINDS, assert_same_media, finished, grab
from tests.fakeweb import FakeWeb
from tests.processes import celery_worker
from tests.small_fs import seen_from_outside, tmpfs_wrapper

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SIZE = "1m"
# Leaves less room than the episode's ~225 kB of segments.
FILLER_BYTES = 900 * 1024


def use_download_dir(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    config = dataclasses.replace(settings.CONFIG, download_dir=path)
    monkeypatch.setattr(settings, "CONFIG", config)


def test_full_download_dir_fails_at_once_shows_in_health_and_retries_later(
    tmp_path: Path, fake_sites: FakeWeb, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity, media_playlist = KINDS["ts"]
    small = tmp_path / "small-downloads"
    small.mkdir()
    env = {**fake_sites.app_env(), "DOWNLOAD_DIR": str(small)}
    wrapper = tmpfs_wrapper(small, SIZE)
    with celery_worker(tmp_path, queues="downloads", env=env, wrapper=wrapper) as worker:
        inside = seen_from_outside(worker.pid, small)
        (inside / "filler.bin").write_bytes(b"\0" * FILLER_BYTES)
        use_download_dir(monkeypatch, small)  # where torrents/add puts the save path
        done = finished(grab(client, identity))

        assert done.status == Job.Status.FAILED
        assert done.message.startswith(f"No space left on DOWNLOAD_DIR ({small}): 0 MB free"), (
            done.message
        )
        assert "retrying in 10 min (1 of 5)" in done.message
        # A local problem, not the hoster's: no other hoster was tried.
        assert fake_sites.counts.total("voe") == 1
        assert all(fake_sites.counts.total(h) == 0 for h in ("vidmoly", "filemoon", "vidoza"))

        use_download_dir(monkeypatch, inside)  # the web process's view of the same disk
        response = client.get("/health")
        body = response.json()
        # 503 for the missing default-queue worker alone: a full disk is never "down".
        assert response.status_code == 503 and body["down"] == ["workers"]
        assert body["download_dir"]["free_mb"] == 0 and body["download_dir"]["low"]
        assert "MB free" in body["download_dir"]["error"]

        (inside / "filler.bin").unlink()
        assert ledger.retry_due() == 0  # not yet
        assert ledger.retry_due(timezone.now() + timedelta(minutes=11)) == 1  # what beat does
        # Requeued and sent: the worker may already have taken it up.
        assert Job.objects.get(pk=done.pk).status in (Job.Status.QUEUED, Job.Status.DOWNLOADING)
        again = finished(done)
        assert again.status == Job.Status.COMPLETED, again.message
        assert Path(again.result_path).parent == small
        assert_same_media(
            seen_from_outside(worker.pid, Path(again.result_path)), fake_sites, media_playlist
        )


def test_health_says_degraded_but_stays_200_when_download_dir_runs_low(
    tmp_path: Path, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = tmp_path / "small"
    small.mkdir()
    with celery_worker(
        tmp_path, queues="default,downloads", wrapper=tmpfs_wrapper(small, SIZE)
    ) as worker:
        use_download_dir(monkeypatch, seen_from_outside(worker.pid, small))
        response = client.get("/health")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "degraded" and body["down"] == []
    assert body["download_dir"]["low"] and body["download_dir"]["free_mb"] == 1
    # With room to spare it says nothing of the kind.
    use_download_dir(monkeypatch, tmp_path)
    assert client.get("/health").json()["download_dir"]["low"] is False
