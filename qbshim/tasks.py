"""Housekeeping: remove finished torrents and their files after DOWNLOADS_TTL_HOURS
(downloads.cleanup), and forget what only recent polls need (removals, idle qB API
sessions)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.dispatch import receiver
from django.utils import timezone

from downloads import cleanup as downloads_cleanup
from downloads.models import Job
from qbshim.models import ApiSession, ClientTask, RemovedTask


@receiver(downloads_cleanup.job_expiring)
def _forget_torrent(sender: Any, job: Job, **_: Any) -> None:
    """An expired job takes its torrent along (the trigger logs the removal for sync)."""
    ClientTask.objects.filter(job=job).delete()


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
    return downloads_cleanup.cleanup_finished() + downloads_cleanup.cleanup_orphan_partials()
