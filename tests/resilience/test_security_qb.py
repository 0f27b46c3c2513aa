"""Security of the qB API and the admin against what an adversarial review did to a
running stack: a delete without hashes, cross-site forms, password guessing, sessions
that outlived a logout, and error messages that named internal paths."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import runpy
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from anibridge_site import login_guard
from anibridge_site.login_guard import LoginGuard
from catalog.identity import EpisodeIdentity
from catalog.magnet import build_magnet
from downloads.models import Job
from qbshim.exposure import open_api_warning
from qbshim.models import ApiSession, Category, ClientTask
from tests.resilience.record import record
from tests.resilience.stack import RedisServer

pytestmark = pytest.mark.django_db

API = "/api/v2"
USER, PASSWORD = "sonarr", "qb-pass-41d9"


def configure(monkeypatch: pytest.MonkeyPatch, **values: Any) -> None:
    monkeypatch.setattr(settings, "CONFIG", dataclasses.replace(settings.CONFIG, **values))


def seed(client: Client, count: int) -> list[Path]:
    """`count` finished torrents, half downloads (.mp4) and half .strm, with their files."""
    Category.objects.get_or_create(name="tv")
    files = []
    for n in range(count):
        mode = "strm" if n % 2 else "download"
        ident = EpisodeIdentity(
            "aniworld.to", "kaiju-academy", 1 + n // 12, 1 + n % 12, "German Dub"
        )
        name = f"Kaiju.Academy.S{ident.season:02d}E{ident.episode:02d}.{mode}-aniworld"
        uri = build_magnet(ident, name, mode=mode)  # type: ignore[arg-type]
        assert client.post(f"{API}/torrents/add", {"urls": uri}).content == b"Ok."
        path = settings.CONFIG.download_dir / f"{name}.{'strm' if mode == 'strm' else 'mp4'}"
        path.write_bytes(b"media")
        Job.objects.filter(release_name=name).update(
            status=Job.Status.COMPLETED, result_path=str(path), finished_at=timezone.now()
        )
        files.append(path)
    return files


def state() -> tuple[Any, ...]:
    return (
        sorted(ClientTask.objects.values_list("hash", "category", "tags", "stopped")),
        sorted(Job.objects.values_list("id", "status")),
        sorted(Category.objects.values_list("name", "save_path")),
    )


def test_a_delete_without_hashes_deletes_nothing(client: Client) -> None:
    files = seed(client, 20)
    tried = 0
    for form in ({"deleteFiles": "false"}, {"deleteFiles": "true"}, {}):
        tried += 1
        response = client.post(f"{API}/torrents/delete", form)
        assert response.status_code == 400, form
    for form in ({"hashes": "", "deleteFiles": "true"}, {"hashes": "|", "deleteFiles": "true"}):
        tried += 1
        assert client.post(f"{API}/torrents/delete", form).status_code == 200
    assert ClientTask.objects.count() == 20 and all(f.exists() for f in files)
    tried += 1
    client.post(f"{API}/torrents/delete", {"hashes": "all", "deleteFiles": "false"})
    assert ClientTask.objects.count() == 0 and all(f.exists() for f in files)
    for f in files:
        f.unlink()
    record(
        "qB delete without hashes (20 tasks, .mp4 and .strm)",
        tried,
        "missing hashes/deleteFiles: 400; hashes= and hashes=|: nothing deleted; "
        "hashes=all&deleteFiles=false: tasks removed, 0 files deleted",
    )


# --- cross-site requests --------------------------------------------------------------------------

JOB_ID = "00000000-0000-0000-0000-000000000001"
STATE_CHANGING: list[tuple[str, str, dict[str, str]]] = [
    ("post", f"{API}/torrents/delete", {"hashes": "all", "deleteFiles": "true"}),
    ("post", f"{API}/torrents/stop", {"hashes": "all"}),
    ("post", f"{API}/torrents/setCategory", {"hashes": "all", "category": ""}),
    ("post", f"{API}/torrents/addTags", {"hashes": "all", "tags": "pwned"}),
    ("post", f"{API}/torrents/createCategory", {"category": "evil"}),
    ("post", f"{API}/torrents/removeCategories", {"categories": "tv"}),
    ("post", f"{API}/torrents/add", {"urls": build_magnet(
        EpisodeIdentity("s.to", "dark", 1, 1, "German Dub"), "Dark.S01E01-sto")}),
    ("post", f"{API}/app/setPreferences", {"json": "{}"}),
    ("post", f"{API}/auth/login", {"username": "", "password": ""}),
    ("post", f"{API}/auth/logout", {}),
    ("post", "/downloader/download", {}),
    ("delete", f"/jobs/{JOB_ID}", {}),
]  # fmt: skip
FOREIGN: list[dict[str, Any]] = [
    {"HTTP_ORIGIN": "http://evil.example"},
    {"HTTP_ORIGIN": "http://testserver:8080"},  # same host, another port
    {"HTTP_ORIGIN": "http://testserver.evil.example"},
    {"HTTP_ORIGIN": "null"},  # sandboxed frames and file: pages
    {"HTTP_REFERER": "http://evil.example/page.html"},
    {"HTTP_ORIGIN": "http://evil.example", "HTTP_REFERER": "http://testserver/"},
]


def _send(client: Client, method: str, path: str, form: dict[str, str], **headers: Any) -> Any:
    if path == "/downloader/download":
        body = json.dumps({"slug": "dark", "season": 1, "episode": 1})
        return client.post(path, body, content_type="text/plain", **headers)
    return getattr(client, method)(path, form, **headers)


def test_a_page_on_another_site_cannot_change_anything(client: Client) -> None:
    files = seed(client, 4)
    Job.objects.create(id=JOB_ID, site="s.to", slug="dark", season=1, episode=1)
    before = state()
    tried = 0
    for headers in FOREIGN:
        browser = Client()  # the victim's browser: the API has no credentials (the default)
        for method, path, form in STATE_CHANGING:
            tried += 1
            response = _send(browser, method, path, form, **headers)
            assert (response.status_code, response.content) == (401, b"Unauthorized"), (
                path,
                headers,
            )
    assert state() == before and all(f.exists() for f in files)
    # The same requests from the *arr apps (no Origin, no Referer) or the page of this
    # very host are served.
    served: list[dict[str, Any]] = [
        {},
        {"HTTP_ORIGIN": "http://testserver"},
        {"HTTP_REFERER": "http://testserver/x"},
    ]
    for headers in served:
        tried += 1
        response = client.post(
            f"{API}/torrents/addTags", {"hashes": "all", "tags": "ok"}, **headers
        )
        assert response.status_code == 200, headers
    assert set(ClientTask.objects.values_list("tags", flat=True)) == {"ok"}
    for f in files:
        f.unlink()
    record(
        "qB CSRF: cross-site requests",
        tried,
        f"{len(FOREIGN) * len(STATE_CHANGING)} foreign Origin/Referer requests on qB actions, "
        "login/logout, /downloader/download, DELETE /jobs/<id>: all 401, nothing changed; "
        "*arr clients (no header) and same-host pages: served",
    )


def test_reading_is_not_refused_for_a_foreign_referer(client: Client) -> None:
    # A link followed from another page changes nothing; qB's GETs stay readable.
    response = client.get(f"{API}/app/version", HTTP_REFERER="http://evil.example/")
    assert response.status_code == 200


# --- password guessing ----------------------------------------------------------------------------


def test_guessing_the_qb_password_gets_the_address_banned(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, qbit_username=USER, qbit_password=PASSWORD)
    answers = []
    started = time.monotonic()
    for n in range(60):
        response = client.post(f"{API}/auth/login", {"username": USER, "password": f"guess{n}"})
        answers.append((response.status_code, response.content))
    right = client.post(f"{API}/auth/login", {"username": USER, "password": PASSWORD})
    elapsed = time.monotonic() - started
    assert answers[:5] == [(200, b"Fails.")] * 5
    assert {a[0] for a in answers[5:]} == {403}
    assert right.status_code == 403 and "SID" not in right.cookies
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert (
        Client().get(f"{API}/torrents/info", HTTP_AUTHORIZATION=f"Basic {basic}").status_code == 403
    )
    record(
        "qB login: password guessing",
        61,
        f"60 wrong passwords then the right one in {elapsed:.1f} s: 5 Fails., then 403 "
        "(banned for LOGIN_BAN_SECONDS=3600), the right password and Basic refused too",
    )


def test_guessing_the_admin_password_gets_the_address_banned(client: Client) -> None:
    User.objects.create_superuser("op", "op@example.invalid", "right-pw-2b")
    statuses = []
    for n in range(30):
        response = client.post("/admin/login/", {"username": "op", "password": f"guess{n}"})
        statuses.append(response.status_code)
    right = client.post("/admin/login/", {"username": "op", "password": "right-pw-2b"})
    assert statuses[:5] == [200] * 5  # the form again, with its error
    assert set(statuses[5:]) == {403}
    assert right.status_code == 403 and b"Too many failed logins" in right.content
    assert client.get("/admin/").status_code == 302  # not logged in
    api = Client().get(
        "/api/jobs/", HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"op:right-pw-2b").decode()
    )
    assert api.status_code in (401, 403)
    record(
        "admin login: password guessing",
        31,
        "30 wrong passwords then the right one: 5 login forms, then 403 with the ban's "
        "duration; the right password (form and HTTP Basic on /api/jobs/) refused",
    )


def login(client: Client, password: str) -> Any:
    return client.post(f"{API}/auth/login", {"username": USER, "password": password})


def test_with_redis_down_logins_work_and_each_process_still_bans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, qbit_username=USER, qbit_password=PASSWORD)
    server = RedisServer(tmp_path)
    server.start()
    # As anibridge_site.redis_client connects: by address, short timeouts.
    guard = LoginGuard(redis.Redis.from_url(server.url, socket_connect_timeout=1, socket_timeout=2))
    monkeypatch.setattr(login_guard, "GUARD", guard)
    for module in ("qbshim.auth", "qbshim.views", "anibridge_site.admin_login"):
        monkeypatch.setattr(f"{module}.GUARD", guard)
    server.kill()
    started = time.monotonic()
    assert login(Client(), PASSWORD).content == b"Ok."
    for _ in range(5):
        assert login(Client(), "wrong").content == b"Fails."
    assert login(Client(), PASSWORD).status_code == 403
    elapsed = time.monotonic() - started
    assert elapsed < 5  # refused connections, no waiting on timeouts
    record(
        "login bans with Redis down",
        7,
        f"Redis killed: the right login Ok., 5 wrong ones Fails., then 403 (this process's own "
        f"count); {elapsed:.1f} s for all 7",
    )


# --- sessions -------------------------------------------------------------------------------------


def test_a_session_ends_on_logout_password_change_and_idling(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, qbit_username=USER, qbit_password=PASSWORD)

    def session() -> str:
        response = Client().post(f"{API}/auth/login", {"username": USER, "password": PASSWORD})
        return str(response.cookies["SID"].value)

    def works(sid: str) -> bool:
        probe = Client()
        probe.cookies["SID"] = sid
        return probe.get(f"{API}/torrents/info").status_code == 200

    after_logout = session()
    logout = Client()
    logout.cookies["SID"] = after_logout
    logout.post(f"{API}/auth/logout")
    idle = session()
    ApiSession.objects.filter(last_seen__isnull=False).update(
        last_seen=timezone.now() - timedelta(seconds=3601)
    )
    before_change = session()
    configure(monkeypatch, qbit_password="new-password")
    outcomes = {
        "after logout": works(after_logout),
        "idle for an hour": works(idle),
        "after a password change": works(before_change),
        "Bearer with the password": Client()
        .get(f"{API}/torrents/info", HTTP_AUTHORIZATION="Bearer new-password")
        .status_code
        == 200,
    }
    assert outcomes == dict.fromkeys(outcomes, False)
    record(
        "qB sessions",
        len(outcomes),
        "SID after logout, after 1 h idle, after a QBIT_PASSWORD change, and Bearer <password>: "
        "all 403; the cookie is a session cookie",
    )


# --- leaks and warnings ---------------------------------------------------------------------------


def test_refusals_name_no_internal_path(client: Client) -> None:
    Category.objects.create(name="tv")
    internal = {str(settings.CONFIG.download_dir), str(settings.CONFIG.data_dir)}
    uri = build_magnet(EpisodeIdentity("s.to", "dark", 1, 1, "German Dub"), "Dark.S01E01-sto")
    calls = [
        ("torrents/add", {"urls": uri, "savepath": path})
        for path in ("/etc", "../..", "/", "tv/../../..", "/tmp/x", "\x00")
    ] + [
        ("torrents/createCategory", {"category": "x", "savePath": "/etc"}),
        ("torrents/editCategory", {"category": "tv", "savePath": "../../.."}),
        ("torrents/createCategory", {"category": "y", "savePath": "x" * 2000}),
    ]
    for path, form in calls:
        response = client.post(f"{API}/{path}", form)
        assert response.status_code == 400, (path, form)
        assert not any(p in response.content.decode() for p in internal), response.content
    record(
        "400 messages: internal paths",
        len(calls),
        "refused save paths and categories: 400 without DOWNLOAD_DIR or DATA_DIR in the body",
    )


def test_an_open_qb_api_is_warned_about_once_at_start(caplog: pytest.LogCaptureFixture) -> None:
    cfg = settings.CONFIG
    assert open_api_warning(dataclasses.replace(cfg, host="0.0.0.0", qbit_username=""))
    for quiet in (
        dataclasses.replace(cfg, host="127.0.0.1", qbit_username=""),
        dataclasses.replace(cfg, host="::1", qbit_username=""),
        dataclasses.replace(cfg, host="0.0.0.0", qbit_username=USER, qbit_password=PASSWORD),
    ):
        assert open_api_warning(quiet) is None, quiet.host
    # gunicorn's master calls when_ready once; the test environment is the default: open.
    conf = runpy.run_path("anibridge_site/gunicorn.conf.py")
    caplog.set_level(logging.WARNING, logger="gunicorn.error")
    conf["when_ready"](SimpleNamespace(log=logging.getLogger("gunicorn.error")))
    [line] = [r.getMessage() for r in caplog.records if r.name == "gunicorn.error"]
    assert "has no login" in line and "QBIT_USERNAME" in line
    record(
        "open qB API warning",
        4,
        "no QBIT_USERNAME/PASSWORD on a non-loopback address: one warning when gunicorn starts",
    )
