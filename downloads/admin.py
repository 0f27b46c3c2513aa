from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from downloads import ledger
from downloads.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "release_or_identity",
        "kind",
        "status",
        "percent",
        "speed_display",
        "attempts",
        "site",
        "provider_used",
        "short_message",
    )
    list_filter = ("status", "kind", "site", "language", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=id", "release_name", "slug", "message", "celery_task_id")
    date_hierarchy = "created_at"
    list_per_page = 50
    actions = ("cancel_jobs", "retry_jobs")
    # A job's state is written by the worker that runs it; editing it by hand would
    # race with that worker, so everything is read-only and changes go through actions.
    readonly_fields = [f.name for f in Job._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False

    @admin.display(description="release", ordering="release_name")
    def release_or_identity(self, obj: Job) -> str:
        return str(obj)

    @admin.display(description="progress", ordering="progress")
    def percent(self, obj: Job) -> str:
        return f"{obj.progress * 100:.0f}%"

    @admin.display(description="speed", ordering="speed")
    def speed_display(self, obj: Job) -> str:
        return f"{obj.speed / 1e6:.1f} MB/s" if obj.status == Job.Status.DOWNLOADING else ""

    @admin.display(description="message")
    def short_message(self, obj: Job) -> str:
        return obj.message[:80]

    @admin.action(description="Cancel selected jobs")
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        done = sum(ledger.cancel(job, "cancelled by an operator") for job in queryset)
        self.message_user(
            request, f"Cancelled {done} of {queryset.count()} job(s).", messages.SUCCESS
        )

    @admin.action(description="Retry selected failed/cancelled jobs")
    def retry_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        done = sum(ledger.retry(job) for job in queryset)
        skipped = queryset.count() - done
        note = f" ({skipped} still running or queued, left alone)" if skipped else ""
        self.message_user(request, f"Queued {done} job(s) again{note}.", messages.SUCCESS)
