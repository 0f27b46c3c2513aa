"""Torznab as Sonarr, Radarr and Prowlarr call it, against the fake web, with a real
Celery worker probing episodes. Every emitted title goes through the port of Sonarr's
parser (tests/sonarr_parser.py)."""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from django.conf import settings
from django.test import Client

from catalog.magnet import parse_magnet
from tests.fakeweb import FakeWeb
from tests.sonarr_parser import parse_movie_title, parse_title

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

NS = {"torznab": "http://torznab.com/schemas/2015/feed"}
KAIJU_TVDB = 900001


# Probes run in a real worker; eight at a time, as a season search fans out.
FAKEWEB_WORKER = {"queues": "default", "concurrency": 8, "name": "probe"}


@pytest.fixture
def api(client: Client, fake_sites: FakeWeb, fakeweb_worker: Any) -> Any:
    def call(**params: str) -> tuple[int, ET.Element, bytes]:
        response = client.get("/torznab/api", params)
        return response.status_code, ET.fromstring(response.content), response.content

    return call


def _items(root: ET.Element) -> list[dict[str, Any]]:
    found = []
    for item in root.iter("item"):
        attrs = {a.get("name"): a.get("value") for a in item.findall("torznab:attr", NS)}
        enclosure = item.find("enclosure")
        assert enclosure is not None
        found.append(
            {
                "title": item.findtext("title"),
                "guid": item.findtext("guid"),
                "pubDate": item.findtext("pubDate"),
                "size": item.findtext("size"),
                "categories": [c.text for c in item.findall("category")],
                "enclosure": enclosure.attrib,
                "attrs": attrs,
            }
        )
    return found


def _check_item_contract(item: dict[str, Any]) -> None:
    assert item["title"]
    assert parsedate_to_datetime(item["pubDate"]).utcoffset() is not None
    assert re.match(r"^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}$", item["pubDate"])
    enc = item["enclosure"]
    assert enc["type"] == "application/x-bittorrent;x-scheme-handler/magnet"
    assert enc["url"].startswith("magnet:?") and int(enc["length"]) > 0
    attrs = item["attrs"]
    assert parse_magnet(enc["url"]).hash == attrs["infohash"]
    assert attrs["magneturl"] == enc["url"]
    assert int(attrs["seeders"]) >= 1 and int(attrs["peers"]) >= 1
    assert attrs["category"] in item["categories"]
    assert attrs["downloadvolumefactor"] == "0" and attrs["uploadvolumefactor"] == "1"


def test_caps_has_what_sonarr_and_prowlarr_require(client: Client) -> None:
    root = ET.fromstring(client.get("/torznab/api", {"t": "caps"}).content)
    limits = root.find("limits")
    assert limits is not None and limits.get("default") == "100" and limits.get("max") == "100"
    for name in ("search", "tv-search", "movie-search"):
        el = root.find(f"searching/{name}")
        assert el is not None and el.get("available") == "yes"
        assert " " not in (el.get("supportedParams") or "")
    tv = root.find("searching/tv-search")
    assert tv is not None and set((tv.get("supportedParams") or "").split(",")) >= {
        "q",
        "season",
        "ep",
        "tvdbid",
    }
    ids = {c.get("id") for c in root.iter("category")} | {c.get("id") for c in root.iter("subcat")}
    assert {"5000", "5030", "5040", "5070", "2000", "2040"} <= ids


def test_sonarr_rss_and_test_request_gets_the_test_item(api: Any) -> None:
    status, root, raw = api(
        t="tvsearch", cat="5030,5040,5070", extended="1", offset="0", limit="100"
    )
    assert status == 200 and b'xmlns:torznab="http://torznab.com/schemas/2015/feed"' in raw
    [item] = _items(root)
    _check_item_contract(item)
    assert parse_title(item["title"]) is not None


