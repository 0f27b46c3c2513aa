"""Which mappings an operator means: the filters of `refresh_strm` and `/api/strm/`.

`stale` selects mappings whose current resolution failed its last check, was never
made (or was purged), or is older than STRM_PROXY_CACHE_TTL_SECONDS; with that set
to 0 ("keep forever") a resolution counts as stale after 24 hours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from catalog.identity import MAX_EPISODE, MAX_SEASON, normalize_site, validate_slug
from strm.models import StrmUrlMapping

FILTERS = ("site", "slug", "season", "episode", "stale", "all")
# Hosters' tokens rarely outlive a day; used when the cache keeps resolutions forever.
STALE_WITHOUT_TTL = timedelta(hours=24)
NOTHING_SELECTED = "nothing selected: give site, slug, season, episode or stale, or all"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class SelectionError(ValueError):
    """A filter is malformed or missing; str() is one line naming it."""


@dataclass(frozen=True)
class Selection:
    site: str | None = None
    slug: str | None = None
    season: int | None = None
    episode: int | None = None
    stale: bool = False
    everything: bool = False

    @property
    def is_empty(self) -> bool:
        """No filter and no explicit `all`: refusing is safer than refreshing everything."""
        narrowed = (self.site, self.slug, self.season, self.episode)
        return not self.everything and not self.stale and all(v is None for v in narrowed)

    def mappings(self, now: datetime | None = None) -> QuerySet[StrmUrlMapping]:
        qs = StrmUrlMapping.objects.all()
        if self.site is not None:
            qs = qs.filter(site=self.site)
        if self.slug is not None:
            qs = qs.filter(slug=self.slug)
        if self.season is not None:
            qs = qs.filter(season=self.season)
        if self.episode is not None:
            qs = qs.filter(episode=self.episode)
        if self.stale:
            qs = qs.filter(stale_filter(now or timezone.now()))
        return qs.order_by("site", "slug", "season", "episode", "language", "provider")


def stale_after() -> timedelta:
    ttl = settings.CONFIG.strm_proxy_cache_ttl_seconds
    return timedelta(seconds=ttl) if ttl > 0 else STALE_WITHOUT_TTL


def stale_filter(now: datetime) -> Q:
    # A failure recorded before the latest resolve belonged to the URL it replaced.
    failed_since_resolved = Q(fail_count__gt=0, last_checked_at__gte=F("resolved_at"))
    return (
        Q(resolved_at__isnull=True) | Q(resolved_at__lt=now - stale_after()) | failed_since_resolved
    )


def parse_selection(values: Mapping[str, object], *, require: bool = True) -> Selection:
    """The selection `values` name (text from forms and the command line, or JSON values).

    Raises SelectionError for unknown or malformed filters, and when `require` is set
    and nothing is selected.
    """
    unknown = sorted(set(values) - set(FILTERS))
    if unknown:
        raise SelectionError(f"unknown filter(s) {', '.join(unknown)}: use {', '.join(FILTERS)}")
    selection = Selection(
        site=_site(values.get("site")),
        slug=_slug(values.get("slug")),
        season=_number(values.get("season"), "season", MAX_SEASON),
        episode=_number(values.get("episode"), "episode", MAX_EPISODE),
        stale=_flag(values.get("stale"), "stale"),
        everything=_flag(values.get("all"), "all"),
    )
    if require and selection.is_empty:
        raise SelectionError(NOTHING_SELECTED)
    return selection


def _given(value: object) -> bool:
    return value is not None and value != ""


def _site(value: object) -> str | None:
    if not _given(value):
        return None
    try:
        return normalize_site(str(value))
    except ValueError as exc:
        raise SelectionError(str(exc)) from None


def _slug(value: object) -> str | None:
    if not _given(value):
        return None
    try:
        return validate_slug(str(value).strip())
    except ValueError as exc:
        raise SelectionError(str(exc)) from None


def _number(value: object, name: str, maximum: int) -> int | None:
    if not _given(value):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise SelectionError(f"{name} must be a whole number from 0 to {maximum}, got {value!r}")
    if not 0 <= number <= maximum:
        raise SelectionError(f"{name} must be a whole number from 0 to {maximum}, got {number}")
    return number


def _flag(value: object, name: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise SelectionError(f"{name} must be true or false, got {value!r}")
