"""The SkyHook client against the fake SkyHook: shows, episodes, searches, caching, failures."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from django.conf import settings

from catalog import skyhook
from tests.environment import free_port
from tests.fakeweb.web import FakeWeb

SHOW = "/v1/tvdb/shows/en/*"
SEARCH = "/v1/tvdb/search/en/"


def requests_to_skyhook(web: FakeWeb) -> int:
    return web.counts.total("skyhook")


def test_a_show_has_titles_year_and_episodes(fake_sites: FakeWeb) -> None:
    show = skyhook.show(900001)

    assert show is not None
    assert show.tvdb_id == 900001
    assert show.title == "Kaiju Academy"
    assert show.alternate_titles == ("Kaijuu Gakuen", "怪獣学園")
    assert show.year == 2021
    assert show.imdb_id == "tt9000001"
    assert show.season_sizes() == {1: 3, 2: 2}
    assert [(e.season, e.episode, e.absolute) for e in show.episodes if e.season > 0] == [
        (1, 1, 1),
        (1, 2, 2),
        (1, 3, 3),
        (2, 1, 4),
        (2, 2, 5),
    ]
    finale = show.episode(2, 2)
    assert finale is not None
    assert (finale.title, finale.air_date) == ("The Finale", date(2022, 10, 8))
    assert show.by_absolute(4) == show.episode(2, 1)


def test_specials_are_season_zero_without_absolute_numbers(fake_sites: FakeWeb) -> None:
    show = skyhook.show(900001)

    assert show is not None
    assert [(e.episode, e.title, e.absolute) for e in show.specials] == [
        (1, "Beach Episode", None),
        (2, "The Movie: Red Tide", None),
        (3, "Recap: Year One", None),
    ]
    assert show.by_absolute(6) is None


def test_tvdb_seasons_may_differ_from_the_sites(fake_sites: FakeWeb) -> None:
    show = skyhook.show(900004)  # the site has 3 + 3, TVDB one season of 6
    assert show is not None
    assert show.season_sizes() == {1: 6}
    assert show.by_absolute(5) == show.episode(1, 5)


def test_an_unknown_show_is_none_and_that_is_cached_too(fake_sites: FakeWeb) -> None:
    assert skyhook.show(999999) is None
    assert skyhook.show(999999) is None
    assert requests_to_skyhook(fake_sites) == 1


def test_answers_are_cached_for_the_configured_time(
    fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    skyhook.show(900002)
    skyhook.show(900002)
    skyhook.search("star")
    skyhook.search(" STAR ")  # the same term, as SkyHook sees it
    assert requests_to_skyhook(fake_sites) == 2

    monkeypatch.setattr(
        settings,
        "CONFIG",
        dataclasses.replace(settings.CONFIG, specials_metadata_cache_ttl_minutes=0),
    )
    skyhook.show(900003)
    skyhook.show(900003)
    assert requests_to_skyhook(fake_sites) == 4


def test_search_finds_shows_by_main_and_alternate_titles(fake_sites: FakeWeb) -> None:
    assert [s.tvdb_id for s in skyhook.search("kaiju")] == [900001]
    assert [s.tvdb_id for s in skyhook.search("Tsukiyo")] == [900003]
    assert skyhook.search("no such show") == []
    assert skyhook.search("   ") == []
    found = skyhook.search("quiet harbor")[0]
    assert (found.title, found.year, found.episodes) == ("The Quiet Harbor", 2020, ())


@pytest.mark.parametrize("imdb_id", ["tt9000003", "TT9000003", "9000003"])
def test_shows_are_found_by_imdb_id(fake_sites: FakeWeb, imdb_id: str) -> None:
    assert [s.tvdb_id for s in skyhook.find_by_imdb(imdb_id)] == [900003]


def test_something_that_is_no_imdb_id_is_not_searched(fake_sites: FakeWeb) -> None:
    assert skyhook.find_by_imdb("imdb-please") == []
    assert skyhook.find_by_tmdb(0) == []
    assert requests_to_skyhook(fake_sites) == 0


def test_shows_are_found_by_tmdb_id(fake_sites: FakeWeb) -> None:
    assert [s.title for s in skyhook.find_by_tmdb(800004)] == ["Blossom Knights"]
    assert skyhook.find_by_tmdb(123) == []


@pytest.mark.parametrize(
    ("title", "year", "expected"),
    [
        ("Kaiju Academy", None, 900001),
        ("Kaijuu Gakuen", 2021, 900001),
        ("Der stille Hafen", None, 900101),
        ("Harbor", None, None),  # SkyHook lists "The Quiet Harbor": another name
        ("", None, None),
    ],
)
def test_a_tvdb_id_is_found_only_for_the_same_name(
    fake_sites: FakeWeb, title: str, year: int | None, expected: int | None
) -> None:
    assert skyhook.find_tvdb_id(title, year) == expected


def test_a_failing_skyhook_is_one_line_and_not_asked_again_at_once(fake_sites: FakeWeb) -> None:
    fake_sites.skyhook.fail_next(SHOW, status=503)

    with pytest.raises(skyhook.SkyHookError) as first:
        skyhook.show(900001)
    with pytest.raises(skyhook.SkyHookError) as second:
        skyhook.search("kaiju")

    assert "HTTP 503" in str(first.value)
    assert "\n" not in str(first.value) and "\n" not in str(second.value)
    assert requests_to_skyhook(fake_sites) == 1  # the search waited out the back-off


def test_an_unreachable_skyhook_says_what_to_check(
    fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        settings,
        "CONFIG",
        dataclasses.replace(settings.CONFIG, skyhook_base_url=f"http://127.0.0.1:{free_port()}"),
    )
    with pytest.raises(skyhook.SkyHookError, match=r"unreachable.*SKYHOOK_BASE_URL"):
        skyhook.show(900001)
