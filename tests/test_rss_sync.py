"""Sonarr's RSS sync end to end: a weekly anime gets a new episode, then its German dub a
day later, and both reach Sonarr through the feed without a search.

The fake AniWorld holds Star Drifters' episode 4 back and releases it language by
language (LinkTable.set_languages); a real Celery worker runs the beat task (with the
clock moved on through its `now` argument), probes and downloads.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from django.test import Client
from django.utils import timezone

from catalog.magnet import parse_magnet
from catalog.models import WatchedSeries
from catalog.tasks import check_watched_series
from tests.fakeweb import FakeWeb
from tests.processes import wait_until
from tests.sonarr_parser import parse_title

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

NS = {"torznab": "http://torznab.com/schemas/2015/feed"}
SONARR_RSS = {"t": "tvsearch", "cat": "5030,5040,5070", "extended": "1", "offset": "0"}
ANIWORLD = "aniworld.to"
SLUG = "star-drifters"


FAKEWEB_WORKER = {"queues": "default,downloads", "concurrency": 4, "name": "rss"}


def _feed(client: Client, **params: str) -> list[dict[str, Any]]:
    response = client.get("/torznab/api", {**SONARR_RSS, "limit": "100", **params})
    assert response.status_code == 200
    items = []
    for item in ET.fromstring(response.content).iter("item"):
        enclosure = item.find("enclosure")
        assert enclosure is not None
        items.append(
            {
                "title": item.findtext("title") or "",
                "guid": item.findtext("guid"),
                "pubDate": parsedate_to_datetime(item.findtext("pubDate") or ""),
                "magnet": enclosure.get("url") or "",
                "attrs": {a.get("name"): a.get("value") for a in item.findall("torznab:attr", NS)},
            }
        )
    return items


def _news(client: Client) -> list[dict[str, Any]]:
    """The feed without the connectivity-test item."""
    return [i for i in _feed(client) if parse_magnet(i["magnet"]).identity.slug == SLUG]


def _cycle(now: datetime) -> None:
    """One run of the beat task on the worker, at `now`."""
    check_watched_series.delay(now.isoformat())
    wait_until(
        lambda: WatchedSeries.objects.filter(slug=SLUG, last_checked_at=now).exists(),
        60,
        "the watched series to be checked",
    )


def _site_paths(web: FakeWeb) -> list[str]:
    """Paths requested from the sites; a hoster redirect counts for the episode it is."""
    paths = []
    for name in ("aniworld", "sto", "megakino"):
        for request in web.counts.requests(name):
            path = request.path
            if path.startswith("/redirect/"):
                link = web.links.by_redirect[int(path.rsplit("/", 1)[1])]
                path = f"/anime/stream/{link.slug}/(hoster link)"
            paths.append(path)
    return paths


def test_a_new_episode_and_then_its_dub_reach_sonarr_through_the_feed(
    client: Client, fake_sites: FakeWeb, fakeweb_worker: Any
) -> None:
    links = fake_sites.links
    links.set_languages(ANIWORLD, SLUG, 1, 4, ())  # episode 4 has not aired yet

    # Sonarr's RSS sync finds nothing new: only the connectivity-test item.
    assert _news(client) == [] and len(_feed(client)) == 1
    # Sonarr searches for the wanted episode 4 once; it is not there, but now watched.
    search = {"t": "tvsearch", "tvdbid": "900002", "season": "1", "ep": "4"}
    assert client.get("/torznab/api", search).content.count(b"<item>") == 0
    t0 = timezone.now()
    _cycle(t0)  # the first check: what is out already is not news
    assert _news(client) == []

    fake_sites.counts.reset()
    links.set_languages(ANIWORLD, SLUG, 1, 4, ("German Sub",))
    t1 = t0 + timedelta(hours=1, minutes=1)
    _cycle(t1)
    [sub] = wait_until(lambda: _news(client), 60, "the new episode in the feed")

    parsed = parse_title(sub["title"])
    assert parsed is not None and parsed.series_title.lower() == "star drifters"
    assert (parsed.season, parsed.episodes, parsed.absolute_episodes) == (1, (4,), (4,))
    assert sub["attrs"]["language"] == "Japanese" and sub["attrs"]["subs"] == "German"
    identity = parse_magnet(sub["magnet"]).identity
    assert (identity.season, identity.episode, identity.language) == (1, 4, "German Sub")
    assert sub["pubDate"] == t1.replace(microsecond=0)
    # The search for the same episode offers the very same release.
    searched = ET.fromstring(client.get("/torznab/api", search).content)
    assert [i.findtext("guid") for i in searched.iter("item")] == [sub["guid"]]
    assert [i.findtext("title") for i in searched.iter("item")] == [sub["title"]]
    # Only the watched series was asked for, and politely: two pages per check.
    paths = _site_paths(fake_sites)
    assert paths and all(p.startswith(f"/anime/stream/{SLUG}/") for p in paths)
    assert len([p for p in paths if "/episode-" not in p and "hoster link" not in p]) <= 2

    # Sonarr grabs it: the qBittorrent API downloads it.
    client.post("/api/v2/torrents/createCategory", {"category": "tv-sonarr"})
    added = client.post("/api/v2/torrents/add", {"urls": sub["magnet"], "category": "tv-sonarr"})
    assert added.content == b"Ok."

    def completed() -> dict[str, Any] | None:
        [task] = client.get("/api/v2/torrents/info").json()
        assert task["state"] != "error", task.get("anibridge_message")
        return task if task["state"] == "stoppedUP" else None

    task = wait_until(completed, 120, "the download to complete")
    assert Path(task["content_path"]).is_file() and task["name"] == sub["title"]

    # A day later the German dub appears: a second release, newest first.
    links.set_languages(ANIWORLD, SLUG, 1, 4, ("German Sub", "German Dub"))
    t2 = t1 + timedelta(days=1)
    _cycle(t2)

    def both() -> list[dict[str, Any]] | None:
        news = _news(client)
        return news if len(news) == 2 else None

    dub, again = wait_until(both, 60, "the dub in the feed")
    assert again["guid"] == sub["guid"] and again["pubDate"] == sub["pubDate"]
    assert dub["pubDate"] == t2.replace(microsecond=0)
    assert parse_magnet(dub["magnet"]).identity.language == "German Dub"
    assert dub["attrs"]["language"] == "German" and "subs" not in dub["attrs"]
    parsed = parse_title(dub["title"])
    assert parsed is not None and (parsed.episodes, parsed.absolute_episodes) == ((4,), (4,))
    assert "German" in parsed.languages
