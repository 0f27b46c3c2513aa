"""The Celery app: configured from Django settings (`CELERY_*`), tasks autodiscovered."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anibridge_site.settings")

app = Celery("anibridge")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Worker presence for /health and recovery of jobs a killed worker left behind.
import anibridge_site.workers  # noqa: E402,F401
