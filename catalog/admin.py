from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from catalog import breaker
from catalog.models import EpisodeAvailability


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
