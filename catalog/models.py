"""What we know about the outside world, cached in the database."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from catalog.identity import EpisodeIdentity, validate_slug
from catalog.registry import validate_site_name

LANGUAGE_CHOICES = [
    ("German Dub", "German Dub"),
    ("German Sub", "German Sub"),
    ("English Sub", "English Sub"),
    ("English Dub", "English Dub"),
]


# The columns of EpisodeFields, in identity order (serializers, admin read-only lists).
EPISODE_FIELDS = ("site", "slug", "season", "episode", "language")


class EpisodeFields(models.Model):
    """The episode part of an identity: (site, slug, season, episode, language).

    Films and specials are season 0; Megakino films are season 0, episode 1.
    """

    # A registered site (catalog.registry), checked in code so a new site needs no migration.
    site = models.CharField(max_length=32, validators=[validate_site_name])
    slug = models.CharField(max_length=200)
    season = models.PositiveIntegerField()
    episode = models.PositiveIntegerField()
    language = models.CharField(max_length=32, choices=LANGUAGE_CHOICES)

    class Meta:
        abstract = True

    @staticmethod
    def identity_fields(
        identity: EpisodeIdentity, *, with_provider: bool = False
    ) -> dict[str, Any]:
        """The columns that hold `identity`, to filter or create rows with; `with_provider`
        adds its preferred hoster ('' for any) for models whose `provider` means that."""
        fields: dict[str, Any] = {name: getattr(identity, name) for name in EPISODE_FIELDS}
        if with_provider:
            fields["provider"] = identity.provider or ""
        return fields

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
        return availability_is_fresh(self.available, self.checked_at, ttl_hours)


def availability_is_fresh(available: bool, checked_at: datetime, ttl_hours: float) -> bool:
    """EpisodeAvailability.is_fresh for a result read without its model instance."""
    if not available:
        ttl_hours = min(ttl_hours, unavailable_ttl_hours())
    return timezone.now() - checked_at < timedelta(hours=ttl_hours)


def confirmed_availability() -> models.QuerySet[EpisodeAvailability]:
    """The "available" probe result of the outer query's episode, for Exists/Subquery
    over rows with the episode fields (FirstSeen)."""
    return EpisodeAvailability.objects.filter(
        site=models.OuterRef("site"),
        slug=models.OuterRef("slug"),
        season=models.OuterRef("season"),
        episode=models.OuterRef("episode"),
        language=models.OuterRef("language"),
        available=True,
    )


def unavailable_ttl_hours() -> float:
    """How long a "not available" probe result is trusted (see is_fresh)."""
    cfg = settings.CONFIG
    return min(cfg.availability_ttl_hours, cfg.availability_unavailable_ttl_hours)


class WatchedSeries(models.Model):
    """A series the RSS feed follows (catalog.watching decides which are watched,
    catalog.watcher checks them)."""

    class Reason(models.TextChoices):
        SEARCH = "search", "searched for"
        GRAB = "grab", "grabbed"
        ADMIN = "admin", "added by hand"

    # A registered site (catalog.registry), checked in code so a new site needs no migration.
    site = models.CharField(max_length=32, validators=[validate_site_name])
    slug = models.CharField(max_length=200)
    title = models.CharField(
        max_length=300, blank=True, help_text="the series title in release names (SkyHook's)"
    )
    tvdb_id = models.PositiveIntegerField(null=True, blank=True)
    pinned = models.BooleanField(
        default=False, help_text="watched whatever the activity (added by hand)"
    )
    stopped = models.BooleanField(
        default=False, help_text="not watched, whatever the activity, until watched again"
    )
    last_reason = models.CharField(max_length=16, choices=Reason.choices, blank=True)
    last_activity_at = models.DateTimeField(
        null=True, blank=True, help_text="last search or grab; watched for RSS_WATCH_DAYS after"
    )
    # Regular season -> episodes listed at the last check, "0" -> films; JSON keys are text.
    season_sizes = models.JSONField(default=dict, blank=True)
    checks = models.PositiveIntegerField(default=0)
    last_checked_at = models.DateTimeField(
        null=True, blank=True, help_text="last check that read the site"
    )
    next_check_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_error = models.TextField(blank=True, help_text="why the last check failed")
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "watched series"
        constraints = [models.UniqueConstraint(fields=["site", "slug"], name="watched_series")]

    def __str__(self) -> str:
        return f"{self.title or self.slug} ({self.site})"

    def clean(self) -> None:
        try:
            validate_slug(self.slug)
        except ValueError as exc:
            raise ValidationError({"slug": str(exc)}) from None


class FirstSeen(EpisodeFields):
    """When an episode in a language was first seen available on its site: the RSS item's
    pubDate. Rows seen at a series' first check are `baseline` (not news, not in the feed)."""

    series = models.ForeignKey(WatchedSeries, on_delete=models.CASCADE, related_name="releases")
    first_seen_at = models.DateTimeField()
    baseline = models.BooleanField(default=False)
    # Sonarr's numbering for the release name (as a search would name it); a film
    # without a Sonarr special has none and is not offered.
    name_season = models.PositiveIntegerField(null=True, blank=True)
    name_episode = models.PositiveIntegerField(null=True, blank=True)
    absolute = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = "release first seen"
        verbose_name_plural = "releases first seen"
        constraints = [
            models.UniqueConstraint(
                fields=["site", "slug", "season", "episode", "language"], name="first_seen_identity"
            )
        ]
        indexes = [
            models.Index(
                fields=["-first_seen_at", "-id"],
                condition=models.Q(baseline=False),
                name="first_seen_feed",
            )
        ]

    def __str__(self) -> str:
        return self.episode_label


class EgressAddress(models.Model):
    """A public IP address AniBridge's outbound traffic was seen leaving from
    (PUBLIC_IP_CHECK_ENABLED); the newest row is the current one."""

    address = models.GenericIPAddressField()
    seen_since = models.DateTimeField(default=timezone.now, help_text="when egress changed to it")
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-seen_since"]
        get_latest_by = "seen_since"
        verbose_name_plural = "egress addresses"

    def __str__(self) -> str:
        return self.address
