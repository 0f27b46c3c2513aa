"""Removing what finished jobs leave behind: their files after DOWNLOADS_TTL_HOURS, the
job rows themselves, and partial downloads no job owns any more.

Nothing is removed outside DOWNLOAD_DIR, whatever a row says. Other apps that keep rows
about a job (qbshim's torrent) receive `job_expiring` before the job is deleted.
"""

from __future__ import annotations

import logging
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.dispatch import Signal
from django.utils import timezone

from downloads.files import PARTIAL_DIR, partial_dir
from downloads.models import Job
from downloads.storage import download_root, inside_download_dir

log = logging.getLogger(__name__)

# Sent with `job` for each expired job just before it is deleted.
job_expiring = Signal()


def remove(path: Path) -> bool:
    """Delete a file or folder under DOWNLOAD_DIR; False (logged) for one outside it."""
    if not inside_download_dir(path):
        log.error("cleanup: not removing %s, it is outside the download directory", path)
        return False
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    return True


def remove_result(job: Job) -> None:
    """Delete the job's result; the worker removes partial files when it stops."""
    if not job.result_path:
        return
    path = Path(job.result_path)
    if not inside_download_dir(path):
        log.error("job %s: not deleting %s, it is outside the download directory", job.pk, path)
        return
    path.unlink(missing_ok=True)


def cleanup_finished(now: datetime | None = None) -> int:
    """Delete jobs finished more than DOWNLOADS_TTL_HOURS ago, with their files."""
    hours = settings.CONFIG.downloads_ttl_hours
    if hours <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(hours=hours)
    count = 0
    for job in Job.objects.finished().filter(finished_at__lt=cutoff):
        if job.result_path:
            remove(Path(job.result_path))
        remove(partial_dir(job.pk))
        job_expiring.send(sender=Job, job=job)
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
    unfinished = {str(pk) for pk in Job.objects.unfinished().values_list("pk", flat=True)}
    removed = 0
    for entry in root.iterdir():
        if entry.name not in unfinished and remove(entry):
            removed += 1
    return removed
