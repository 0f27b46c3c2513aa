"""Jobs in the admin: progress at a glance (bar, sizes, speed, ETA), refreshed while
anything runs, and Retry/Cancel on a job's page as well as in the list's actions."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from anibridge_site.units import human_bytes, human_duration, human_rate
from downloads import ledger
from downloads.models import Job

REFRESH_SECONDS = 5


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    # Fits a 1366-px screen: the kind is a filter, the hoster is in the message ("downloading
    # from VOE"), the attempts and the full message are on the job's page.
    list_display = (
        "added",
        "release",
        "status",
        "progress_bar",
        "size",
        "speed_display",
        "eta_display",
        "short_message",
    )
    list_display_links = ("added", "release")
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

    # -- columns ------------------------------------------------------------------------

    @admin.display(description="added", ordering="created_at")
    def added(self, obj: Job) -> str:
        return timezone.localtime(obj.created_at).strftime("%d %b %H:%M")

    @admin.display(description="release", ordering="release_name")
    def release(self, obj: Job) -> str:
        # Release names have no spaces: let them wrap after their dots.
        parts = Truncator(str(obj)).chars(90).split(".")
        return format_html_join(mark_safe(".<wbr>"), "{}", ((part,) for part in parts))

    @admin.display(description="progress", ordering="progress")
    def progress_bar(self, obj: Job) -> str:
        percent = 100 if obj.status == Job.Status.COMPLETED else int(obj.progress * 100)
        return format_html(
            '<span class="ab-bar ab-{}" title="{}%"><span style="width:{}%"></span></span> {}%',
            obj.status,
            percent,
            percent,
            percent,
        )

    @admin.display(description="size", ordering="total_bytes")
    def size(self, obj: Job) -> str:
        """The whole file; while it downloads, what is done of it ("231.0/550.0 MB")."""
        total = human_bytes(obj.total_bytes)
        if obj.status != Job.Status.DOWNLOADING or not obj.downloaded_bytes:
            return total
        done = human_bytes(obj.downloaded_bytes)
        if not total:
            return done
        done_number, done_unit = done.split()
        if total.endswith(" " + done_unit):
            return f"{done_number}/{total}"
        return f"{done}/{total}"

    @admin.display(description="speed", ordering="speed")
    def speed_display(self, obj: Job) -> str:
        return human_rate(obj.speed) if obj.status == Job.Status.DOWNLOADING else ""

    @admin.display(description="ETA", ordering="eta")
    def eta_display(self, obj: Job) -> str:
        return human_duration(obj.eta) if obj.status == Job.Status.DOWNLOADING else ""

    @admin.display(description="message")
    def short_message(self, obj: Job) -> str:
        return format_html(
            '<span title="{}">{}</span>', obj.message, Truncator(obj.message).chars(40)
        )

    # -- the list refreshes itself while anything runs -----------------------------------

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        running = Job.objects.active().exists()
        context = {"refresh_seconds": REFRESH_SECONDS if running else 0, **(extra_context or {})}
        return super().changelist_view(request, context)

    # -- Retry / Cancel buttons on a job's page -------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<uuid:object_id>/retry/",
                self.admin_site.admin_view(self.retry_view),
                name="downloads_job_retry",
            ),
            path(
                "<uuid:object_id>/cancel/",
                self.admin_site.admin_view(self.cancel_view),
                name="downloads_job_cancel",
            ),
        ]
        return own + super().get_urls()

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        job = Job.objects.filter(pk=object_id).first()
        context = {
            "can_retry": job is not None and job.status in Job.FINISHED,
            "can_cancel": job is not None and job.status in Job.UNFINISHED,
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, context)

    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        job = self._posted_job(request, object_id)
        if isinstance(job, HttpResponse):
            return job
        if ledger.retry(job):
            self.message_user(request, f"Queued {job} again.", messages.SUCCESS)
        else:
            self.message_user(request, f"{job} is still running or queued.", messages.WARNING)
        return HttpResponseRedirect(reverse("admin:downloads_job_change", args=[job.pk]))

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        job = self._posted_job(request, object_id)
        if isinstance(job, HttpResponse):
            return job
        if ledger.cancel(job, "cancelled by an operator"):
            self.message_user(request, f"Cancelled {job}.", messages.SUCCESS)
        else:
            self.message_user(request, f"{job} had already finished.", messages.WARNING)
        return HttpResponseRedirect(reverse("admin:downloads_job_change", args=[job.pk]))

    def _posted_job(self, request: HttpRequest, object_id: str) -> Job | HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        job = get_object_or_404(Job, pk=object_id)
        if not self.has_view_permission(request, job):
            return HttpResponse("You may not change jobs.", status=403)
        return job

    # -- actions ----------------------------------------------------------------------------

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
