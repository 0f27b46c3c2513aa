"""The public IP check: recorded, shown in /health and the admin, through the proxy,
and a change makes stored stream resolutions stale (re-resolved on next use)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from catalog import public_ip
from catalog.identity import EpisodeIdentity
from catalog.models import EgressAddress
from strm import resolved
from tests.fakeweb import FakeWeb
from tests.fakeweb.proxies import HttpProxy
from tests.fakeweb.server import FakeServer, Request, Response, Traffic, text_response
from tests.processes import REPO, process_env

pytestmark = pytest.mark.django_db

KAIJU = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "VOE")


class EchoIp(FakeServer):
    """Answers what an IP echo service answers: the caller's address (here: `answer`)."""

    answer = "203.0.113.7"
    status = 200

    def handle(self, request: Request) -> Response:
        return text_response(self.answer + "\n", self.status)


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoIp]:
    server = EchoIp("echo-ip", Traffic())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def checking(echo: EchoIp, monkeypatch: pytest.MonkeyPatch) -> EchoIp:
    echo.answer, echo.status = "203.0.113.7", 200
    config = dataclasses.replace(
        settings.CONFIG, public_ip_check_enabled=True, public_ip_check_url=echo.url("/")
    )
    monkeypatch.setattr(settings, "CONFIG", config)
    return echo


def test_check_records_the_address_and_health_shows_it(checking: EchoIp, client: Client) -> None:
    status = public_ip.check()
    assert (status.address, status.changed) == ("203.0.113.7", False)
    egress = client.get("/health").json()["egress"]
    assert egress["ip"] == "203.0.113.7" and egress["error"] is None
    assert egress["changed_at"] == status.seen_since.isoformat()
    checking.answer = "198.51.100.9"
    changed = public_ip.check()
    assert changed.changed and EgressAddress.objects.count() == 2
    assert client.get("/health").json()["egress"]["ip"] == "198.51.100.9"


def test_a_failed_check_is_one_line_in_health(checking: EchoIp, client: Client) -> None:
    checking.status = 500
    with pytest.raises(public_ip.CheckFailed, match="HTTP 500"):
        public_ip.check()
    checking.status, checking.answer = 200, "<html>captive portal</html>"
    with pytest.raises(public_ip.CheckFailed) as caught:
        public_ip.check()
    assert "no IP address" in str(caught.value) and "\n" not in str(caught.value)
    assert "no IP address" in client.get("/health").json()["egress"]["error"]


def test_health_says_when_the_check_is_off(client: Client) -> None:
    assert client.get("/health").json()["egress"] == {"check_enabled": False}


def test_the_check_goes_through_the_proxy(
    checking: EchoIp, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HttpProxy() as proxy:
        config = dataclasses.replace(settings.CONFIG, http_proxy=proxy.url)
        monkeypatch.setattr(settings, "CONFIG", config)
        public_ip.check()
        assert proxy.targets() == [f"127.0.0.1:{checking.port}"]


def test_admin_lists_the_addresses_and_checks_on_demand(checking: EchoIp, client: Client) -> None:
    client.force_login(User.objects.create_superuser("op", "op@example.invalid", "pw-for-tests"))
    public_ip.check()
    page = client.get("/admin/catalog/egressaddress/")
    assert page.status_code == 200 and b"203.0.113.7" in page.content
    checking.answer = "198.51.100.9"
    row = EgressAddress.objects.get()
    done = client.post(
        "/admin/catalog/egressaddress/",
        {"action": "check_now", "_selected_action": [row.pk]},
        follow=True,
    )
    assert b"Traffic leaves from 198.51.100.9 (changed" in done.content


def test_a_changed_ip_makes_stored_resolutions_resolve_again(
    checking: EchoIp, fake_sites: FakeWeb, aniworld_package: FakeWeb
) -> None:
    public_ip.check()
    old = resolved.Resolution(
        url="http://cdn.invalid/bound-to-the-old-ip.m3u8",
        provider="VOE",
        resolved_at=timezone.now() - timedelta(minutes=5),
    )
    resolved._store(KAIJU, old)
    assert resolved.current(KAIJU).url == old.url  # same IP: the stored one is used
    checking.answer = "198.51.100.9"
    assert public_ip.check().changed
    resolved.cache.forget_all()  # other processes see it when their memo lapses (5 s)
    fresh = resolved.current(KAIJU)
    assert fresh.url != old.url and fresh.url.startswith(fake_sites.urls["cdn"])
    assert fake_sites.counts.total("voe", "/e/*") == 1


def test_beat_checks_only_when_enabled() -> None:
    code = "from django.conf import settings; print(sorted(settings.CELERY_BEAT_SCHEDULE))"
    runs = {}
    for enabled in ("true", "false"):
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=REPO,
            env=process_env(PUBLIC_IP_CHECK_ENABLED=enabled, PUBLIC_IP_CHECK_INTERVAL_MIN="7"),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        runs[enabled] = done.stdout
    assert "check-public-ip" in runs["true"] and "check-public-ip" not in runs["false"]
