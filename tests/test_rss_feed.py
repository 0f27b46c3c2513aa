"""The RSS feed (`t=tvsearch`/`t=search` without a query or ids) as Sonarr and Prowlarr
read it: newest releases first, paged, filtered by category, the same items a search
gives, answered from the database alone."""

from __future__ import annotations

import dataclasses
import socket
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from catalog.models import EpisodeAvailability, FirstSeen, WatchedSeries
from tests.fakeweb import FakeWeb
from tests.sonarr_parser import ParsedRelease, parse_title

pytestmark = pytest.mark.django_db

NS = {"torznab": "http://torznab.com/schemas/2015/feed"}
RSS = {"t": "tvsearch", "cat": "5030,5040,5070", "extended": "1", "offset": "0", "limit": "100"}
TEST_TITLE = "AniBridge Connectivity Test"


def _items(client: Client, **params: str) -> list[dict[str, Any]]:
    response = client.get("/torznab/api", params)
    assert response.status_code == 200, response.content
    found = []
    for item in ET.fromstring(response.content).iter("item"):
        attrs = {a.get("name"): a.get("value") for a in item.findall("torznab:attr", NS)}
        found.append(
            {
                "title": item.findtext("title"),
                "guid": item.findtext("guid"),
                "pubDate": parsedate_to_datetime(item.findtext("pubDate") or ""),
                "size": item.findtext("size"),
                "categories": [c.text for c in item.findall("category")],
                "attrs": attrs,
            }
        )
    return found


def _parsed(title: str) -> ParsedRelease:
    parsed = parse_title(title)
    assert parsed is not None, f"Sonarr cannot parse {title!r}"
    return parsed


def _series(site: str, slug: str, title: str, tvdb_id: int | None = None) -> WatchedSeries:
    series, _ = WatchedSeries.objects.get_or_create(
        site=site, slug=slug, defaults={"title": title, "tvdb_id": tvdb_id, "pinned": True}
    )
    return series


def _release(
    series: WatchedSeries,
    season: int,
    episode: int,
    language: str,
    seen: datetime,
    *,
    available: bool | None = True,
    height: int | None = 1080,
    baseline: bool = False,
    absolute: int | None = None,
    name: tuple[int, int] | None = None,
) -> FirstSeen:
    """A release first seen at `seen`; `available` None: no probe result yet."""
    identity = {
        "site": series.site,
        "slug": series.slug,
        "season": season,
        "episode": episode,
        "language": language,
    }
    if available is not None:
        EpisodeAvailability.objects.create(
            **identity, available=available, height=height, provider="VOE"
        )
    name_season, name_episode = name or (season, episode)
    return FirstSeen.objects.create(
        **identity,
        series=series,
        first_seen_at=seen,
        baseline=baseline,
        name_season=name_season,
        name_episode=name_episode,
        absolute=absolute,
    )