def test_radarr_rss_and_test_request_gets_the_test_item_as_a_film(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Radarr's RSS sync and Test button: t=movie without a title; its Test fails on an
    # empty answer, and it asks in its movie categories only.
    radarr = {"t": "movie", "cat": "2000,2010,2030,2040,2045,2050,2060", "extended": "1"}
    status, root, _ = api(**radarr, offset="0", limit="100")
    assert status == 200
    [item] = _items(root)
    _check_item_contract(item)
    assert "2000" in item["categories"]
    movie = parse_movie_title(item["title"])
    assert movie is not None and movie.title == settings.CONFIG.torznab_test_title
    import dataclasses

    off = dataclasses.replace(settings.CONFIG, torznab_return_test_result=False)
    monkeypatch.setattr(settings, "CONFIG", off)
    assert _items(api(**radarr)[1]) == []


def test_prowlarr_test_request_without_category(api: Any) -> None:
    status, root, _ = api(t="search", extended="1")
    assert status == 200 and len(_items(root)) >= 1


def test_api_key_is_checked(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    monkeypatch.setattr(
        settings, "CONFIG", dataclasses.replace(settings.CONFIG, indexer_api_key="k3y")
    )
    status, root, _ = api(t="caps", apikey="wrong")
    assert status == 200 and root.tag == "error" and root.get("code") == "100"
    assert root.get("description") == "Invalid API Key"
    assert api(t="caps")[1].get("code") == "100"
    assert api(t="caps", apikey="k3y")[1].tag == "caps"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "200"),
        ({"t": "lookup"}, "202"),
        ({"t": "tvsearch", "season": "one"}, "201"),
        ({"t": "tvsearch", "offset": "-1"}, "201"),
        ({"t": "search", "cat": "50x"}, "201"),
        ({"t": "tvsearch", "q": "x" * 400}, "201"),
    ],
)
def test_bad_parameters_get_torznab_errors(api: Any, params: dict[str, str], code: str) -> None:
    status, root, _ = api(**params)
    assert status == 400 and root.tag == "error" and root.get("code") == code


def test_episode_search_by_tvdbid_offers_each_language(api: Any, fake_sites: FakeWeb) -> None:
    status, root, _ = api(t="tvsearch", tvdbid=str(KAIJU_TVDB), season="1", ep="2", cat="5070")
    items = _items(root)
    assert status == 200 and items
    langs = set()
    for item in items:
        _check_item_contract(item)
        parsed = parse_title(item["title"])
        assert parsed is not None and parsed.season == 1 and parsed.episodes == (2,)
        assert parsed.absolute_episodes == (2,)
        assert "WEBDL" in parsed.quality
        ident = parse_magnet(item["enclosure"]["url"]).identity
        assert (ident.slug, ident.season, ident.episode) == ("kaiju-academy", 1, 2)
        assert item["attrs"]["tvdbid"] == str(KAIJU_TVDB) and "5070" in item["categories"]
        langs.add(ident.language)
    assert langs == {"German Dub", "German Sub", "English Sub"}  # what the fake offers
    dub = next(
        i for i in items if parse_magnet(i["enclosure"]["url"]).identity.language == "German Dub"
    )
    assert parse_title(dub["title"]).languages == ("German",)  # type: ignore[union-attr]
    sub = next(
        i for i in items if parse_magnet(i["enclosure"]["url"]).identity.language == "German Sub"
    )
    assert parse_title(sub["title"]).languages == ("Japanese",)  # type: ignore[union-attr]
    assert sub["attrs"]["subs"] == "German"


def test_second_search_answers_from_the_cache(api: Any, fake_sites: FakeWeb) -> None:
    api(t="tvsearch", q="Kaiju Academy", season="1", ep="3")
    pages = fake_sites.counts.total("aniworld", "/anime/stream/kaiju-academy/staffel-1/episode-3")
    assert pages >= 1
    _, root, _ = api(t="tvsearch", q="Kaiju Academy", season="1", ep="3")
    assert _items(root)
    assert (
        fake_sites.counts.total("aniworld", "/anime/stream/kaiju-academy/staffel-1/episode-3")
        == pages
    )


