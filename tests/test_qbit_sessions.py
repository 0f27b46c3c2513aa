"""qB API sessions and failed-login bans, as qBittorrent 5.1 has them: a session cookie
that ends on logout, after an hour idle and when the credentials change; Bearer takes
only a session; an address is banned after LOGIN_MAX_FAILURES failures, with 403."""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import time
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from anibridge_site import login_guard
from anibridge_site.login_guard import LoginGuard
from qbshim import tasks
from qbshim.models import ApiSession

pytestmark = pytest.mark.django_db

API = "/api/v2"
USER, PASSWORD = "sonarr", "pw-7a1c"
BANNED = b"Your IP address has been banned after too many failed authentication attempts."


def configure(monkeypatch: pytest.MonkeyPatch, **values: Any) -> None:
    monkeypatch.setattr(settings, "CONFIG", dataclasses.replace(settings.CONFIG, **values))


@pytest.fixture
def secured(monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, qbit_username=USER, qbit_password=PASSWORD)


def login(client: Client, password: str = PASSWORD, **extra: Any) -> Any:
    return client.post(f"{API}/auth/login", {"username": USER, "password": password}, **extra)


def works(client: Client, **extra: Any) -> bool:
    status = client.get(f"{API}/torrents/info", **extra).status_code
    assert status in (200, 403), status
    return status == 200


def basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"{USER}:{password}".encode()).decode()


# --- sessions -----------------------------------------------------------------------------------


def test_the_sid_is_a_session_cookie(secured: None, client: Client) -> None:
    cookie = login(client).cookies["SID"]
    assert cookie["max-age"] == "" and cookie["expires"] == ""
    assert cookie["httponly"] is True and cookie["samesite"] == "Strict"


def test_logout_ends_the_session_everywhere(secured: None, client: Client) -> None:
    sid = login(client).cookies["SID"].value
    other = Client()  # e.g. the same cookie replayed from elsewhere
    other.cookies["SID"] = sid
    assert works(client) and works(other)
    response = client.post(f"{API}/auth/logout")
    assert response.status_code == 200 and response.cookies["SID"].value == ""
    assert not works(other)
    assert not works(Client(), HTTP_AUTHORIZATION=f"Bearer {sid}")
    assert ApiSession.objects.count() == 0


def test_logout_without_a_session_is_forbidden(secured: None) -> None:
    response = Client().post(f"{API}/auth/logout")
    assert (response.status_code, response.content) == (403, b"Forbidden")


