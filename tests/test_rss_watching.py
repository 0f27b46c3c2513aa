"""Which series the RSS feed watches: noted by searches and grabs, managed in the admin
and over /api/watched/."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog import watching
from catalog.identity import LANGUAGES, EpisodeIdentity
from catalog.magnet import build_magnet
from catalog.models import EpisodeAvailability, FirstSeen, WatchedSeries
from tests.fakeweb import FakeWeb

pytestmark = pytest.mark.django_db

KAIJU = {"site": "aniworld.to", "slug": "kaiju-academy"}


@pytest.fixture
def probed_kaiju() -> None:
    """Kaiju Academy S01E01 probed in every language, so searches answer at once."""
    for language in LANGUAGES:
        EpisodeAvailability.objects.create(
            **KAIJU, season=1, episode=1, language=language, available=language == "German Dub"
        )


@pytest.fixture
def staff(client: Client) -> Client:
    client.force_login(User.objects.create_superuser("op", "op@example.invalid", "pw-for-tests"))
    return client


def _writes(queries: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in queries.captured_queries
        if "catalog_watchedseries" in q["sql"]
        and q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))
    ]


def test_a_search_watches_the_series_under_skyhooks_title(
    client: Client, fake_sites: FakeWeb, probed_kaiju: None
) -> None:
    client.get("/torznab/api", {"t": "tvsearch", "tvdbid": "900001", "season": "1", "ep": "1"})

    series = WatchedSeries.objects.get(**KAIJU)
    assert (series.title, series.tvdb_id, series.last_reason) == ("Kaiju Academy", 900001, "search")
    assert watching.is_watched(series) and series.next_check_at <= timezone.now()

    # A title search names it as typed; the TVDB-backed title stays.
    client.get("/torznab/api", {"t": "tvsearch", "q": "kaiju academy", "season": "1", "ep": "1"})
    series.refresh_from_db()
    assert (series.title, series.tvdb_id) == ("Kaiju Academy", 900001)


def test_repeated_searches_write_once_an_hour(
    client: Client, fake_sites: FakeWeb, probed_kaiju: None
) -> None:
    search = {"t": "tvsearch", "tvdbid": "900001", "season": "1", "ep": "1"}
    with CaptureQueriesContext(connection) as first:
        client.get("/torznab/api", search)
    with CaptureQueriesContext(connection) as again:
        client.get("/torznab/api", search)

    assert _writes(first) and not _writes(again)


def test_a_grab_watches_the_series(client: Client) -> None:
    identity = EpisodeIdentity("s.to", "nordlicht", 1, 2, "German Dub")
    magnet = build_magnet(identity, "Nordlicht.S01E02.1080p.WEB.H264.GERMAN-sto")
    test_item = EpisodeIdentity("aniworld.to", "connectivity-test", 1, 1, "German Dub")
    tested = build_magnet(test_item, "AniBridge.Connectivity.Test.S01E01.GERMAN-aniworld")

    assert client.post("/api/v2/torrents/add", {"urls": f"{magnet}\n{tested}"}).content == b"Ok."

    [series] = WatchedSeries.objects.all()
    assert (series.site, series.slug, series.last_reason) == ("s.to", "nordlicht", "grab")


def test_the_watch_window() -> None:
    now = timezone.now()
    recent = WatchedSeries.objects.create(**KAIJU, last_activity_at=now - timedelta(days=29))
    old = WatchedSeries.objects.create(
        site="s.to", slug="nordlicht", last_activity_at=now - timedelta(days=31)
    )
    pinned = WatchedSeries.objects.create(site="s.to", slug="midnight-ferry", pinned=True)
    stopped = WatchedSeries.objects.create(
        site="s.to", slug="iron-orchard", pinned=True, stopped=True, last_activity_at=now
    )

    assert set(watching.watched(now)) == {recent, pinned}
    assert [watching.is_watched(s, now) for s in (recent, old, pinned, stopped)] == [
        True,
        False,
        True,
        False,
    ]
    # Stopped series stay stopped when searched for again.
    watching.note_search("s.to", "iron-orchard", "Iron Orchard", 900104)
    stopped.refresh_from_db()
    assert stopped.stopped and not watching.is_watched(stopped)


def test_admin_lists_watched_series_with_their_state(staff: Client) -> None:
    now = timezone.now()
    series = WatchedSeries.objects.create(
        **KAIJU,
        title="Kaiju Academy",
        pinned=True,
        last_checked_at=now,
        last_error="aniworld.to answered HTTP 503 for ...; try again later",
    )
    for episode, baseline in ((1, True), (2, False), (3, False)):
        FirstSeen.objects.create(
            series=series, **KAIJU, season=1, episode=episode, language="German Dub",
            first_seen_at=now, baseline=baseline,
        )  # fmt: skip

    page = staff.get("/admin/catalog/watchedseries/").content.decode()
    for column in ("last checked at", "next check at", "last error", "releases seen"):
        assert column in page.lower()
    assert "answered HTTP 503" in page
    assert '<td class="field-releases_seen">2</td>' in page
    assert staff.get("/admin/catalog/watchedseries/?watched=yes").status_code == 200
    assert staff.get("/admin/catalog/firstseen/").status_code == 200
    assert staff.get(f"/admin/catalog/watchedseries/{series.pk}/change/").status_code == 200


def test_admin_actions_stop_watch_and_check_now(
    staff: Client, django_capture_on_commit_callbacks: Any
) -> None:
    series = WatchedSeries.objects.create(**KAIJU, last_activity_at=timezone.now())
    url = "/admin/catalog/watchedseries/"

    def act(action: str) -> None:
        staff.post(url, {"action": action, "_selected_action": [series.pk]})
        series.refresh_from_db()

    act("stop_watching")
    assert series.stopped and not watching.is_watched(series)
    act("watch")
    assert not series.stopped and series.pinned and watching.is_watched(series)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        act("check_now")
    assert len(callbacks) == 1


def test_admin_adds_a_series_by_hand(staff: Client) -> None:
    add = "/admin/catalog/watchedseries/add/"
    form = {"site": "s.to", "slug": "nordlicht", "title": "Nordlicht", "tvdb_id": "900102"}
    assert staff.post(add, form).status_code == 302

    series = WatchedSeries.objects.get(slug="nordlicht")
    assert series.pinned and series.last_reason == "admin" and watching.is_watched(series)
    response = staff.post(add, {**form, "slug": "../etc"})
    assert response.status_code == 200 and "path separator" in response.content.decode()


def test_admin_offers_the_registered_sites_and_refuses_others(staff: Client) -> None:
    add = "/admin/catalog/watchedseries/add/"
    page = staff.get(add).content.decode()
    assert '<option value="aniworld.to">AniWorld</option>' in page
    assert '<option value="megakino">Megakino</option>' in page
    form = {"site": "example.com", "slug": "nordlicht", "title": "Nordlicht"}
    response = staff.post(add, form)
    assert response.status_code == 200 and not WatchedSeries.objects.exists()
    with pytest.raises(ValidationError, match="unknown site"):
        WatchedSeries(site="example.com", slug="nordlicht").full_clean()


def test_the_api_needs_an_admin(client: Client) -> None:
    assert client.get("/api/watched/").status_code in (401, 403)
    assert client.post("/api/watched/", {**KAIJU}).status_code in (401, 403)
    User.objects.create_user("viewer", password="pw-for-tests")
    client.login(username="viewer", password="pw-for-tests")
    assert client.get("/api/watched/").status_code == 403
    assert not WatchedSeries.objects.exists()


def test_the_api_lists_watches_stops_and_checks(
    admin_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    created = admin_client.post(
        "/api/watched/", {**KAIJU, "title": "Kaiju Academy", "tvdb_id": 900001}, "application/json"
    )
    assert created.status_code == 201
    body = created.json()
    assert body["watched"] and body["pinned"] and body["releases_seen"] == 0
    pk = body["id"]

    [listed] = admin_client.get("/api/watched/").json()["results"]
    assert {"last_checked_at", "next_check_at", "last_error", "releases_seen"} <= set(listed)
    assert listed["title"] == "Kaiju Academy" and listed["tvdb_id"] == 900001

    stopped = admin_client.post(f"/api/watched/{pk}/stop/").json()
    assert stopped["stopped"] and not stopped["watched"]
    assert admin_client.post(f"/api/watched/{pk}/watch/").json()["watched"]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert admin_client.post(f"/api/watched/{pk}/check/").status_code == 202
    assert len(callbacks) == 1

    bad = admin_client.post("/api/watched/", {"site": "aniworld.to", "slug": "a/b"})
    assert bad.status_code == 400 and "slug" in bad.json()
    assert admin_client.post("/api/watched/", {"site": "nowhere", "slug": "x"}).status_code == 400
