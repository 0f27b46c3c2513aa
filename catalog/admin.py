from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from catalog import breaker, public_ip, registry, watching
from catalog.models import EgressAddress, EpisodeAvailability, FirstSeen, WatchedSeries
from catalog.tasks import enqueue_check


@admin.register(EpisodeAvailability)
class EpisodeAvailabilityAdmin(admin.ModelAdmin):
    list_display = (
        "checked_at",
        "__str__",
        "available",
        "height",
        "vcodec",
        "provider",
        "absolute_number",
    )
    list_filter = (
        "available",
        "site",
        "language",
        "provider",
        ("checked_at", admin.DateFieldListFilter),
    )
    search_fields = ("slug",)
    date_hierarchy = "checked_at"
    actions = ("forget",)
    readonly_fields = [f.name for f in EpisodeAvailability._meta.fields]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # The sites' circuit breakers, above the probe results (our change_list.html).
        context = {**(extra_context or {}), "circuits": breaker.states()}
        return super().changelist_view(request, extra_context=context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: EpisodeAvailability | None = None
    ) -> bool:
        return False

    @admin.action(description="Forget selected (probe again on next search)")
    def forget(self, request: HttpRequest, queryset: QuerySet[EpisodeAvailability]) -> None:
        count, _ = queryset.delete()
        self.message_user(request, f"Forgot {count} probe result(s).", messages.SUCCESS)


class WatchingFilter(admin.SimpleListFilter):
    title = "watched"
    parameter_name = "watched"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "watched"), ("no", "not watched"), ("stopped", "stopped by hand")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[WatchedSeries]
    ) -> QuerySet[WatchedSeries]:
        watched = watching.watched().values("pk")
        if self.value() == "yes":
            return queryset.filter(pk__in=watched)
        if self.value() == "no":
            return queryset.exclude(pk__in=watched)
        if self.value() == "stopped":
            return queryset.filter(stopped=True)
        return queryset


@admin.register(WatchedSeries)
class WatchedSeriesAdmin(admin.ModelAdmin):
    """The series the RSS feed follows; "Add" watches one by hand (pinned)."""

    list_display = (
        "__str__",
        "slug",
        "is_watched",
        "last_reason",
        "last_activity_at",
        "last_checked_at",
        "next_check_at",
        "short_error",
        "releases_seen",
    )
    list_filter = (WatchingFilter, "site", "last_reason", "pinned")
    search_fields = ("slug", "title")
    actions = ("check_now", "stop_watching", "watch")
    fields = ("site", "slug", "title", "tvdb_id", "pinned", "stopped")
    readonly_fields = (
        "last_reason",
        "last_activity_at",
        "last_checked_at",
        "next_check_at",
        "last_error",
        "last_error_at",
        "checks",
        "season_sizes",
    )

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "site":  # the registered sites (no model choices: see the model)
            choices = [(site.name, site.label) for site in registry.all_sites()]
            return forms.ChoiceField(choices=choices, label="Site")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_queryset(self, request: HttpRequest) -> QuerySet[WatchedSeries]:
        return (
            super()
            .get_queryset(request)
            .annotate(seen=Count("releases", filter=Q(releases__baseline=False)))
        )

    def get_fields(self, request: HttpRequest, obj: WatchedSeries | None = None) -> Any:
        return self.fields if obj is None else (*self.fields, *self.readonly_fields)

    def get_readonly_fields(self, request: HttpRequest, obj: WatchedSeries | None = None) -> Any:
        return self.readonly_fields if obj is None else ("site", "slug", *self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: WatchedSeries, form: Any, change: bool) -> None:
        if not change:
            obj.pinned = True
            obj.last_reason = WatchedSeries.Reason.ADMIN
        super().save_model(request, obj, form, change)

    @admin.display(description="watched", boolean=True)
    def is_watched(self, obj: WatchedSeries) -> bool:
        return watching.is_watched(obj)

    @admin.display(description="last error")
    def short_error(self, obj: WatchedSeries) -> str:
        return obj.last_error[:80]

    @admin.display(description="releases seen", ordering="seen")
    def releases_seen(self, obj: WatchedSeries) -> int:
        return int(getattr(obj, "seen", 0))

    @admin.action(description="Check now")
    def check_now(self, request: HttpRequest, queryset: QuerySet[WatchedSeries]) -> None:
        pks = list(queryset.values_list("pk", flat=True))
        try:
            for pk in pks:
                enqueue_check(pk)
        except (RedisError, OperationalError) as exc:
            self.message_user(
                request, f"Could not queue the checks, Redis is unreachable: {exc}", messages.ERROR
            )
            return
        self.message_user(request, f"Queued a check of {len(pks)} series.", messages.SUCCESS)

    @admin.action(description="Stop watching")
    def stop_watching(self, request: HttpRequest, queryset: QuerySet[WatchedSeries]) -> None:
        count = watching.stop(queryset)
        self.message_user(
            request,
            f"Stopped watching {count} series; searches and grabs no longer bring them back.",
            messages.SUCCESS,
        )

    @admin.action(description="Watch (pinned)")
    def watch(self, request: HttpRequest, queryset: QuerySet[WatchedSeries]) -> None:
        count = watching.start(queryset)
        self.message_user(request, f"Watching {count} series.", messages.SUCCESS)


@admin.register(FirstSeen)
class FirstSeenAdmin(admin.ModelAdmin):
    """When each episode and language was first seen on its site (the RSS items' dates)."""

    list_display = ("first_seen_at", "__str__", "named_as", "baseline")
    list_filter = ("baseline", "site", "language", ("first_seen_at", admin.DateFieldListFilter))
    search_fields = ("slug",)
    date_hierarchy = "first_seen_at"
    readonly_fields = [f.name for f in FirstSeen._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: FirstSeen | None = None) -> bool:
        return False

    @admin.display(description="named as")
    def named_as(self, obj: FirstSeen) -> str:
        if obj.name_season is None or obj.name_episode is None:
            return "" if obj.baseline else "not offered (no Sonarr episode)"
        absolute = f" ({obj.absolute:03d})" if obj.absolute else ""
        return f"S{obj.name_season:02d}E{obj.name_episode:02d}{absolute}"


@admin.register(EgressAddress)
class EgressAddressAdmin(admin.ModelAdmin):
    """The public IPs traffic left from (PUBLIC_IP_CHECK_ENABLED); newest first."""

    list_display = ("address", "seen_since", "last_seen_at")
    readonly_fields = ("address", "seen_since", "last_seen_at")
    actions = ("check_now",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: EgressAddress | None = None) -> bool:
        return False

    @admin.action(description="Check the public IP now")
    def check_now(self, request: HttpRequest, queryset: QuerySet[EgressAddress]) -> None:
        try:
            status = public_ip.check()
        except public_ip.CheckFailed as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        change = " (changed: resolved stream URLs will be resolved again)" if status.changed else ""
        self.message_user(
            request, f"Traffic leaves from {status.address}{change}.", messages.SUCCESS
        )
