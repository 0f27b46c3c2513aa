"""The admin as an operator uses it: job progress, Retry/Cancel, counts per state on the
index, what is playing (recorded by the STRM proxy), the job behind a Celery result."""

from __future__ import annotations

import ipaddress
import re
import uuid

import pytest
from django.test import Client
from django_celery_results.models import TaskResult

from catalog.identity import EpisodeIdentity
from downloads.models import Job
from strm import activity
from strm.stream_urls import stream_url
from tests.fakeweb import FakeWeb
from tests.strm_helpers import WsgiClient, get, proxy_uris, store_resolution, use_proxy_config

pytestmark = pytest.mark.django_db

KAIJU = {
    "site": "aniworld.to",
    "slug": "kaiju-academy",
    "season": 1,
    "language": "German Dub",
}


@pytest.fixture
def staff(admin_client: Client) -> Client:
    return admin_client  # pytest-django's: logged in as a superuser


def _job(episode: int, **fields: object) -> Job:
    return Job.objects.create(
        release_name=f"Kaiju.Academy.S01E0{episode}.GERMAN.1080p.WEB-aniworld",
        episode=episode,
        **KAIJU,
        **fields,
    )


def test_the_job_list_shows_progress_sizes_speed_and_eta_and_refreshes_while_running(
    staff: Client,
) -> None:
    _job(
        1,
        status=Job.Status.DOWNLOADING,
        progress=0.42,
        downloaded_bytes=5_040_000,
        total_bytes=12_000_000,
        speed=10_240,
        eta=200,
        message="downloading from VOE",
    )
    _job(2, status=Job.Status.COMPLETED, progress=1.0, total_bytes=2_500_000_000)
    page = staff.get("/admin/downloads/job/").content.decode()
    assert 'class="ab-bar ab-downloading" title="42%"><span style="width:42%">' in page
    assert "downloading from VOE" in page  # the hoster, in the message
    assert "5.0/12.0 MB" in page
    assert "10.2 KB/s" in page  # not "0.0 MB/s"
    assert "3m 20s" in page
    assert "2.5 GB" in page and 'title="100%"' in page
    assert "window.location.reload()" in page


def test_the_job_list_stops_refreshing_when_nothing_runs(staff: Client) -> None:
    _job(1, status=Job.Status.COMPLETED, progress=1.0)
    page = staff.get("/admin/downloads/job/").content.decode()
    assert "window.location.reload()" not in page


def test_a_failed_job_has_a_retry_button_that_queues_it_again(
    staff: Client, django_capture_on_commit_callbacks
) -> None:
    job = _job(3, status=Job.Status.FAILED, message="no hoster worked")
    page = staff.get(f"/admin/downloads/job/{job.pk}/change/").content.decode()
    retry = f"/admin/downloads/job/{job.pk}/retry/"
    assert f'action="{retry}"' in page and ">Retry</button>" in page
    assert ">Cancel</button>" not in page
    assert staff.get(retry).status_code == 405  # a GET changes nothing
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff.post(retry, follow=True)
    assert f"Queued {job} again." in response.content.decode()
    assert len(callbacks) == 1  # the task is sent once the transaction commits
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED and job.message == "queued again by an operator"
    page = staff.get(f"/admin/downloads/job/{job.pk}/change/").content.decode()
    assert ">Retry</button>" not in page and ">Cancel</button>" in page


def test_a_queued_job_can_be_cancelled_from_its_page(staff: Client) -> None:
    job = _job(1)
    response = staff.post(f"/admin/downloads/job/{job.pk}/cancel/", follow=True)
    assert f"Cancelled {job}." in response.content.decode()
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED


