from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from strm import cache
from strm.models import StrmUrlMapping


class ResolvedFilter(admin.SimpleListFilter):
    title = "resolved"
    parameter_name = "resolved"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "has a resolved URL"), ("no", "not resolved"), ("failing", "failing")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[StrmUrlMapping]
    ) -> QuerySet[StrmUrlMapping]:
        if self.value() == "yes":
            return queryset.exclude(resolved_url="")
        if self.value() == "no":
            return queryset.filter(resolved_url="")
        if self.value() == "failing":
            return queryset.filter(fail_count__gt=0)
        return queryset


@admin.register(StrmUrlMapping)
class StrmUrlMappingAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "provider_used",
        "resolved_at",
        "last_status",
        "fail_count",
        "strm_path",
    )
    list_filter = (
        ResolvedFilter,
        "site",
        "language",
        "provider_used",
        ("resolved_at", admin.DateFieldListFilter),
    )
    search_fields = ("slug", "strm_path")
    actions = ("purge_cached_url",)
    readonly_fields = [f.name for f in StrmUrlMapping._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: StrmUrlMapping | None = None
    ) -> bool:
        return False

    @admin.action(description="Purge cached URL (resolve afresh on next playback)")
    def purge_cached_url(self, request: HttpRequest, queryset: QuerySet[StrmUrlMapping]) -> None:
        mappings = list(queryset)
        for mapping in mappings:
            cache.purge(mapping)
        self.message_user(request, f"Purged {len(mappings)} cached URL(s).", messages.SUCCESS)
