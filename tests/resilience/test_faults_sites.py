"""Every outbound call of a search or a job x every way it fails (issue 15): a site,
hoster or SkyHook that fails makes Torznab find less, never answer 500, and makes a
grabbed release fail with a reason a user can read.

One test per call runs its cases one after the other (the rows, Redis and the fake web
made fresh in between). Each case arms one fault (tests/fakeweb/faults.py) on the
call, for every request to it during the case, then
- adds a release over the qB API (`Ok.`): a real Celery worker runs the job, which
  fails with a one-line reason when the call is on its path and completes when not;
- searches over Torznab: 200 with a valid RSS feed, nothing logged at ERROR, and one
  WARNING when the search itself made the failing call (none when a 404 is the site's
  own answer "no such page", or when only the workers' probes made it).

Timeouts are short here (SITE_TIMEOUT_SECONDS and friends), so a stalled call costs
seconds; one worker serves every case.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from django.conf import settings
from django.test import Client

from anibridge_site.redis_client import get_redis
from catalog import memo
from catalog.identity import EpisodeIdentity
from catalog.magnet import build_magnet
from catalog.models import EpisodeAvailability
from downloads.models import Job
from qbshim.models import ClientTask
from tests.fakeweb import FakeWeb
from tests.fakeweb.faults import FAULTS, arm
from tests.processes import Proc, wait_until
from tests.resilience.record import record

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TIMEOUT_SECONDS = 1.5
STALL = 4.0  # seconds: longer than every client timeout below
TIMEOUTS = {
    "SITE_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
    "SPECIALS_METADATA_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
    "PROVIDER_REDIRECT_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
    "PROVIDER_REDIRECT_RETRIES": "1",
}
JOB_SECONDS = 120.0
KAIJU = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "Vidoza")
KAIJU_FINALE = EpisodeIdentity("aniworld.to", "kaiju-academy", 2, 2, "German Dub")  # VOE only
KAIJU_TVDB = "900001"


@dataclass(frozen=True)
class Call:
    """One outbound call: where it goes and a search and a release that make it."""

    server: str
    pattern: str  # fnmatch on the path, as the fake's fault knobs take it
    search: dict[str, str]
    grab: EpisodeIdentity
    on_job_path: bool  # the download job makes this call (else it must still complete)
    in_web: bool = True  # the search makes it itself (else only the workers' probes do)
    json: bool = False
    not_found_is_an_answer: bool = False  # a 404 here is the site saying "no such thing"
    unharmed_by: tuple[str, ...] = ()  # faults the call does not notice


def _episode_search(season: str, episode: str, **extra: str) -> dict[str, str]:
    return {"t": "tvsearch", "tvdbid": KAIJU_TVDB, "season": season, "ep": episode, **extra}


CALLS = {
    "index": Call(
        "aniworld",
        "/animes-alphabet",
        {"t": "tvsearch", "q": "Kaiju Academy", "season": "1", "ep": "1"},
        KAIJU,
        on_job_path=False,
    ),
    "suggest": Call(
        "sto",
        "/api/search/suggest",
        {"t": "tvsearch", "q": "Midnight Ferry", "season": "1", "ep": "1"},
        EpisodeIdentity("s.to", "midnight-ferry", 1, 1, "German Dub"),
        on_job_path=False,
        json=True,
    ),
    "series page": Call(
        "sto",
        "/serie/the-quiet-harbor",
        {"t": "tvsearch", "tvdbid": "900101", "season": "2"},
        EpisodeIdentity("s.to", "the-quiet-harbor", 2, 1, "German Dub", "Vidoza"),
        on_job_path=False,
        not_found_is_an_answer=True,
    ),
    "season page": Call(
        "aniworld",
        "/anime/stream/kaiju-academy/staffel-1",
        _episode_search("1", "1"),
        KAIJU,
        on_job_path=False,
        not_found_is_an_answer=True,
    ),
    "episode page": Call(
        "aniworld",
        "/anime/stream/kaiju-academy/staffel-2/episode-2",
        _episode_search("2", "2"),
        KAIJU_FINALE,
        on_job_path=True,
        in_web=False,
    ),
    "films": Call(
        "aniworld",
        "/anime/stream/kaiju-academy/filme",
        _episode_search("00", "2"),
        dataclasses.replace(KAIJU, season=0, episode=1),
        on_job_path=False,
        not_found_is_an_answer=True,
    ),
    "megakino film page": Call(
        "megakino",
        "/films/101-iron-orchard.html",
        {"t": "movie", "q": "Iron Orchard 2024"},
        EpisodeIdentity("megakino", "101-iron-orchard", 0, 1, "German Dub"),
        on_job_path=True,
        not_found_is_an_answer=True,
    ),
    "hoster redirect": Call(
        "aniworld",
        "/redirect/*",
        _episode_search("2", "2"),
        KAIJU_FINALE,
        on_job_path=True,
        in_web=False,
        unharmed_by=("truncated",),  # a redirect's headers are all that counts
    ),
    "hoster": Call(
        "voe", "/e/*", _episode_search("2", "2"), KAIJU_FINALE, on_job_path=True, in_web=False
    ),
    "skyhook show": Call(
        "skyhook",
        "/v1/tvdb/shows/en/*",
        _episode_search("1", "1", q="Kaiju Academy"),
        KAIJU,
        on_job_path=False,
        json=True,
        not_found_is_an_answer=True,
    ),
    "skyhook search": Call(
        "skyhook",
        "/v1/tvdb/search/en*",
        {"t": "tvsearch", "q": "Kaiju Academy", "season": "00", "ep": "2"},
        KAIJU,
        on_job_path=False,
        json=True,
    ),
}


FAKEWEB_WORKER = {
    "queues": "default,downloads",
    "concurrency": 6,
    "name": "site-faults",
    "env": TIMEOUTS,
}


@pytest.fixture
def sites(fake_sites: FakeWeb, fakeweb_worker: Proc, monkeypatch: pytest.MonkeyPatch) -> FakeWeb:
    """The fake web, with this process's timeouts as short as the worker's."""
    config = dataclasses.replace(
        settings.CONFIG,
        site_timeout_seconds=TIMEOUT_SECONDS,
        specials_metadata_timeout_seconds=TIMEOUT_SECONDS,
        provider_redirect_timeout_seconds=TIMEOUT_SECONDS,
        provider_redirect_retries=int(TIMEOUTS["PROVIDER_REDIRECT_RETRIES"]),
    )
    monkeypatch.setattr(settings, "CONFIG", config)
    return fake_sites


def _expected_warnings(call: Call, fault: str) -> int:
    if not call.in_web or (fault == "404" and call.not_found_is_an_answer):
        return 0
    return 1


def _fresh_case() -> None:
    """What the fixtures do between tests, between two faults of one call: Redis, the
    rows a case leaves (its job, its probe results) and this process's memories."""
    get_redis().flushall()
    memo.forget_all()
    ClientTask.objects.all().delete()
    Job.objects.all().delete()
    EpisodeAvailability.objects.all().delete()


