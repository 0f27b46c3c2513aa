"""Celery's task results in the admin, with the outcome of the job a task ran.

A download task "succeeds" when it recorded the job's failure (a hoster-less episode is
not a crash), so the Celery status alone misleads: the job's status and reason stand
beside it, linked to the job. Group results are not used here and are hidden.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django_celery_results.admin import TaskResultAdmin
from django_celery_results.models import GroupResult, TaskResult

from downloads.models import Job

admin.site.unregister(TaskResult)
admin.site.unregister(GroupResult)


@admin.register(TaskResult)
class JobAwareTaskResultAdmin(TaskResultAdmin):
    list_display = ("task_id", "task_name", "date_done", "status", "job_outcome", "worker")

    def get_queryset(self, request: HttpRequest) -> QuerySet[TaskResult]:
        jobs = Job.objects.filter(celery_task_id=OuterRef("task_id"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                job_id=Subquery(jobs.values("pk")[:1]),
                job_status=Subquery(jobs.values("status")[:1]),
                job_message=Subquery(jobs.values("message")[:1]),
            )
        )

    @admin.display(description="job outcome", ordering="job_status")
    def job_outcome(self, obj: TaskResult) -> str:
        job_id = getattr(obj, "job_id", None)
        if job_id is None:
            return "-"
        text = obj.job_status  # type: ignore[attr-defined]
        if obj.job_message:  # type: ignore[attr-defined]
            text += ": " + Truncator(obj.job_message).chars(60)  # type: ignore[attr-defined]
        url = reverse("admin:downloads_job_change", args=[job_id])
        return format_html('<a href="{}">{}</a>', url, text)
