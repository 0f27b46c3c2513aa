"""The original AniBridge's JSON endpoints, kept for its users' scripts:
POST /downloader/download, GET/DELETE /jobs/<id>, GET /jobs/<id>/events (server-sent
events, one greenlet per listener under the gevent workers). Guarded like the
qBittorrent API (QBIT_USERNAME/QBIT_PASSWORD when set)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from catalog.identity import EpisodeIdentity
from downloads import ledger
from downloads.models import Job
from downloads.serializers import JobSerializer
from qbshim.auth import qb_auth
from qbshim.origin import same_site_only

log = logging.getLogger(__name__)

SSE_POLL_SECONDS = 1.0
SSE_KEEPALIVE_SECONDS = 15.0
SSE_MAX_SECONDS = 6 * 60 * 60


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


def _job_json(job: Job) -> dict[str, Any]:
    data: dict[str, Any] = JobSerializer(job).data
    data["id"] = str(job.pk)
    return json.loads(json.dumps(data, default=str))


@csrf_exempt
@same_site_only
@qb_auth
@require_POST
def legacy_download(request: HttpRequest) -> JsonResponse:
    """POST /downloader/download: JSON {slug, season, episode, language, site?, provider?}."""
    try:
        body = json.loads(request.body or b"{}")
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        identity = EpisodeIdentity(
            site=str(body.get("site") or "aniworld.to"),
            slug=str(body["slug"]),
            season=int(body["season"]),
            episode=int(body["episode"]),
            language=str(body.get("language") or "German Dub"),
            provider=body.get("provider") or None,
        )
    except KeyError as exc:
        return _error(f"missing field {exc.args[0]!r}", 400)
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        # OverflowError: int(Infinity), which json.loads accepts; RecursionError: a body
        # nested deeper than the parser goes.
        return _error(str(exc) or type(exc).__name__, 400)
    with transaction.atomic():
        job = ledger.create(
            identity,
            Job.Kind.DOWNLOAD,
            release_name=str(body.get("title_hint") or "").replace("\x00", "")[:255],
        )
    return JsonResponse({"job_id": str(job.pk)})


def _get_job(job_id: Any) -> Job | None:
    return Job.objects.filter(pk=job_id).first()


@csrf_exempt
@same_site_only
@qb_auth
@require_http_methods(["GET", "DELETE"])
def legacy_job(request: HttpRequest, job_id: Any) -> JsonResponse:
    job = _get_job(job_id)
    if job is None:
        return _error("job not found", 404)
    if request.method == "DELETE":
        ledger.cancel(job, "cancelled over the API")
        return JsonResponse({"status": "cancelled"})
    return JsonResponse(_job_json(job))


def _events(job_id: Any) -> Iterator[str]:
    last: dict[str, Any] | None = None
    started = quiet_since = time.monotonic()
    while time.monotonic() - started < SSE_MAX_SECONDS:
        job = _get_job(job_id)
        if job is None:
            yield 'event: gone\ndata: {"detail": "job not found"}\n\n'
            return
        data = _job_json(job)
        if data != last:
            yield f"data: {json.dumps(data)}\n\n"
            last, quiet_since = data, time.monotonic()
        elif time.monotonic() - quiet_since > SSE_KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            quiet_since = time.monotonic()
        if job.status in Job.FINISHED:
            return
        time.sleep(SSE_POLL_SECONDS)  # cooperative under the gevent workers


@qb_auth
@require_http_methods(["GET"])
def legacy_job_events(request: HttpRequest, job_id: Any) -> HttpResponse | StreamingHttpResponse:
    if _get_job(job_id) is None:
        return _error("job not found", 404)
    response = StreamingHttpResponse(_events(job_id), content_type="text/event-stream")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # a reverse proxy must not hold events back
    return response
