"""Housekeeping: remove finished torrents and their files after DOWNLOADS_TTL_HOURS,
and forget what only recent polls need (removals, idle qB API sessions)."""

from __future__ import annotations

import logging
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from downloads.files import PARTIAL_DIR, partial_dir
from downloads.models import Job
from qbshim.models import ApiSession, ClientTask, RemovedTask
from qbshim.paths import download_root, inside_download_dir

log = logging.getLogger(__name__)


def _remove(path: Path) -> bool:
    if not inside_download_dir(path):
        log.error("cleanup: not removing %s, it is outside the download directory", path)
        return False
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    return True


def cleanup_finished(now: datetime | None = None) -> int:
    """Delete jobs finished more than DOWNLOADS_TTL_HOURS ago, with their torrent and files."""
    hours = settings.CONFIG.downloads_ttl_hours
    if hours <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(hours=hours)
    expired = Job.objects.filter(status__in=Job.FINISHED, finished_at__lt=cutoff)
    count = 0
    for job in expired:
        if job.result_path:
            _remove(Path(job.result_path))
        _remove(partial_dir(job.pk))
        ClientTask.objects.filter(job=job).delete()
        job.delete()
        count += 1
    if count:
        log.info(
            "cleanup: removed %d finished job(s) older than %g h with their files", count, hours
        )
    return count


def cleanup_orphan_partials() -> int:
    """Partial downloads whose job is gone or over (e.g. deleted while a worker was down)."""
    root = download_root() / PARTIAL_DIR
    if not root.is_dir():
        return 0
    active = {
        str(pk)
        for pk in Job.objects.filter(status__in=(*Job.ACTIVE, Job.Status.STOPPED)).values_list(
            "pk", flat=True
        )
    }
    removed = 0
    for entry in root.iterdir():
        if entry.name not in active and _remove(entry):
            removed += 1
    return removed


def prune_removal_log() -> int:
    """sync/maindata needs removals only as far back as a client's rid lives (30 min)."""
    deleted, _ = RemovedTask.objects.filter(
        removed_at__lt=timezone.now() - timedelta(days=1)
    ).delete()
    return deleted


def prune_sessions() -> int:
    """qB API sessions idle longer than QBIT_SESSION_TIMEOUT_SECONDS no longer work."""
    idle = timedelta(seconds=settings.CONFIG.qbit_session_timeout_seconds)
    deleted, _ = ApiSession.objects.filter(last_seen__lt=timezone.now() - idle).delete()
    return deleted


@shared_task(name="qbshim.tasks.cleanup", ignore_result=True)
def cleanup() -> int:
    prune_removal_log()
    prune_sessions()
    return cleanup_finished() + cleanup_orphan_partials()
