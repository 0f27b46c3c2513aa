"""The `strm` job: resolve the episode, write `<release>.strm` where Sonarr imports it.

In proxy mode the file holds our signed /strm/stream URL (stable for years; the proxy
re-resolves when the CDN link dies); in direct mode the CDN URL itself, as the
original did. Either way the resolution is stored in StrmUrlMapping with the file's
path, so `refresh_strm` and the admin can find and rewrite it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings

from downloads.download import safe_name
from downloads.models import Job
from downloads.tasks import JobContext, JobResult, register
from strm import resolved
from strm.files import write_strm
from strm.models import StrmUrlMapping
from strm.stream_urls import stream_url

log = logging.getLogger(__name__)


@register(Job.Kind.STRM)
def strm_job(job: Job, ctx: JobContext) -> JobResult:
    identity = job.identity()
    ctx.report(force=True, message="resolving")
    resolution = resolved.refresh(identity, None)  # raises ResolveError with the reason
    ctx.check()
    proxy = settings.CONFIG.strm_proxy_mode == "proxy"
    mode = "proxy" if proxy else "direct"
    url = stream_url(identity) if proxy else resolution.url
    directory = Path(job.save_path) if job.save_path else Path(settings.CONFIG.download_dir)
    path = write_strm(directory, safe_name(job), url)
    StrmUrlMapping.objects.update_or_create(
        **StrmUrlMapping.identity_fields(identity, with_provider=True),
        defaults={"strm_path": str(path)},
    )
    log.info(
        "job %s: wrote %s (%s mode, %s)",
        job.pk,
        path,
        "proxy" if proxy else "direct",
        resolution.provider,
    )
    size = path.stat().st_size
    return JobResult(
        result_path=str(path),
        message=f"wrote .strm ({mode} URL, resolved via {resolution.provider})",
        fields={
            "provider_used": resolution.provider,
            "total_bytes": size,
            "downloaded_bytes": size,
        },
    )
