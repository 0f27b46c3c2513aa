"""Where each .strm file points and what its identity last resolved to."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from catalog.models import EpisodeFields


class StrmUrlMapping(EpisodeFields):
    """Identity -> last resolved upstream URL (+ the headers the hoster wants).

    Backs the proxy's Redis cache: after a Redis flush one row read replaces a
    re-scrape of the site.
    """

    provider = models.CharField(max_length=32, blank=True, help_text="requested hoster ('' = any)")
    strm_path = models.CharField(max_length=1024, blank=True)
    resolved_url = models.TextField(blank=True)
    resolved_headers = models.JSONField(default=dict, blank=True)
    provider_used = models.CharField(max_length=32, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(
        null=True, blank=True, help_text="last upstream HTTP status"
    )
    last_checked_at = models.DateTimeField(null=True, blank=True)
    fail_count = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # What a synthetic master playlist says about the stream (strm.stream_info): probed
    # once from the first segment, again only when another hoster serves the episode.
    media_width = models.PositiveIntegerField(null=True, blank=True)
    media_height = models.PositiveIntegerField(null=True, blank=True)
    media_codecs = models.CharField(
        max_length=200, blank=True, help_text="RFC 6381 CODECS of the stream ('' = unknown)"
    )
    media_probed_provider = models.CharField(max_length=32, blank=True)
    media_probed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["site", "slug", "season", "episode", "language", "provider"],
                name="strm_mapping_identity",
            )
        ]
        indexes = [models.Index(fields=["resolved_at"], name="strm_mapping_resolved")]

    def __str__(self) -> str:
        return self.episode_label
