"""The Celery app: configured from Django settings (`CELERY_*`), tasks autodiscovered."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anibridge_site.settings")

app = Celery("anibridge")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Worker presence for /health (signal handlers connect on import); recovery of jobs a
# killed worker left behind, and jobs sent again when the broker lost them.
from anibridge_site import workers  # noqa: E402, F401
from downloads.recovery import ResendUnsentJobs  # noqa: E402

app.steps["consumer"].add(ResendUnsentJobs)

# `celery worker --embed-beat`: the scheduler as a thread of the worker (make run, Docker).
from anibridge_site import embedded_beat  # noqa: E402

embedded_beat.install(app)
