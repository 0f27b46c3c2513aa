from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from catalog.models import EPISODE_FIELDS
from qbshim.models import Category, ClientTask


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "save_path")
    search_fields = ("name",)


@admin.register(ClientTask)
class ClientTaskAdmin(admin.ModelAdmin):
    list_display = (
        "added_on",
        "name",
        "hash",
        "category",
        "mode",
        "job_status",
        "site",
        "language",
    )
    list_filter = ("mode", "category", "site", "language", ("added_on", admin.DateFieldListFilter))
    search_fields = ("=hash", "name", "slug")
    date_hierarchy = "added_on"
    list_select_related = ("job",)
    # The hash, identity and job link are what Sonarr polls by; editing them would
    # orphan its queue entry. Category and tags may change, as they may in qBittorrent.
    readonly_fields = (
        "hash",
        "name",
        *EPISODE_FIELDS,
        "provider",
        "mode",
        "magnet",
        "job",
        "added_on",
        "completion_on",
        "save_path",
        "stopped",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="job status", ordering="job__status")
    def job_status(self, obj: ClientTask) -> str:
        return obj.job.status if obj.job else "-"
