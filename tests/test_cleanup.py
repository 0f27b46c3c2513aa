from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from anibridge_site import config
from downloads import cleanup
from downloads.models import Job
from qbshim.models import ClientTask

pytestmark = pytest.mark.django_db


@pytest.fixture
def ttl(monkeypatch: pytest.MonkeyPatch) -> Any:
    def apply(hours: str) -> None:
        env = {"DATA_DIR": str(settings.CONFIG.data_dir), "DOWNLOADS_TTL_HOURS": hours}
        monkeypatch.setattr(settings, "CONFIG", config.load(env, env_file=Path("/nonexistent")))

    return apply


def _finished(hours_ago: float, name: str, status: str = Job.Status.COMPLETED) -> tuple[Job, Path]:
    result = settings.CONFIG.download_dir / f"{name}.mp4"
    result.write_bytes(b"media")
    job = Job.objects.create(
        site="s.to",
        slug=name,
        season=1,
        episode=1,
        language="German Dub",
        status=status,
        result_path=str(result),
        finished_at=timezone.now() - timedelta(hours=hours_ago),
    )
    ClientTask.objects.create(
        hash=name.ljust(40, "0")[:40],
        name=name,
        magnet="m",
        job=job,
        site="s.to",
        slug=name,
        season=1,
        episode=1,
        language="German Dub",
    )
    return job, result


def test_ttl_zero_keeps_everything(ttl: Any) -> None:
    ttl("0")
    _, result = _finished(1000, "old")
    assert cleanup.cleanup_finished() == 0
    assert result.exists() and Job.objects.count() == 1


def test_finished_jobs_past_the_ttl_go_with_their_files(ttl: Any) -> None:
    ttl("24")
    _old, old_file = _finished(25, "old")
    _new, new_file = _finished(1, "new")
    _failed, failed_file = _finished(30, "failed", Job.Status.FAILED)
    assert cleanup.cleanup_finished() == 2
    assert not old_file.exists() and not failed_file.exists() and new_file.exists()
    assert list(Job.objects.values_list("slug", flat=True)) == ["new"]
    assert list(ClientTask.objects.values_list("name", flat=True)) == ["new"]


def test_cleanup_never_removes_files_outside_the_download_dir(ttl: Any, tmp_path: Path) -> None:
    ttl("1")
    job, _ = _finished(5, "x")
    outside = tmp_path / "keep.mp4"
    outside.write_bytes(b"x")
    Job.objects.filter(pk=job.pk).update(result_path=str(outside))
    cleanup.cleanup_finished()
    assert outside.exists()


def test_orphan_partials_are_removed_but_active_ones_kept() -> None:
    partial_root = settings.CONFIG.download_dir / ".partial"
    active = Job.objects.create(
        site="s.to",
        slug="a",
        season=1,
        episode=1,
        language="German Dub",
        status=Job.Status.DOWNLOADING,
    )
    (partial_root / str(active.pk)).mkdir(parents=True)
    (partial_root / "0b5e-gone").mkdir()
    assert cleanup.cleanup_orphan_partials() == 1
    assert (partial_root / str(active.pk)).exists() and not (partial_root / "0b5e-gone").exists()
