"""Where a job's files live while it runs."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

# DOWNLOAD_DIR/.partial/<job id>/: the working directory of one download job. A
# redelivered job finds its partial data there; the finished file is renamed out.
PARTIAL_DIR = ".partial"


def partial_dir(job_id: object) -> Path:
    return Path(settings.CONFIG.download_dir) / PARTIAL_DIR / str(job_id)
