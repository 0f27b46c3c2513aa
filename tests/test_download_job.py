"""A real Celery worker downloads real media from the fake CDN (downloads.download)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction

from downloads import ledger
from downloads.files import partial_dir
from downloads.models import Job
from tests.fakeweb import FakeWeb
from tests.processes import celery_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _job(**fields: Any) -> Job:
    defaults = {
        "site": "aniworld.to",
        "slug": "kaiju-academy",
        "season": 1,
        "episode": 1,
        "language": "German Dub",
        "release_name": "Kaiju.Academy.S01E01.360p.WEB.H264.GERMAN-aniworld",
        "save_path": str(settings.CONFIG.download_dir / "tv-sonarr"),
    }
    job = Job.objects.create(kind=Job.Kind.DOWNLOAD, **{**defaults, **fields})
    with transaction.atomic():
        ledger.enqueue(job)
    return job


def _finished(job: Job, timeout: float = 90) -> Job:
    return wait_until(
        lambda: (j := Job.objects.get(pk=job.pk)).status in Job.FINISHED and j,
        timeout,
        "job to end",
    )


def _ffprobe(path: str) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", path],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return json.loads(out)


def test_download_lands_under_the_release_name_and_decodes(
    tmp_path: Path, fakeweb: FakeWeb
) -> None:
    with celery_worker(tmp_path, queues="downloads", env=fakeweb.app_env()):
        job = _job(provider="VOE")
        done = _finished(job)
    assert done.status == Job.Status.COMPLETED, done.message
    result = Path(done.result_path)
    assert result.parent == settings.CONFIG.download_dir / "tv-sonarr"
    assert result.name.startswith("Kaiju.Academy.S01E01.360p.WEB.H264.GERMAN-aniworld.")
    probe = _ffprobe(str(result))
    kinds = {s["codec_type"] for s in probe["streams"]}
    assert {"video", "audio"} <= kinds
    assert float(probe["format"]["duration"]) > 3
    assert done.provider_used == "VOE" and done.progress == 1.0
    assert done.total_bytes == result.stat().st_size
    assert not partial_dir(done.pk).exists()


def test_failed_hoster_falls_back_to_the_next(tmp_path: Path, fakeweb: FakeWeb) -> None:
    # VOE's media answers 404 for the whole run: the job moves on to the next hoster.
    fakeweb.cdn.fail_next("hls/ts/*", status=404, count=1000)
    with celery_worker(tmp_path, queues="downloads", env=fakeweb.app_env()):
        job = _job(provider="VOE", language="German Dub")
        done = _finished(job)
    assert done.status == Job.Status.COMPLETED, done.message
    assert done.provider_used != "VOE"
    assert _ffprobe(done.result_path)["streams"]


def test_language_not_offered_fails_with_the_reason(tmp_path: Path, fakeweb: FakeWeb) -> None:
    with celery_worker(tmp_path, queues="downloads", env=fakeweb.app_env()):
        job = _job(slug="star-drifters", release_name="Star.Drifters.S01E01.GERMAN-aniworld")
        done = _finished(job)
    assert done.status == Job.Status.FAILED
    assert "German Dub is not offered" in done.message and "German Sub" in done.message
    assert done.result_path == ""
    assert list(settings.CONFIG.download_dir.rglob("Star.Drifters*")) == []
