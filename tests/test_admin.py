from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from catalog.models import EpisodeAvailability
from downloads.models import Job
from qbshim.models import Category, ClientTask
from strm import cache as strm_cache
from strm.models import StrmUrlMapping

pytestmark = pytest.mark.django_db

IDENTITY = {
    "site": "aniworld.to",
    "slug": "frieren",
    "season": 1,
    "episode": 3,
    "language": "German Sub",
}


@pytest.fixture
def staff(client: Client) -> Client:
    client.force_login(User.objects.create_superuser("op", "op@example.invalid", "pw-for-tests"))
    return client


@pytest.fixture
def rows() -> dict[str, object]:
    job = Job.objects.create(
        release_name="Frieren.S01E03.1080p.WEB.H264.JAPANESE-GerSub-aniworld", **IDENTITY
    )
    return {
        "job": job,
        "task": ClientTask.objects.create(
            hash="a" * 40, name=job.release_name, magnet="magnet:?", job=job, **IDENTITY
        ),
        "category": Category.objects.create(name="sonarr", save_path="/downloads/sonarr"),
        "availability": EpisodeAvailability.objects.create(
            available=True, height=1080, provider="VOE", **IDENTITY
        ),
        "mapping": StrmUrlMapping.objects.create(
            resolved_url="https://cdn.invalid/m.m3u8",
            provider_used="VOE",
            resolved_at=timezone.now(),
            **IDENTITY,
        ),
    }


@pytest.mark.parametrize(
    "url",
    [
        "/admin/downloads/job/",
        "/admin/downloads/job/?status__exact=queued&site__exact=aniworld.to",
        "/admin/qbshim/clienttask/",
        "/admin/qbshim/category/",
        "/admin/catalog/episodeavailability/",
        "/admin/strm/strmurlmapping/?resolved=failing",
        "/admin/django_celery_results/taskresult/",
    ],
)
def test_changelists_render_with_their_rows(
    staff: Client, rows: dict[str, object], url: str
) -> None:
    response = staff.get(url)
    assert response.status_code == 200


def test_job_list_shows_progress_and_release(staff: Client, rows: dict[str, object]) -> None:
    Job.objects.filter(pk=rows["job"].pk).update(progress=0.42)  # type: ignore[attr-defined]
    page = staff.get("/admin/downloads/job/").content.decode()
    assert "42%" in page and "Frieren.S01E03" in page


def test_job_detail_is_read_only(staff: Client, rows: dict[str, object]) -> None:
    job = rows["job"]
    url = f"/admin/downloads/job/{job.pk}/change/"  # type: ignore[attr-defined]
    assert staff.get(url).status_code == 200
    staff.post(url, {"status": "completed"})
    assert Job.objects.get(pk=job.pk).status == Job.Status.QUEUED  # type: ignore[attr-defined]


def test_cancel_action_cancels_active_jobs(staff: Client, rows: dict[str, object]) -> None:
    job = rows["job"]
    response = staff.post(
        "/admin/downloads/job/",
        {"action": "cancel_jobs", "_selected_action": [job.pk]},  # type: ignore[attr-defined]
        follow=True,
    )
    assert "Cancelled 1 of 1 job(s)." in response.content.decode()
    assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELLED  # type: ignore[attr-defined]


def test_retry_action_requeues_failed_jobs(
    staff: Client, rows: dict[str, object], django_capture_on_commit_callbacks
) -> None:
    job = rows["job"]
    Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED, message="no hoster worked")  # type: ignore[attr-defined]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff.post(
            "/admin/downloads/job/",
            {"action": "retry_jobs", "_selected_action": [job.pk]},  # type: ignore[attr-defined]
            follow=True,
        )
    assert "Queued 1 job(s) again." in response.content.decode()
    assert len(callbacks) == 1
    assert Job.objects.get(pk=job.pk).status == Job.Status.QUEUED  # type: ignore[attr-defined]


def test_purge_action_forgets_the_cached_url(staff: Client, rows: dict[str, object]) -> None:
    mapping = rows["mapping"]
    assert isinstance(mapping, StrmUrlMapping)
    key = strm_cache.key_for(mapping)
    cache.set(key, {"url": mapping.resolved_url})
    response = staff.post(
        "/admin/strm/strmurlmapping/",
        {"action": "purge_cached_url", "_selected_action": [mapping.pk]},
        follow=True,
    )
    assert "Purged 1 cached URL(s)." in response.content.decode()
    assert cache.get(key) is None
    mapping.refresh_from_db()
    assert mapping.resolved_url == "" and mapping.resolved_at is None


def test_admin_needs_login(client: Client, rows: dict[str, object]) -> None:
    response = client.get("/admin/downloads/job/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
