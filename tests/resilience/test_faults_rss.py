"""The RSS watcher when a site fails during a check: nothing is recorded, the feed stays
as it was (no error, no 5xx), and the next check picks the release up."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from catalog import numbering, watcher, watching
from catalog.models import FirstSeen, WatchedSeries
from tests.fakeweb import FakeWeb
from tests.resilience.record import record

pytestmark = pytest.mark.django_db

SLUG = "star-drifters"
RSS = {"t": "tvsearch", "cat": "5030,5040,5070", "extended": "1", "offset": "0", "limit": "100"}


def _unreachable(web: FakeWeb, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{closed.getsockname()[1]}"
    monkeypatch.setattr(
        settings, "CONFIG", dataclasses.replace(settings.CONFIG, aniworld_base_url=down)
    )


FAULTS: dict[str, Callable[[FakeWeb, pytest.MonkeyPatch], None]] = {
    "HTTP 503": lambda web, _: web.aniworld.fail_next(f"/anime/stream/{SLUG}/*", count=9),
    "HTTP 500": lambda web, _: web.aniworld.fail_next(
        f"/anime/stream/{SLUG}/*", status=500, count=9
    ),
    "connection dropped": lambda web, _: web.aniworld.drop_next(f"/anime/stream/{SLUG}/*", count=9),
    "unreachable": _unreachable,
}


def test_a_site_failing_during_a_check_leaves_the_feed_alone(
    client: Client, fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    for fault, arm in FAULTS.items():
        _check_through(fault, arm, client, fake_sites, monkeypatch)
    record(
        "RSS watcher: site down during a check (503, 500, dropped, unreachable)",
        len(FAULTS),
        "nothing recorded, the reason kept; feed unchanged (200, no error); "
        "the release recorded at the next check",
    )


def _check_through(
    fault: str,
    arm: Callable[[FakeWeb, pytest.MonkeyPatch], None],
    client: Client,
    web: FakeWeb,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    FirstSeen.objects.all().delete()
    WatchedSeries.objects.all().delete()
    watching.forget_notes()
    web.links.set_languages("aniworld.to", SLUG, 1, 4, ())
    numbering.site_seasons("aniworld.to", SLUG)
    watching.note_search("aniworld.to", SLUG, "Star Drifters", 900002)
    t0 = timezone.now()
    watcher.check_due(t0)
    feed_before = client.get("/torznab/api", RSS).content
    web.links.set_languages("aniworld.to", SLUG, 1, 4, ("German Sub",))
    config = settings.CONFIG

    arm(web, monkeypatch)
    watcher.check_due(t0 + timedelta(hours=1, minutes=1))

    series = WatchedSeries.objects.get(slug=SLUG)
    assert series.last_error and series.last_checked_at == t0, fault
    assert not FirstSeen.objects.filter(slug=SLUG, baseline=False).exists(), fault
    response = client.get("/torznab/api", RSS)
    assert response.status_code == 200 and b"<error" not in response.content, fault
    assert response.content.count(b"<item>") == feed_before.count(b"<item>"), fault

    web.aniworld.clear_faults()
    monkeypatch.setattr(settings, "CONFIG", config)
    watcher.check_due(t0 + timedelta(hours=2, minutes=1))
    series.refresh_from_db()
    assert series.last_error == "", fault
    assert FirstSeen.objects.filter(slug=SLUG, baseline=False, episode=4).count() == 1, fault
