from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from catalog import public_ip
from catalog.models import EgressAddress, EpisodeAvailability


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
