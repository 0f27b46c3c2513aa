"""Searches for titles the cached index does not know, as a new user tries them (issue 15),
against the fake web with a real Celery worker (probes, index refreshes):

- each answers a valid, empty RSS feed, also when s.to's search API answers 404;
- a series the site added after its index was cached is found by the first search
  (the miss refreshes the index), or by the next one when the refresh is slow;
- misses refresh a site's index at most once per TITLES_REFRESH_ON_MISS_MINUTES.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from django.conf import settings
from django.test import Client

from catalog import index
from catalog.magnet import parse_magnet
from tests.fakeweb import FakeWeb
from tests.processes import wait_until
from torznab import search

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

LATE_TVDB = 900006  # catalog_data.LATE's paper-comets: on SkyHook, not on the site yet
ALPHABET = "/animes-alphabet"

ISSUE_SEARCHES = {
    "unknown title": {"t": "tvsearch", "q": "Nonexistent Show"},
    "short word": {"t": "search", "q": "kagami"},
    "unicode": {"t": "tvsearch", "q": "進撃の巨人 \u2013 Ünïcødé"},
    "limit=0": {"t": "tvsearch", "q": "Nonexistent Show", "limit": "0"},
    "season=00&ep=0": {"t": "tvsearch", "q": "Nonexistent Show", "season": "00", "ep": "0"},
    "tvdbid newer than the index": {"t": "tvsearch", "tvdbid": str(LATE_TVDB)},
}


FAKEWEB_WORKER = {"queues": "default", "concurrency": 4, "name": "misses"}


@pytest.fixture
def sites(fake_sites: FakeWeb, fakeweb_worker: Any) -> FakeWeb:
    return fake_sites


def _feed(client: Client, params: dict[str, str]) -> ET.Element:
    response = client.get("/torznab/api", params)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("application/rss+xml"), response.content[:300]
    root = ET.fromstring(response.content)
    assert root.tag == "rss", response.content[:300]
    return root


def _slugs(root: ET.Element) -> set[str]:
    return {
        parse_magnet(enclosure.get("url", "")).identity.slug for enclosure in root.iter("enclosure")
    }


def _cached_index() -> None:
    """The state the issue starts from: every site's index fetched and cached."""
    index.title_index()
    assert all(index.cached_meta(site) for site in ("aniworld.to", "s.to", "megakino"))


@pytest.mark.parametrize("params", ISSUE_SEARCHES.values(), ids=ISSUE_SEARCHES.keys())
def test_a_search_the_index_misses_answers_an_empty_feed_when_sto_search_is_404(
    client: Client, sites: FakeWeb, params: dict[str, str], caplog: Any
) -> None:
    _cached_index()
    sites.sto.fail_next("/api/search/suggest", status=404, count=1000)
    with caplog.at_level(logging.WARNING):
        root = _feed(client, params)
    assert list(root.iter("item")) == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


@pytest.mark.parametrize(
    "params",
    [
        {"t": "tvsearch", "q": "Paper Comets", "season": "1", "ep": "1"},
        {"t": "tvsearch", "tvdbid": str(LATE_TVDB), "season": "1", "ep": "1"},
    ],
    ids=["title", "tvdbid"],
)
def test_a_series_added_after_the_index_was_cached_is_found_by_the_first_search(
    client: Client, sites: FakeWeb, params: dict[str, str]
) -> None:
    _cached_index()
    sites.publish("paper-comets")
    sites.counts.reset()

    root = _feed(client, params)

    assert _slugs(root) == {"paper-comets"}
    # One refresh of the index, queued by the miss and done by the worker.
    assert sites.counts.count("aniworld", ALPHABET) == 1


def test_a_refresh_slower_than_the_deadline_answers_on_the_next_search(
    client: Client, sites: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cached_index()
    before = index.cached_meta("aniworld.to")
    sites.publish("paper-comets")
    sites.aniworld.stall_next(ALPHABET, seconds=3.0)
    params = {"t": "tvsearch", "q": "Paper Comets", "season": "1", "ep": "1"}
    monkeypatch.setattr(search, "SEARCH_DEADLINE_SECONDS", 1.0)

    started = time.monotonic()
    assert _slugs(_feed(client, params)) == set()
    assert time.monotonic() - started < 2.5  # the deadline, not the slow page

    wait_until(lambda: index.cached_meta("aniworld.to") != before, 30, "the refresh")
    monkeypatch.setattr(search, "SEARCH_DEADLINE_SECONDS", 20.0)
    assert _slugs(_feed(client, params)) == {"paper-comets"}
    assert sites.counts.count("aniworld", ALPHABET) == 2  # cold start + one refresh


def test_misses_refresh_a_site_at_most_once_per_interval(client: Client, sites: FakeWeb) -> None:
    _cached_index()
    sites.counts.reset()
    for query in ("Nonexistent Show", "Another Unknown Show", "Paper Comets"):
        assert _slugs(_feed(client, {"t": "tvsearch", "q": query})) == set()
    assert sites.counts.count("aniworld", ALPHABET) == 1
    assert sites.counts.count("sto", "/serien") == 1
    assert sites.counts.count("megakino", "/sitemap.xml") == 1


def test_no_refresh_on_a_miss_when_turned_off(
    client: Client, sites: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        settings,
        "CONFIG",
        dataclasses.replace(settings.CONFIG, titles_refresh_on_miss_minutes=0.0),
    )
    _cached_index()
    sites.publish("paper-comets")
    sites.counts.reset()
    assert _slugs(_feed(client, {"t": "tvsearch", "q": "Paper Comets"})) == set()
    assert sites.counts.count("aniworld", ALPHABET) == 0