def test_season_search_pages_without_repeats(api: Any) -> None:
    _, root, _ = api(t="tvsearch", tvdbid=str(KAIJU_TVDB), season="1")
    everything = _items(root)
    episodes = {parse_title(i["title"]).episodes for i in everything}  # type: ignore[union-attr]
    assert episodes == {(1,), (2,), (3,)}
    first = _items(api(t="tvsearch", tvdbid=str(KAIJU_TVDB), season="1", offset="0", limit="4")[1])
    second = _items(api(t="tvsearch", tvdbid=str(KAIJU_TVDB), season="1", offset="4", limit="4")[1])
    assert len(first) == 4 and {i["guid"] for i in first}.isdisjoint(i["guid"] for i in second)


def test_anime_absolute_search(api: Any) -> None:
    _, root, _ = api(t="tvsearch", tvdbid=str(KAIJU_TVDB), q="05")
    items = _items(root)
    assert items
    for item in items:
        parsed = parse_title(item["title"])
        assert (
            parsed is not None
            and parsed.absolute_episodes == (5,)
            and (parsed.season, parsed.episodes) == (2, (2,))
        )
        ident = parse_magnet(item["enclosure"]["url"]).identity
        assert (ident.season, ident.episode) == (2, 2)


def test_specials_map_to_aniworld_films(api: Any) -> None:
    _, root, _ = api(t="tvsearch", tvdbid=str(KAIJU_TVDB), season="00", ep="2")
    items = _items(root)
    assert items
    for item in items:
        parsed = parse_title(item["title"])
        assert parsed is not None and parsed.season == 0 and parsed.episodes == (2,)
        ident = parse_magnet(item["enclosure"]["url"]).identity
        assert (ident.season, ident.episode) == (0, 1)  # film-1 is Sonarr's S00E02


def test_category_filter_and_unknown_series(api: Any) -> None:
    assert (
        _items(api(t="tvsearch", tvdbid=str(KAIJU_TVDB), season="1", ep="1", cat="2000")[1]) == []
    )
    assert _items(api(t="tvsearch", q="Completely Unknown Show", season="1", ep="1")[1]) == []


def test_sto_series_title_search(api: Any) -> None:
    _, root, _ = api(t="tvsearch", q="The Quiet Harbor", season="2", ep="1")
    items = _items(root)
    assert items
    for item in items:
        _check_item_contract(item)
        parsed = parse_title(item["title"])
        assert parsed is not None and (parsed.season, parsed.episodes) == (2, (1,))
        assert parse_magnet(item["enclosure"]["url"]).identity.site == "s.to"
        assert item["enclosure"]["url"].count("sto_slug=") == 1


