"""The job ledger: one row per download or .strm job, written by the worker that runs it."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from catalog.models import EpisodeFields


class Job(EpisodeFields):
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
