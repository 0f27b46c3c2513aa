"""The job ledger: one row per download or .strm job, written by the worker that runs it."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from catalog.models import EpisodeFields


class JobQuerySet(models.QuerySet["Job"]):
    """The status sets the code asks about, named once."""

    def active(self) -> JobQuerySet:
        """Queued or running: a worker has or will have it."""
        return self.filter(status__in=Job.ACTIVE)

    def unfinished(self) -> JobQuerySet:
        """Active or stopped: it may still run, and its partial files are kept."""
        return self.filter(status__in=Job.UNFINISHED)

    def finished(self) -> JobQuerySet:
        """Over for good (until someone retries it)."""
        return self.filter(status__in=Job.FINISHED)

    def running(self) -> JobQuerySet:
        return self.filter(status=Job.Status.DOWNLOADING)


class Job(EpisodeFields):
    """One download or .strm job; `downloads.ledger` creates it and moves it between states.

    The qBittorrent API (qbshim) watches this table from the database itself:
    qbshim/migrations/0003_revision_triggers.py puts an AFTER UPDATE trigger on
    `downloads_job` that bumps the revision of the job's ClientTask, so torrents/info and
    sync/maindata re-read it. Renaming this table or its `id` column means changing
    those triggers in a new qbshim migration; any update, however it is written
    (queryset `.update()`, raw SQL, the admin), is seen by the qB API.
    """

    class Kind(models.TextChoices):
        DOWNLOAD = "download", "download"
        STRM = "strm", "strm"

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        DOWNLOADING = "downloading", "downloading"
        STOPPED = "stopped", "stopped by user"
        COMPLETED = "completed", "completed"
        FAILED = "failed", "failed"
        CANCELLED = "cancelled", "cancelled"

    ACTIVE = (Status.QUEUED, Status.DOWNLOADING)
    FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
    UNFINISHED = (*ACTIVE, Status.STOPPED)

    objects = JobQuerySet.as_manager()

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.DOWNLOAD)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    provider = models.CharField(max_length=32, blank=True, help_text="preferred hoster, if any")
    release_name = models.CharField(max_length=255, blank=True)
    source_site = models.CharField(
        max_length=32, blank=True, help_text="site that served the media"
    )
    provider_used = models.CharField(max_length=32, blank=True)

    progress = models.FloatField(default=0.0, help_text="0..1")
    downloaded_bytes = models.BigIntegerField(default=0)
    total_bytes = models.BigIntegerField(null=True, blank=True)
    speed = models.FloatField(default=0.0, help_text="bytes per second")
    eta = models.PositiveIntegerField(null=True, blank=True, help_text="seconds")
    message = models.TextField(blank=True, help_text="last state change or the failure reason")
    error_detail = models.TextField(blank=True, help_text="trimmed traceback of a failure")
    result_path = models.CharField(max_length=1024, blank=True)
    save_path = models.CharField(max_length=1024, blank=True)
    options = models.JSONField(default=dict, blank=True, help_text="job-kind specific parameters")

    celery_task_id = models.CharField(max_length=64, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    # Lease: the worker running the job renews it; an expired lease means the worker
    # died, and downloads.ledger requeues the job (or fails it after MAX_ATTEMPTS).
    lease_owner = models.CharField(max_length=255, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "lease_expires_at"], name="job_status_lease")]

    def __str__(self) -> str:
        return self.release_name or self.episode_label

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE
