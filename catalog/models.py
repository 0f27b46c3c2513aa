"""What we know about the outside world, cached in the database."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from catalog.identity import EpisodeIdentity

SITE_CHOICES = [("aniworld.to", "AniWorld"), ("s.to", "s.to"), ("megakino", "Megakino")]
LANGUAGE_CHOICES = [
    ("German Dub", "German Dub"),
    ("German Sub", "German Sub"),
    ("English Sub", "English Sub"),
    ("English Dub", "English Dub"),
]


class EpisodeFields(models.Model):
    """The episode part of an identity: (site, slug, season, episode, language).

    Films and specials are season 0; Megakino films are season 0, episode 1.
    """

    site = models.CharField(max_length=32, choices=SITE_CHOICES)
    slug = models.CharField(max_length=200)
    season = models.PositiveIntegerField()
    episode = models.PositiveIntegerField()
    language = models.CharField(max_length=32, choices=LANGUAGE_CHOICES)

    class Meta:
        abstract = True

    def identity(self) -> EpisodeIdentity:
        """The row as an EpisodeIdentity (with its preferred hoster, where it has one).

        Raises ValueError when the row holds something no identity accepts.
        """
        return EpisodeIdentity(
            site=self.site,
            slug=self.slug,
            season=self.season,
            episode=self.episode,
            language=self.language,
            provider=getattr(self, "provider", "") or None,
        )

    @property
    def episode_label(self) -> str:
        return f"{self.site}/{self.slug} S{self.season:02d}E{self.episode:02d} [{self.language}]"


class EpisodeAvailability(EpisodeFields):
    """Result of probing one episode in one language: is it there, how good, from which hoster."""

    available = models.BooleanField(default=False)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    bandwidth = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="peak bits per second (HLS BANDWIDTH)"
    )
    codecs = models.CharField(max_length=200, blank=True, help_text="RFC 6381, as HLS CODECS")
    vcodec = models.CharField(max_length=32, blank=True)
    provider = models.CharField(max_length=32, blank=True, help_text="best hoster found")
    absolute_number = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="why the probe found nothing")
    checked_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name_plural = "episode availability"
        constraints = [
            models.UniqueConstraint(
                fields=["site", "slug", "season", "episode", "language"],
                name="availability_identity",
            )
        ]
        indexes = [models.Index(fields=["site", "slug", "season"], name="availability_season")]

    def __str__(self) -> str:
        return self.episode_label

    def is_fresh(self, ttl_hours: float) -> bool:
        """Younger than `ttl_hours`; a negative result also younger than
        AVAILABILITY_UNAVAILABLE_TTL_HOURS (a dub appears, a hoster recovers)."""
        if not self.available:
            ttl_hours = min(ttl_hours, unavailable_ttl_hours())
        return timezone.now() - self.checked_at < timedelta(hours=ttl_hours)


def unavailable_ttl_hours() -> float:
    """How long a "not available" probe result is trusted (see is_fresh)."""
    cfg = settings.CONFIG
    return min(cfg.availability_ttl_hours, cfg.availability_unavailable_ttl_hours)
