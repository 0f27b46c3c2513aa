"""/api/jobs/ (DRF, admin) and the original's legacy JSON endpoints with SSE."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from downloads.models import Job

pytestmark = pytest.mark.django_db


def _job(**fields: Any) -> Job:
    return Job.objects.create(
        site="aniworld.to", slug="frieren", season=1, episode=1, language="German Sub", **fields
    )


def test_jobs_api_needs_an_admin(client: Client) -> None:
    assert client.get("/api/jobs/").status_code in (401, 403)
    User.objects.create_user("viewer", password="pw-for-tests")
    client.login(username="viewer", password="pw-for-tests")
    assert client.get("/api/jobs/").status_code == 403


def test_jobs_api_lists_failures_with_their_reason(admin_client: Client) -> None:
    _job(status=Job.Status.FAILED, message="language not offered: English Dub")
    _job(status=Job.Status.COMPLETED)
    body = admin_client.get("/api/jobs/", {"status": "failed"}).json()
    assert body["count"] == 1
    [job] = body["results"]
    assert job["status"] == "failed" and job["message"] == "language not offered: English Dub"


def test_jobs_api_cancel_and_retry(
    admin_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    job = _job()
    assert admin_client.post(f"/api/jobs/{job.pk}/cancel/").json() == {"cancelled": True}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert admin_client.post(f"/api/jobs/{job.pk}/retry/").json() == {"queued": True}
    assert len(callbacks) == 1


def test_legacy_download_creates_a_queued_job(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            "/downloader/download",
            {"slug": "frieren", "season": 1, "episode": 2, "language": "German Sub"},
            content_type="application/json",
        )
    assert response.status_code == 200 and len(callbacks) == 1
    job = Job.objects.get(pk=response.json()["job_id"])
    assert (job.slug, job.episode, job.language, job.status) == (
        "frieren",
        2,
        "German Sub",
        "queued",
    )


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"season": 1, "episode": 1}, "missing field 'slug'"),
        ({"slug": "x", "season": "one", "episode": 1}, "invalid literal"),
        ({"slug": "x", "season": 1, "episode": 1, "language": "Klingon"}, "Klingon"),
        ({"slug": "../etc", "season": 1, "episode": 1}, "slug"),
        ([1, 2], "JSON object"),
    ],
)
def test_legacy_download_refuses_bad_bodies(client: Client, body: Any, needle: str) -> None:
    response = client.post(
        "/downloader/download", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 400 and needle in response.json()["detail"]
    assert Job.objects.count() == 0


def test_legacy_download_refuses_invalid_json(client: Client) -> None:
    response = client.post("/downloader/download", "{nope", content_type="application/json")
    assert response.status_code == 400 and Job.objects.count() == 0


def test_legacy_job_get_and_delete(client: Client) -> None:
    job = _job()
    assert client.get(f"/jobs/{job.pk}").json()["status"] == "queued"
    assert client.delete(f"/jobs/{job.pk}").json() == {"status": "cancelled"}
    assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELLED
    assert client.get("/jobs/00000000-0000-0000-0000-000000000000").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_legacy_events_stream_progress_until_the_job_ends(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qbshim import legacy

    monkeypatch.setattr(legacy, "SSE_POLL_SECONDS", 0.05)
    job = _job(status=Job.Status.DOWNLOADING, progress=0.1)

    def advance() -> None:
        time.sleep(0.3)
        Job.objects.filter(pk=job.pk).update(progress=0.6)
        time.sleep(0.3)
        Job.objects.filter(pk=job.pk).update(status=Job.Status.COMPLETED, progress=1.0)

    threading.Thread(target=advance, daemon=True).start()
    response: Any = client.get(f"/jobs/{job.pk}/events")
    assert response["Content-Type"] == "text/event-stream"
    events = [
        json.loads(chunk.decode().removeprefix("data: "))
        for chunk in response.streaming_content
        if chunk.startswith(b"data: ")
    ]
    progress = [e["progress"] for e in events]
    assert progress[0] == 0.1 and 0.6 in progress and progress[-1] == 1.0
    assert events[-1]["status"] == "completed"