def test_sonarr_pages_through_the_feed_newest_first_without_repeats(client: Client) -> None:
    kaiju = _series("aniworld.to", "kaiju-academy", "Kaiju Academy", 900001)
    start = timezone.now() - timedelta(days=2)
    for n in range(1, 26):
        # Two releases share each hour: the later row comes first among equals.
        _release(kaiju, 1, n, "German Dub", start + timedelta(hours=n // 2), absolute=n)

    pages = [_items(client, **{**RSS, "limit": "10", "offset": str(o)}) for o in (0, 10, 20)]

    assert [len(p) for p in pages] == [10, 10, 5]  # Sonarr stops at the short page
    items = [i for p in pages for i in p]
    assert len({i["guid"] for i in items}) == 25
    dates = [i["pubDate"] for i in items]
    assert dates == sorted(dates, reverse=True)
    assert [_parsed(i["title"]).absolute_episodes for i in items[:3]] == [(25,), (24,), (23,)]
    assert _items(client, **{**RSS, "limit": "10", "offset": "30"}) == []


def test_feed_items_are_the_search_items_for_the_same_episode(
    client: Client, fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        settings, "CONFIG", dataclasses.replace(settings.CONFIG, strm_files_mode="both")
    )
    kaiju = _series("aniworld.to", "kaiju-academy", "Kaiju Academy", 900001)
    seen = timezone.now() - timedelta(hours=3)
    _release(kaiju, 1, 2, "German Dub", seen, absolute=2)
    _release(kaiju, 1, 2, "German Sub", seen + timedelta(minutes=5), absolute=2, height=720)
    for language in ("English Sub", "English Dub"):  # probed before, not offered
        EpisodeAvailability.objects.create(
            site="aniworld.to", slug="kaiju-academy", season=1, episode=2, language=language
        )

    feed = _items(client, **RSS)
    search = _items(client, t="tvsearch", tvdbid="900001", season="1", ep="2")

    assert len(feed) == 4 and any("[STRM]" in i["title"] for i in feed)  # two releases x 2
    seen = seen.replace(microsecond=0)  # RFC 1123 dates have whole seconds
    assert {i["pubDate"] for i in feed} == {seen, seen + timedelta(minutes=5)}

    def same(item: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in item.items() if k != "pubDate"}

    assert sorted(map(same, feed), key=str) == sorted(map(same, search), key=str)
    parsed = parse_title(feed[0]["title"])
    assert parsed is not None and (parsed.season, parsed.episodes) == (1, (2,))
    assert parsed.absolute_episodes == (2,)


def test_the_category_filter_applies(client: Client) -> None:
    now = timezone.now()
    anime = _series("aniworld.to", "kaiju-academy", "Kaiju Academy", 900001)
    harbor = _series("s.to", "the-quiet-harbor", "The Quiet Harbor", 900101)
    _release(anime, 1, 1, "German Dub", now - timedelta(hours=3), absolute=1)
    _release(harbor, 1, 1, "German Dub", now - timedelta(hours=2), height=1080)
    _release(harbor, 1, 2, "German Dub", now - timedelta(hours=1), height=480)

    def cats(cat: str) -> list[list[str]]:
        return [i["categories"] for i in _items(client, **{**RSS, "cat": cat})]

    assert cats("5070") == [["5000", "5070"]]
    assert cats("5040") == [["5000", "5040"]]
    assert cats("5030") == [["5000", "5030"]]
    assert cats("5000") == [["5000", "5030"], ["5000", "5040"], ["5000", "5070"]]
    assert cats("5030,5040,5070") == cats("5000")
    assert cats("2000") == []  # nothing, not even the test item


def test_the_test_item_comes_only_when_the_feed_is_empty(client: Client) -> None:
    [item] = _items(client, **RSS)
    assert item["title"].startswith(TEST_TITLE.replace(" ", "."))
    assert len(_items(client, t="search", extended="1")) == 1  # Prowlarr's Test

    kaiju = _series("aniworld.to", "kaiju-academy", "Kaiju Academy", 900001)
    _release(kaiju, 1, 1, "German Dub", timezone.now(), absolute=1)

    items = _items(client, **RSS)
    assert len(items) == 1 and "Kaiju" in items[0]["title"]
    assert _items(client, t="search", extended="1") == items  # t=search is the same feed


def test_only_releases_a_probe_confirmed_are_offered(client: Client) -> None:
    kaiju = _series("aniworld.to", "kaiju-academy", "Kaiju Academy", 900001)
    now = timezone.now()
    _release(kaiju, 1, 1, "German Dub", now, baseline=True, absolute=1)  # was there before
    _release(kaiju, 1, 2, "German Dub", now, available=None, absolute=2)  # not probed yet
    _release(kaiju, 1, 3, "German Dub", now, available=False, absolute=3)  # no hoster works
    film = _release(kaiju, 0, 7, "German Dub", now)  # a film with no Sonarr special
    FirstSeen.objects.filter(pk=film.pk).update(name_season=None, name_episode=None)

    [item] = _items(client, **RSS)
    assert item["title"].startswith(TEST_TITLE.replace(" ", "."))

    EpisodeAvailability.objects.filter(slug="kaiju-academy", episode=2).delete()
    EpisodeAvailability.objects.create(
        site="aniworld.to", slug="kaiju-academy", season=1, episode=2, language="German Dub",
        available=True, height=1080, provider="VOE",
    )  # fmt: skip
    [item] = _items(client, **RSS)
    parsed = parse_title(item["title"])
    assert parsed is not None and parsed.episodes == (2,)


def test_the_feed_is_answered_from_the_database_with_the_sites_down(
    client: Client, fakeweb: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    kaiju = _series("aniworld.to", "kaiju-academy", "Kaiju Academy", 900001)
    harbor = _series("s.to", "the-quiet-harbor", "The Quiet Harbor", 900101)
    now = timezone.now()
    _release(kaiju, 2, 1, "German Sub", now - timedelta(minutes=2), absolute=4)
    _release(harbor, 2, 2, "English Dub", now - timedelta(minutes=1))
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{closed.getsockname()[1]}"  # nothing listens there
    monkeypatch.setattr(
        settings,
        "CONFIG",
        dataclasses.replace(
            settings.CONFIG,
            aniworld_base_url=down,
            sto_base_url=down,
            megakino_base_url=down,
            skyhook_base_url=down,
        ),
    )
    contacts: list[str] = []
    real_connect, real_sendall = socket.socket.connect, socket.socket.sendall

    def connect(sock: socket.socket, address: Any) -> Any:
        contacts.append(f"connect {address}")
        return real_connect(sock, address)

    def sendall(sock: socket.socket, data: Any, *args: Any) -> Any:
        contacts.append(f"send {len(data)} bytes")
        return real_sendall(sock, data, *args)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "sendall", sendall)

    items = _items(client, **RSS)

    assert contacts == []  # no site, no SkyHook, not even Redis
    assert sum(fakeweb.counts.total(name) for name in fakeweb.servers) == 0
    assert [_parsed(i["title"]).episodes for i in items] == [(2,), (1,)]


def test_a_changed_probe_result_or_title_shows_in_the_next_answer(client: Client) -> None:
    """Items are kept between answers; what they are made of must still count."""
    kaiju = _series("aniworld.to", "kaiju-academy", "Kaiju Academy", 900001)
    _release(kaiju, 1, 1, "German Dub", timezone.now(), absolute=1)
    [before] = _items(client, **RSS)
    assert "1080p" in before["title"]

    EpisodeAvailability.objects.filter(slug="kaiju-academy").update(height=2160)
    WatchedSeries.objects.filter(pk=kaiju.pk).update(title="Kaiju Gakuen")
    [after] = _items(client, **RSS)

    assert "2160p" in after["title"] and "Kaiju Gakuen" in after["title"]
    assert after["guid"] == before["guid"]  # the same release