def _finished(release: str) -> Job | None:
    job = Job.objects.get(client_task__name=release)
    return job if job.status in Job.FINISHED else None


def _one_case(
    name: str, fault: str, client: Client, sites: FakeWeb, worker: Proc, caplog: Any
) -> str:
    """Arm the fault, add a release, search; check both. Returns a line for the log."""
    call = CALLS[name]
    arm(sites.servers[call.server], call.pattern, fault, json=call.json, stall_seconds=STALL)
    release = f"SiteFaults.{name.title().replace(' ', '')}.{fault}.WEB.GERMAN-aniworld"

    added = client.post("/api/v2/torrents/add", {"urls": build_magnet(call.grab, release)})
    assert added.content == b"Ok.", added.content
    caplog.clear()
    started = time.monotonic()
    with caplog.at_level(logging.INFO):
        response = client.get("/torznab/api", call.search)
    took = time.monotonic() - started

    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("application/rss+xml"), response.content[:500]
    root = ET.fromstring(response.content)
    assert root.tag == "rss" and root.find("channel") is not None, response.content[:500]
    ours = [r for r in caplog.records if r.name.startswith(("catalog", "torznab", "django"))]
    errors = [r.getMessage() for r in ours if r.levelno >= logging.ERROR]
    warnings = [r.getMessage() for r in ours if r.levelno == logging.WARNING]
    assert errors == [], errors
    assert len(warnings) == _expected_warnings(call, fault), warnings

    job = wait_until(lambda: _finished(release), JOB_SECONDS, f"the job of {release}")
    if call.on_job_path and fault not in call.unharmed_by:
        assert job.status == Job.Status.FAILED, job.message
        message = job.message
        assert message and "\n" not in message and len(message) <= 500, message
        assert "Traceback" not in message and "<" not in message, message
    else:
        assert job.status == Job.Status.COMPLETED, job.message
    assert sites.counts.total(call.server, call.pattern) >= 1, "the fault was never met"
    assert worker.popen.poll() is None, "the worker died"
    items = len(root.findall("channel/item"))
    return f"{name} x {fault}: search {took:.1f} s, {items} items; job {job.status}: {job.message}"


@pytest.mark.parametrize("name", CALLS)
def test_every_fault_of_a_call_degrades_the_search_and_fails_the_job_readably(
    name: str, client: Client, sites: FakeWeb, fakeweb_worker: Proc, caplog: Any
) -> None:
    failures: dict[str, str] = {}
    for fault in FAULTS:
        _fresh_case()
        sites.reset()
        try:
            print(_one_case(name, fault, client, sites, fakeweb_worker, caplog))
        except AssertionError as exc:
            failures[fault] = str(exc).splitlines()[0][:300]
    assert failures == {}
    call = CALLS[name]
    job = "fails with a one-line reason" if call.on_job_path else "completes"
    if call.unharmed_by:
        job += f" ({', '.join(call.unharmed_by)}: unharmed, it completes)"
    where = "the search makes it" if call.in_web else "the workers' probes make it"
    record(
        f"site faults: {name}",
        len(FAULTS),
        f"{', '.join(FAULTS)} ({where}): Torznab 200 RSS, 0 errors; the qB job {job}",
    )