def test_job_buttons_need_a_staff_login(client: Client) -> None:
    job = _job(1, status=Job.Status.FAILED)
    response = client.post(f"/admin/downloads/job/{job.pk}/retry/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED


def test_the_index_counts_jobs_per_state_with_links(staff: Client) -> None:
    _job(1, status=Job.Status.FAILED)
    _job(2, status=Job.Status.FAILED)
    _job(3, status=Job.Status.DOWNLOADING)
    page = staff.get("/admin/").content.decode()
    assert re.search(
        r'href="/admin/downloads/job/\?status__exact=failed"><strong>2</strong> failed', page
    )
    assert re.search(r"status__exact=downloading\"><strong>1</strong> downloading", page)
    assert re.search(r"status__exact=queued\"><strong>0</strong> queued", page)
    assert "<strong>0</strong> playing now" in page


def test_celery_results_show_the_outcome_of_their_job(staff: Client) -> None:
    task_id = str(uuid.uuid4())
    job = _job(1, status=Job.Status.FAILED, message="no hoster worked", celery_task_id=task_id)
    TaskResult.objects.create(
        task_id=task_id, task_name="downloads.tasks.run_job", status="SUCCESS"
    )
    TaskResult.objects.create(task_id=str(uuid.uuid4()), task_name="qbshim.tasks.cleanup")
    page = staff.get("/admin/django_celery_results/taskresult/").content.decode()
    assert f'<a href="/admin/downloads/job/{job.pk}/change/">failed: no hoster worked</a>' in page
    assert "Group results" not in staff.get("/admin/").content.decode()


@pytest.fixture
def web(fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch) -> FakeWeb:
    use_proxy_config(monkeypatch)
    activity.forget_pending()
    return fake_sites


def test_active_streams_show_what_the_proxy_serves_to_whom(
    staff: Client, web: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "VOE")
    mapping = store_resolution(identity, web.cdn.url("/t/ok/hls/ts/master.m3u8"))
    mapping.strm_path = "/downloads/Kaiju Academy/Kaiju.Academy.S01E01.strm"
    mapping.save()
    monkeypatch.setattr(activity, "FLUSH_SECONDS", 0.0)  # every reply reaches Redis
    player = WsgiClient()
    headers = {"User-Agent": "Lavf/60.16.100"}
    status, _, master = get(player, stream_url(identity), **headers)
    assert status == 200
    media = get(player, proxy_uris(master.decode())[0], **headers)[2].decode()
    sent = len(master) + len(media.encode())
    for segment in proxy_uris(media):
        sent += len(get(player, segment, **headers)[2])
    [stream] = activity.playing()
    assert stream.identity == EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub")
    assert (stream.client, stream.agent, stream.bytes) == ("127.0.0.1", "Lavf/60.16.100", sent)
    page = staff.get("/admin/streams/").content.decode()
    assert "aniworld.to/kaiju-academy S01E01 [German Dub]" in page
    assert mapping.strm_path in page
    assert "127.0.0.1" in page and "Lavf/60.16.100" in page
    assert f"{sent / 1000:.1f} KB" in page
    assert "<strong>1</strong> playing now" in staff.get("/admin/").content.decode()


def test_a_stream_stops_being_listed_after_it_goes_quiet(
    web: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 2, "German Dub")
    activity.record(identity, "10.0.0.5", "Jellyfin", 1000)
    assert len(activity.playing()) == 1
    monkeypatch.setattr(activity, "IDLE_SECONDS", -1)
    assert activity.playing() == []


def test_the_rate_is_measured_over_a_window(web: FakeWeb, monkeypatch: pytest.MonkeyPatch) -> None:
    identity = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 3, "German Dub")
    clock = iter([1000.0, 1012.0])
    monkeypatch.setattr(activity, "_wall", lambda: next(clock))
    monkeypatch.setattr(activity, "FLUSH_SECONDS", 0.0)
    activity.record(identity, "10.0.0.5", "Jellyfin", 500)
    activity.record(identity, "10.0.0.5", "Jellyfin", 120_000)
    monkeypatch.setattr(activity, "_wall", lambda: 1013.0)
    monkeypatch.setattr(activity, "IDLE_SECONDS", 60)
    [stream] = activity.playing()
    assert stream.rate == pytest.approx(120_500 / 12)
    assert stream.since == 1000.0 and stream.bytes == 120_500


@pytest.mark.parametrize(
    ("trusted", "shown"), [(("127.0.0.0/8",), "203.0.113.7"), ((), "127.0.0.1")]
)
def test_active_streams_name_the_client_behind_a_trusted_reverse_proxy(
    fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch, trusted: tuple[str, ...], shown: str
) -> None:
    # Jellyfin behind Caddy: the proxy connects from loopback and names the player in
    # X-Forwarded-For, which counts only when that proxy is in ANIBRIDGE_TRUSTED_PROXIES.
    networks = tuple(ipaddress.ip_network(n) for n in trusted)
    use_proxy_config(monkeypatch, trusted_proxies=networks)
    activity.forget_pending()
    monkeypatch.setattr(activity, "FLUSH_SECONDS", 0.0)
    identity = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "VOE")
    store_resolution(identity, fake_sites.cdn.url("/t/ok/hls/ts/master.m3u8"))
    status, _, _ = get(WsgiClient(), stream_url(identity), **{"X-Forwarded-For": "203.0.113.7"})
    assert status == 200
    [stream] = activity.playing()
    assert stream.client == shown