def test_strm_variants_when_enabled(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    monkeypatch.setattr(
        settings, "CONFIG", dataclasses.replace(settings.CONFIG, strm_files_mode="both")
    )
    items = _items(api(t="tvsearch", tvdbid=str(KAIJU_TVDB), season="1", ep="1")[1])
    modes = [parse_magnet(i["enclosure"]["url"]).mode for i in items]
    assert modes.count("strm") == modes.count("download") > 0
    assert all("STRM" in i["title"] for i in items if "mode=strm" in i["enclosure"]["url"])


def test_radarr_movie_search_finds_the_megakino_film(api: Any) -> None:
    _, root, _ = api(t="movie", q="Iron Orchard 2024", cat="2000")
    items = _items(root)
    assert items
    ident = parse_magnet(items[0]["enclosure"]["url"]).identity
    assert ident.site == "megakino" and ident.season == 0
    assert "2000" in items[0]["categories"]


def test_path_is_also_served_with_trailing_slash(client: Client) -> None:
    assert client.get("/torznab/api/", {"t": "caps"}).status_code == 200


def test_sonarr_numbering_maps_to_the_sites_seasons(api: Any) -> None:
    # blossom-knights: TVDB has one season of 6, the site two of 3. Sonarr asks for S01E05.
    _, root, _ = api(t="tvsearch", tvdbid="900004", season="1", ep="5")
    items = _items(root)
    assert items
    for item in items:
        parsed = parse_title(item["title"])
        assert parsed is not None and (parsed.season, parsed.episodes) == (1, (5,))
        assert parsed.absolute_episodes == (5,)
        ident = parse_magnet(item["enclosure"]["url"]).identity
        assert (ident.slug, ident.season, ident.episode) == ("blossom-knights", 2, 2)


def test_cached_search_follows_a_changed_probe_result(api: Any) -> None:
    """Names, magnets and item XML are kept between searches: a new probe result
    (another height, an episode gone) must still show in the next answer."""
    from catalog.models import EpisodeAvailability

    def dub_titles() -> set[str]:
        items = _items(api(t="tvsearch", q="Kaiju Academy", season="1", ep="3")[1])
        return {
            i["title"]
            for i in items
            if parse_magnet(i["enclosure"]["url"]).identity.language == "German Dub"
        }

    before = dub_titles()
    assert before and not any("2160p" in t for t in before)
    rows = EpisodeAvailability.objects.filter(slug="kaiju-academy", season=1, episode=3)
    rows.filter(language="German Dub").update(height=2160)
    after = dub_titles()
    assert after and all("2160p" in t for t in after)
    rows.update(available=False)
    assert _items(api(t="tvsearch", q="Kaiju Academy", season="1", ep="3")[1]) == []


def test_feed_escapes_what_xml_cannot_hold_as_is() -> None:
    from datetime import UTC, datetime

    from torznab import feed

    item = feed.Item(
        title='A & B <C> "D"\x01\ud800',
        guid="g&1",
        magnet="magnet:?xt=urn:btih:ab&dn=A%26B",
        infohash="ab",
        size=5,
        published=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        categories=(5000, 5070),
        attrs={"subs": 'line\nbreak "quoted"\ttab'},
    )
    raw = feed.rss([item], "Index & Co", 'http://h/api?t=search&q="x"')
    root = ET.fromstring(raw)
    assert root.tag == "rss" and b'xmlns:torznab="http://torznab.com/schemas/2015/feed"' in raw
    parsed = _items(root)[0]
    assert parsed["title"] == 'A & B <C> "D"\ufffd\ufffd'
    assert root.findtext("channel/item/link") == item.magnet == parsed["enclosure"]["url"]
    assert parsed["attrs"]["subs"] == 'line\nbreak "quoted"\ttab'
    assert parsed["categories"] == ["5000", "5070"]
    assert parsedate_to_datetime(root.findtext("channel/item/pubDate") or "") == item.published
    atom = root.find("channel/{http://www.w3.org/2005/Atom}link")
    assert atom is not None and atom.get("href") == 'http://h/api?t=search&q="x"'
    assert root.findtext("channel/title") == "Index & Co"


def test_aged_not_available_results_are_probed_again_in_the_background() -> None:
    from datetime import timedelta

    from django.utils import timezone

    from anibridge_site.redis_client import get_redis
    from catalog.availability import availability_by_deadline
    from catalog.identity import EpisodeIdentity
    from catalog.models import EpisodeAvailability
    from catalog.tasks import probe_queued_key

    hours_ago = timezone.now() - timedelta(hours=3)
    rows = {
        "German Dub": (True, hours_ago),  # available: trusted for a day
        "German Sub": (False, hours_ago),  # not available, 3 h old: probe again
        "English Sub": (False, timezone.now()),  # not available, just probed
    }
    identities = []
    for language, (available, checked_at) in rows.items():
        identity = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 9, language)
        EpisodeAvailability.objects.create(
            site=identity.site,
            slug=identity.slug,
            season=identity.season,
            episode=identity.episode,
            language=language,
            available=available,
            checked_at=checked_at,
        )
        identities.append(identity)
    found = availability_by_deadline(identities, 0.0)
    assert set(found) == set(identities)  # answered at once, from what is stored
    queued = {i.language for i in identities if get_redis().exists(probe_queued_key(i))}
    assert queued == {"German Sub"}
