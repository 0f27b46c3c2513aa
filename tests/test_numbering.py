"""Absolute episode numbers <-> the site's (season, episode): TVDB's numbers where the site's
seasons match TVDB's, counting through the site's seasons where they do not."""

from __future__ import annotations

import pytest

from catalog import numbering
from catalog.numbering import SITE_ORDER, TVDB, SiteEpisode
from tests.fakeweb.web import FakeWeb

AW = "aniworld.to"

# -- the rules on their own -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("site", "tvdb", "agree"),
    [
        ({1: 12, 2: 12}, {1: 12, 2: 12}, True),
        ({1: 12, 2: 5}, {1: 12, 2: 12}, True),  # last season still airing on the site
        ({0: 2, 1: 12}, {1: 12}, True),  # films do not count
        ({1: 12}, {1: 12, 2: 12}, True),  # TVDB already lists a season the site lacks
        ({1: 12, 2: 12}, {1: 24}, False),  # TVDB: one long season
        ({1: 24}, {1: 12, 2: 12}, False),  # TVDB: split in two
        ({1: 12, 2: 13}, {1: 12, 2: 12}, False),  # the site has more than TVDB
        ({1: 11, 2: 12}, {1: 12, 2: 12}, False),
        ({}, {1: 12}, False),
    ],
)
def test_seasons_agree_when_the_sizes_match(site: dict, tvdb: dict, agree: bool) -> None:
    assert numbering.seasons_agree(site, tvdb) is agree


@pytest.mark.parametrize(
    ("absolute", "expected"),
    [(1, (1, 1)), (12, (1, 12)), (13, (2, 1)), (20, (2, 8)), (21, (2, 9)), (0, None)],
)
def test_counting_walks_through_the_seasons_in_order(
    absolute: int, expected: tuple[int, int] | None
) -> None:
    # Past the last known episode lands in the last season: it may be newer than the count.
    assert numbering.episode_by_counting({0: 3, 2: 8, 1: 12}, absolute) == expected


@pytest.mark.parametrize(
    ("season", "episode", "expected"),
    [(1, 1, 1), (1, 12, 12), (2, 1, 13), (2, 9, 21), (1, 13, None), (3, 1, None), (0, 1, None)],
)
def test_counting_backwards_gives_the_position(
    season: int, episode: int, expected: int | None
) -> None:
    assert numbering.absolute_by_counting({0: 3, 1: 12, 2: 8}, season, episode) == expected


# -- against the fake site and SkyHook -------------------------------------------------------


def test_where_tvdb_agrees_its_absolute_numbers_are_used(fake_sites: FakeWeb) -> None:
    # kaiju-academy: 3 + 2 on the site and on TVDB
    assert numbering.site_episode_for_absolute(AW, "kaiju-academy", 4, 900001) == SiteEpisode(
        2, 1, 4, TVDB
    )
    assert numbering.site_episode_for_absolute(AW, "kaiju-academy", 3, 900001) == SiteEpisode(
        1, 3, 3, TVDB
    )
    assert numbering.absolute_for_site_episode(AW, "kaiju-academy", 2, 2, 900001) == 5


def test_where_tvdb_has_one_season_the_sites_seasons_are_counted(fake_sites: FakeWeb) -> None:
    # blossom-knights: 3 + 3 on the site, TVDB S01E01-E06 (there absolute 5 is S01E05)
    assert numbering.site_episode_for_absolute(AW, "blossom-knights", 5, 900004) == SiteEpisode(
        2, 2, 5, SITE_ORDER
    )
    assert numbering.absolute_for_site_episode(AW, "blossom-knights", 2, 2, 900004) == 5
    assert numbering.absolute_for_site_episode(AW, "blossom-knights", 1, 3, 900004) == 3


def test_where_tvdb_splits_a_season_the_sites_season_is_counted(fake_sites: FakeWeb) -> None:
    # lantern-road: one season of 4 on the site, TVDB 2 + 2 (absolute 3 is S02E01 there)
    assert numbering.site_episode_for_absolute(AW, "lantern-road", 3, 900005) == SiteEpisode(
        1, 3, 3, SITE_ORDER
    )
    assert numbering.absolute_for_site_episode(AW, "lantern-road", 1, 4, 900005) == 4


def test_without_a_tvdb_id_the_sites_seasons_are_counted(fake_sites: FakeWeb) -> None:
    assert numbering.site_episode_for_absolute(AW, "kaiju-academy", 5) == SiteEpisode(
        2, 2, 5, SITE_ORDER
    )
    assert numbering.absolute_for_site_episode("s.to", "the-quiet-harbor", 2, 1) == 4


def test_while_skyhook_fails_the_sites_seasons_are_counted(fake_sites: FakeWeb) -> None:
    fake_sites.skyhook.fail_next("/v1/tvdb/shows/*", status=500)
    found = numbering.site_episode_for_absolute(AW, "kaiju-academy", 4, 900001)
    assert found == SiteEpisode(2, 1, 4, SITE_ORDER)


def test_films_have_no_absolute_number(fake_sites: FakeWeb) -> None:
    assert numbering.absolute_for_site_episode(AW, "kaiju-academy", 0, 1, 900001) is None


def test_a_series_the_site_does_not_have_maps_to_nothing(fake_sites: FakeWeb) -> None:
    assert numbering.site_episode_for_absolute(AW, "no-such-series", 1, 900001) is None
    assert numbering.absolute_for_site_episode(AW, "no-such-series", 1, 1) is None


def test_the_sites_season_sizes_are_read_once(fake_sites: FakeWeb) -> None:
    for absolute in (1, 2, 3, 4):
        numbering.site_episode_for_absolute(AW, "kaiju-academy", absolute, 900001)
    assert fake_sites.counts.count("aniworld", "/anime/stream/kaiju-academy") == 1
    assert fake_sites.counts.total("skyhook") == 1
