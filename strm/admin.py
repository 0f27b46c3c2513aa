from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from strm import cache, operations
from strm.models import StrmUrlMapping
from strm.operations import RefreshOutcome


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
        "last_checked_at",
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
    actions = ("purge_cached_url", "reresolve_now", "rewrite_strm_file")
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

    @admin.action(description="Re-resolve now (and rewrite the .strm file)")
    def reresolve_now(self, request: HttpRequest, queryset: QuerySet[StrmUrlMapping]) -> None:
        outcomes = [operations.refresh_mapping(mapping) for mapping in queryset]
        self._report(request, "Re-resolved", outcomes)

    @admin.action(description="Rewrite .strm file (current URL)")
    def rewrite_strm_file(self, request: HttpRequest, queryset: QuerySet[StrmUrlMapping]) -> None:
        outcomes = [operations.rewrite_strm_file(mapping) for mapping in queryset]
        self._report(request, "Rewrote", outcomes)

    def _report(self, request: HttpRequest, verb: str, outcomes: list[RefreshOutcome]) -> None:
        failures = [o for o in outcomes if o.failed]
        done = len(outcomes) - len(failures)
        text = f"{verb} {done} of {len(outcomes)} mapping(s)"
        if failures:
            # The first reason in full; the rest are in the log.
            text += f"; {len(failures)} failed, e.g. {failures[0]}"
        level = messages.SUCCESS if not failures else messages.WARNING if done else messages.ERROR
        self.message_user(request, text + ".", level)