def test_a_password_change_ends_every_session(
    secured: None, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    login(client)
    assert works(client)
    configure(monkeypatch, qbit_password="changed")
    assert not works(client)
    assert login(client, "changed").content == b"Ok." and works(client)


def test_a_user_name_change_ends_every_session(
    secured: None, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    login(client)
    configure(monkeypatch, qbit_username="radarr")
    assert not works(client)


def test_a_session_ends_after_the_idle_timeout(secured: None, client: Client) -> None:
    login(client)
    timeout = settings.CONFIG.qbit_session_timeout_seconds
    assert timeout == 3600  # qBittorrent's WebUI\SessionTimeout
    ApiSession.objects.update(last_seen=timezone.now() - timedelta(seconds=timeout - 30))
    assert works(client)  # used within the hour: alive, and the use counts
    ApiSession.objects.update(last_seen=timezone.now() - timedelta(seconds=timeout + 1))
    assert not works(client)


def test_polling_keeps_a_session_alive(secured: None, client: Client) -> None:
    login(client)
    stale = timezone.now() - timedelta(minutes=50)
    ApiSession.objects.update(last_seen=stale)
    assert works(client)
    assert ApiSession.objects.get().last_seen > stale + timedelta(minutes=49)


def test_bearer_takes_a_session_never_the_password(secured: None, client: Client) -> None:
    assert not works(Client(), HTTP_AUTHORIZATION=f"Bearer {PASSWORD}")
    sid = login(client).cookies["SID"].value
    assert works(Client(), HTTP_AUTHORIZATION=f"Bearer {sid}")


def test_basic_credentials_still_work(secured: None) -> None:
    assert works(Client(), HTTP_AUTHORIZATION=basic(PASSWORD))
    assert not works(Client(), HTTP_AUTHORIZATION=basic("wrong"))


# --- bans ---------------------------------------------------------------------------------------


def test_five_failures_ban_the_address_with_qbittorrents_403(secured: None, client: Client) -> None:
    assert (settings.CONFIG.login_max_failures, settings.CONFIG.login_ban_seconds) == (5, 3600)
    for _ in range(5):
        assert login(client, "wrong").content == b"Fails."
    refused = login(client)  # the right password, too late
    assert (refused.status_code, refused.content) == (403, BANNED)
    assert "SID" not in refused.cookies
    assert not works(Client(), HTTP_AUTHORIZATION=basic(PASSWORD))


def test_a_correct_login_forgets_earlier_failures(secured: None, client: Client) -> None:
    for _ in range(4):
        login(client, "wrong")
    assert login(client).content == b"Ok."
    for _ in range(4):
        assert login(Client(), "wrong").content == b"Fails."
    assert login(Client()).content == b"Ok."


def test_a_login_counts_once_even_with_the_same_credentials_in_a_basic_header(
    secured: None,
) -> None:
    # Sonarr sends the login form's credentials as HTTP Basic too.
    for _ in range(4):
        assert login(Client(), "wrong", HTTP_AUTHORIZATION=basic("wrong")).content == b"Fails."
    assert login(Client()).content == b"Ok."


def test_wrong_basic_credentials_count_towards_the_ban(secured: None) -> None:
    for _ in range(5):
        assert not works(Client(), HTTP_AUTHORIZATION=basic("wrong"))
    assert login(Client()).status_code == 403


def test_the_ban_ends_after_its_duration(
    secured: None, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, login_ban_seconds=1)
    for _ in range(5):
        login(client, "wrong")
    assert login(client).status_code == 403
    time.sleep(1.2)
    assert login(client).content == b"Ok."


def test_the_ban_is_per_address(secured: None) -> None:
    for _ in range(5):
        login(Client(), "wrong", REMOTE_ADDR="192.0.2.7")
    assert login(Client(), REMOTE_ADDR="192.0.2.7").status_code == 403
    assert login(Client(), REMOTE_ADDR="192.0.2.8").content == b"Ok."


def test_x_forwarded_for_is_ignored_unless_the_proxy_is_trusted(
    secured: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An attacker writing a new X-Forwarded-For each time is still one address.
    for n in range(5):
        login(Client(), "wrong", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
    assert login(Client(), HTTP_X_FORWARDED_FOR="198.51.100.99").status_code == 403
    # Behind a trusted proxy the client is the address the proxy saw.
    configure(monkeypatch, trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),))
    proxy = {"REMOTE_ADDR": "10.1.2.3"}
    for _ in range(5):
        login(Client(), "wrong", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9", **proxy)
    assert login(Client(), HTTP_X_FORWARDED_FOR="203.0.113.9", **proxy).status_code == 403
    # Whatever the client wrote further left does not get it out of the ban.
    assert login(Client(), HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.9", **proxy).status_code == 403
    assert login(Client(), HTTP_X_FORWARDED_FOR="203.0.113.10", **proxy).content == b"Ok."


def test_client_address_skips_every_trusted_hop(rf: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(
        monkeypatch,
        trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("172.16.0.0/12")),
    )
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.5, 172.17.0.1")
    assert login_guard.client_address(request) == "203.0.113.5"
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="junk, 172.17.0.1")
    assert login_guard.client_address(request) == "10.0.0.2"  # nothing readable beyond


def test_bans_are_shared_by_every_process_through_redis(secured: None) -> None:
    other_process = LoginGuard()  # its own memory; the same Redis
    for _ in range(5):
        other_process.failed("192.0.2.50")
    assert login(Client(), REMOTE_ADDR="192.0.2.50").status_code == 403


def test_housekeeping_forgets_idle_sessions(secured: None, client: Client) -> None:
    login(client)
    login(Client())
    ApiSession.objects.filter(
        pk=ApiSession.objects.order_by("created_at").first().pk  # type: ignore[union-attr]
    ).update(last_seen=timezone.now() - timedelta(hours=2))
    assert tasks.prune_sessions() == 1
    assert ApiSession.objects.count() == 1
