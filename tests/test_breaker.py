"""The circuit breaker per site (catalog.breaker): its rules on a real Redis, shared by
processes, without Redis; a failing site skipped by searches; a challenge page on
s.to's hoster redirect pausing its hoster links; the state in /health and the admin."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from anibridge_site.redis_client import get_redis
from catalog import breaker, probe
from catalog.identity import EpisodeIdentity
from catalog.models import EpisodeAvailability
from catalog.resolve import resolve_stream
from catalog.sites.base import NotOnSite, SiteError
from tests.environment import free_port
from tests.fakeweb import FakeWeb
from tests.fakeweb.server import html_response
from tests.processes import REPO, celery_worker
from torznab import search

TURNSTILE = (
    "<!DOCTYPE html><html><head><title>Just a moment...</title>"
    '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js" async defer></script>'
    '</head><body><div class="cf-turnstile" data-sitekey="0x4AAAAAAA"></div></body></html>'
)
NORDLICHT = EpisodeIdentity("s.to", "nordlicht", 1, 1, "German Dub")  # VOE only


def set_config(monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
    monkeypatch.setattr(settings, "CONFIG", dataclasses.replace(settings.CONFIG, **changes))


@pytest.fixture
def three_strikes(monkeypatch: pytest.MonkeyPatch) -> None:
    set_config(monkeypatch, site_breaker_failures=3, site_breaker_cooldown_seconds=60.0)


# -- the rules ------------------------------------------------------------------------------


def test_a_circuit_opens_after_the_configured_failures_in_a_row(three_strikes: None) -> None:
    assert not breaker.failed("s.to", "HTTP 503")
    assert not breaker.failed("s.to", "HTTP 503")
    breaker.check("s.to")  # still closed
    assert breaker.failed("s.to", "HTTP 502 for /serien")

    with pytest.raises(breaker.CircuitOpen) as refused:
        breaker.check("s.to")
    message = str(refused.value)
    assert "s.to is paused" in message and "HTTP 502 for /serien" in message
    assert "\n" not in message
    assert isinstance(refused.value, SiteError)  # callers that degrade on SiteError skip it
    assert 59 <= breaker.state("s.to").retry_in <= 60
    breaker.check("aniworld.to")  # one circuit per site


def test_a_success_starts_the_count_again(three_strikes: None) -> None:
    breaker.failed("s.to", "HTTP 503")
    breaker.failed("s.to", "HTTP 503")
    breaker.succeeded("s.to")
    breaker.failed("s.to", "HTTP 503")
    breaker.failed("s.to", "HTTP 503")
    breaker.check("s.to")
    assert breaker.state("s.to").failures == 2


def test_after_the_cool_down_one_failure_reopens_it_and_a_success_closes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_config(monkeypatch, site_breaker_failures=3, site_breaker_cooldown_seconds=1.0)
    for _ in range(3):
        breaker.failed("megakino", "timeout")
    assert breaker.state("megakino").is_open
    time.sleep(1.1)
    breaker.check("megakino")  # the cool-down is over: calls go through again
    assert breaker.failed("megakino", "timeout again")  # half-open: one failure reopens
    assert breaker.state("megakino").is_open
    time.sleep(1.1)
    breaker.succeeded("megakino")
    assert breaker.state("megakino") == breaker.CircuitState("megakino")


def test_guard_counts_site_failures_but_not_answers_or_our_bugs(three_strikes: None) -> None:
    def call(exc: Exception | None) -> None:
        with breaker.guard("aniworld.to"):
            if exc is not None:
                raise exc

    breaker.failed("aniworld.to", "HTTP 500")
    with pytest.raises(NotOnSite):
        call(NotOnSite("no such series (HTTP 404)"))  # the site answered
    assert breaker.state("aniworld.to").failures == 0
    with pytest.raises(ZeroDivisionError):
        call(ZeroDivisionError())  # ours, not the site's
    assert breaker.state("aniworld.to").failures == 0
    for _ in range(3):
        with pytest.raises(SiteError):
            call(SiteError("aniworld.to answered HTTP 503"))
    with pytest.raises(breaker.CircuitOpen):
        call(None)


def test_trip_opens_a_circuit_for_the_given_time() -> None:
    breaker.trip("s.to hosters", "a challenge page", 42)
    state = breaker.state("s.to hosters")
    assert state.is_open and 41 <= state.retry_in <= 42 and state.reason == "a challenge page"
    breaker.reset("s.to hosters")
    breaker.check("s.to hosters")


def test_the_state_is_shared_by_processes(three_strikes: None) -> None:
    script = textwrap.dedent(
        """
        import django
        django.setup()
        from catalog import breaker
        for _ in range(5):
            breaker.failed("s.to", "HTTP 503 seen by another process")
        """
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "anibridge_site.settings"}
    env["SITE_BREAKER_FAILURES"] = "3"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    with pytest.raises(breaker.CircuitOpen, match="seen by another process"):
        breaker.check("s.to")


def test_without_redis_each_process_keeps_its_own_state(
    three_strikes: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.5)
    monkeypatch.setattr(breaker, "get_redis", lambda: dead)
    breaker.failed("s.to", "unreachable")  # finds Redis down (the client retries first)
    started = time.monotonic()
    for _ in range(2):
        breaker.failed("s.to", "unreachable")
    with pytest.raises(breaker.CircuitOpen):
        breaker.check("s.to")
    for _ in range(20):
        breaker.state("aniworld.to")
    # Redis is left alone for a while: no connect attempt per call.
    assert time.monotonic() - started < 0.5
    assert [s.name for s in breaker.states() if s.is_open] == ["s.to"]


# -- sites behind their circuit ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_failing_site_is_skipped_by_searches_until_its_cool_down_ends(
    client: Client, fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_config(monkeypatch, site_breaker_failures=2, site_breaker_cooldown_seconds=60.0)
    monkeypatch.setattr(search, "SEARCH_DEADLINE_SECONDS", 0.0)  # no worker: no probing here
    series_page = "/serie/the-quiet-harbor"
    fake_sites.sto.fail_next(series_page, status=503, count=1000)
    season = {"t": "tvsearch", "tvdbid": "900101", "season": "2"}

    for _ in range(2):
        assert client.get("/torznab/api", season).status_code == 200
    asked = fake_sites.counts.count("sto", series_page)
    assert asked >= 2 and breaker.state("s.to").is_open
    queued = "anibridge:probe-queued:s.to:*"
    assert list(get_redis().scan_iter(queued))  # the searches so far queued probes
    for key in get_redis().scan_iter(queued):
        get_redis().delete(key)

    started = time.monotonic()
    response = client.get("/torznab/api", season)
    assert response.status_code == 200 and b"<rss" in response.content
    assert time.monotonic() - started < 1.0
    assert fake_sites.counts.count("sto", series_page) == asked  # not asked again
    assert not list(get_redis().scan_iter(queued))  # nor its episodes probed


@pytest.mark.django_db(transaction=True)
def test_a_challenge_on_a_hoster_redirect_pauses_the_sites_hoster_links(
    fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    set_config(monkeypatch, provider_challenge_backoff_seconds=300.0)
    fake_sites.sto.respond_next("/r", html_response(TURNSTILE, status=403), count=1000)

    with pytest.raises(breaker.CircuitOpen) as refused:
        resolve_stream(NORDLICHT)
    assert "s.to hosters is paused" in str(refused.value)
    assert "challenge page" in str(refused.value)
    assert 299 <= breaker.state("s.to hosters").retry_in <= 300
    assert any("PROVIDER_CHALLENGE_BACKOFF_SECONDS" in r.getMessage() for r in caplog.records)
    assert fake_sites.counts.count("sto", "/r") == 1  # a challenge is not retried
    assert fake_sites.counts.total("voe") == 0

    # Resolutions and probes stop before the redirect; a probe stores no "unavailable".
    assert probe.availability(NORDLICHT) is None
    assert fake_sites.counts.count("sto", "/r") == 1
    assert not EpisodeAvailability.objects.exists()
    breaker.check("s.to")  # the site's pages are another circuit


# -- where an operator sees it -------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_health_says_degraded_but_stays_200_while_a_site_cools_down(
    client: Client, tmp_path: Path
) -> None:
    breaker.trip("s.to", "s.to answered HTTP 503", 120)
    breaker.failed("aniworld.to", "one timeout")
    with celery_worker(tmp_path, queues="default,downloads"):
        response = client.get("/health")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "degraded" and body["down"] == []
    assert body["degraded"] == ["s.to"]
    sto = body["circuits"]["s.to"]
    assert sto["open"] and 100 <= sto["retry_in_seconds"] <= 120
    assert sto["last_failure"] == "s.to answered HTTP 503"
    assert body["circuits"]["aniworld.to"] == {
        "open": False,
        "retry_in_seconds": 0,
        "failures": 1,
        "last_failure": "one timeout",
    }


@pytest.mark.django_db
def test_the_admin_shows_the_sites_circuits_above_the_probe_results(client: Client) -> None:
    client.force_login(User.objects.create_superuser("op", "op@example.invalid", "pw-for-tests"))
    page = client.get("/admin/catalog/episodeavailability/")
    assert page.status_code == 200
    assert b"No site, hoster link or SkyHook failed recently." in page.content

    breaker.trip("s.to hosters", "the site answered its hoster link with a challenge page", 300)
    page = client.get("/admin/catalog/episodeavailability/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "<td>s.to hosters</td>" in text and "cooling down" in text
    assert "answered its hoster link with a challenge page" in text
