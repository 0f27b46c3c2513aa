"""The admin site: the index shows jobs per state and what is playing, and there is an
"Active streams" page (strm.activity). Installed as Django's default admin site."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path, reverse
from redis.exceptions import RedisError

from anibridge_site.units import human_bytes, human_duration, human_rate
from anibridge_site.version import VERSION


@dataclass(frozen=True)
class StateCount:
    label: str
    count: int
    url: str


@dataclass(frozen=True)
class StreamRow:
    title: str
    strm_path: str
    client: str
    agent: str
    rate: str
    since: str
    sent: str


class AniBridgeAdminSite(admin.AdminSite):
    site_header = f"AniBridge {VERSION}"
    site_title = "AniBridge admin"
    index_title = "Jobs, streams and settings"
    index_template = "admin/anibridge_index.html"
    # The index lists every model; the sidebar would take a quarter of a 1366-px screen.
    enable_nav_sidebar = False

    def get_urls(self) -> list[URLResolver | URLPattern]:
        own = [path("streams/", self.admin_view(self.streams_view), name="active_streams")]
        return own + super().get_urls()

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        context = {"job_states": job_states(), "playing": _playing_count(), **(extra_context or {})}
        return super().index(request, context)

    def streams_view(self, request: HttpRequest) -> HttpResponse:
        rows, error = stream_rows()
        context = {
            **self.each_context(request),
            "title": "Active streams",
            "rows": rows,
            "error": error,
            "refresh_seconds": 5,
        }
        return TemplateResponse(request, "admin/active_streams.html", context)


def job_states() -> list[StateCount]:
    from downloads.models import Job

    counts = dict(Job.objects.values_list("status").annotate(n=Count("pk")).order_by())
    changelist = reverse("admin:downloads_job_changelist")
    return [
        StateCount(label, counts.get(value, 0), f"{changelist}?status__exact={value}")
        for value, label in Job.Status.choices
    ]


def _playing_count() -> int | None:
    from strm import activity

    try:
        return len(activity.playing())
    except RedisError:
        return None


def stream_rows() -> tuple[list[StreamRow], str]:
    """What is playing, with the .strm file each one is, for the page."""
    from strm import activity
    from strm.models import StrmUrlMapping

    try:
        streams = activity.playing()
    except RedisError as exc:
        return [], f"Redis is not reachable ({exc}); what is playing is kept there."
    paths = {
        (m.site, m.slug, m.season, m.episode, m.language): m.strm_path
        for m in StrmUrlMapping.objects.filter(slug__in={s.identity.slug for s in streams})
    }
    now = time.time()
    rows = []
    for stream in streams:
        i = stream.identity
        rows.append(
            StreamRow(
                title=str(i),
                strm_path=paths.get((i.site, i.slug, i.season, i.episode, i.language), ""),
                client=stream.client,
                agent=stream.agent,
                rate=human_rate(stream.rate) or "measuring",
                since=human_duration(now - stream.since) + " ago",
                sent=human_bytes(stream.bytes),
            )
        )
    return rows, ""


class AniBridgeAdminConfig(AdminConfig):
    default_site = "anibridge_site.admin_site.AniBridgeAdminSite"
