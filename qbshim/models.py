"""What the qBittorrent API shows: the "torrents" Sonarr added and their categories."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from catalog.models import EpisodeFields
from downloads.models import Job


class Category(models.Model):
    """A qBittorrent category; persisted, so Sonarr's category survives restarts."""

    name = models.CharField(max_length=100, primary_key=True)
    save_path = models.CharField(max_length=1024, blank=True)

    class Meta:
        verbose_name_plural = "categories"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ClientTask(EpisodeFields):
    """One added magnet, keyed by its btih as Sonarr computes it (lowercase hex)."""

    class Mode(models.TextChoices):
        DOWNLOAD = "download", "download"
        STRM = "strm", "strm"

    hash = models.CharField(max_length=40, primary_key=True)
    name = models.CharField(max_length=255, help_text="release name (magnet dn)")
    provider = models.CharField(max_length=32, blank=True)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.DOWNLOAD)
    magnet = models.TextField()
    category = models.CharField(max_length=100, blank=True, db_index=True)
    tags = models.CharField(max_length=500, blank=True)
    save_path = models.CharField(max_length=1024, blank=True)
    stopped = models.BooleanField(default=False, help_text="added or set stopped by the client")
    job = models.OneToOneField(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="client_task"
    )
    added_on = models.DateTimeField(default=timezone.now, db_index=True)
    completion_on = models.DateTimeField(null=True, blank=True)
    # Set by database triggers (migration 0003) from ChangeCounter on every change to
    # this row or its job, so the API can re-read only what changed.
    rev = models.BigIntegerField(default=0, db_index=True, editable=False)

    class Meta:
        ordering = ["-added_on"]

    def __str__(self) -> str:
        return self.name


class ChangeCounter(models.Model):
    """One row whose value the triggers bump on every change to tasks and jobs."""

    value = models.BigIntegerField(default=0)

    class Meta:
        db_table = "qbshim_changecounter"

    def __str__(self) -> str:
        return f"change {self.value}"


class RemovedTask(models.Model):
    """A deleted ClientTask and the revision it went at (written by a trigger), so
    sync/maindata can list `torrents_removed` since any rid."""

    hash = models.CharField(max_length=40)
    rev = models.BigIntegerField(db_index=True)
    removed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "qbshim_removedtask"

    def __str__(self) -> str:
        return f"{self.hash} removed at revision {self.rev}"


class ApiSession(models.Model):
    """A qB API login (the SID cookie). Only a hash of the cookie is kept, with a
    fingerprint of the credentials it was opened with: a changed QBIT_PASSWORD ends it."""

    key_hash = models.CharField(max_length=64, primary_key=True)
    credentials = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "qB API session"

    def __str__(self) -> str:
        return f"session {self.key_hash[:8]} (last seen {self.last_seen:%Y-%m-%d %H:%M})"
