"""Finding the site entry for what Sonarr and Radarr search, across the fake sites."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from django.conf import settings

from catalog import index, lookup
from catalog.lookup import MovieMatch, SeriesMatch
from tests.fakeweb.web import FakeWeb

SUGGEST = "/api/search/suggest"


@pytest.fixture
def sites(fake_sites: FakeWeb) -> Iterator[FakeWeb]:
    index.forget_process_index()
    yield fake_sites
    index.forget_process_index()


def where(found: SeriesMatch | MovieMatch | None) -> tuple[str, str] | None:
    return (found.site, found.slug) if found else None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Kaiju Academy", ("aniworld.to", "kaiju-academy")),
        ("Kaijuu Gakuen", ("aniworld.to", "kaiju-academy")),  # alternative title
        ("Tsukiyo no Yaiba", ("aniworld.to", "moonlit-blade")),  # alternative title
        ("Star Drifters", ("aniworld.to", "star-drifters")),
        ("The Quiet Harbor", ("s.to", "the-quiet-harbor")),
        ("Der stille Hafen", ("s.to", "the-quiet-harbor")),  # German title on s.to
        ("Nordlicht (2022)", ("s.to", "nordlicht")),
        ("Glass Rivers", ("megakino", "202-glass-rivers")),  # only on Megakino
    ],
)
def test_series_are_found_on_their_site(sites: FakeWeb, query: str, expected: tuple) -> None:
    assert where(lookup.find_series(query)) == expected


@pytest.mark.parametrize(
    "query",
    [
        "Kaiju Academy Zero",
        "Star Drifters Legends",
        "Moonlit",
        "Quiet Harbor Mysteries",
        "Harbor",  # s.to suggests "The Quiet Harbor" for it; the resolver says no
        "Lantern",
        "",
        "  ",
    ],
)
def test_near_misses_find_nothing(sites: FakeWeb, query: str) -> None:
    assert lookup.find_series(query) is None


def test_a_season_in_the_title_is_a_hint_not_part_of_the_name(sites: FakeWeb) -> None:
    found = lookup.find_series("Kaiju Academy Season 2")
    assert where(found) == ("aniworld.to", "kaiju-academy")
    assert found is not None and found.season_hint == 2
    plain = lookup.find_series("Kaiju Academy")
    assert plain is not None and plain.season_hint is None


def test_a_show_missing_from_the_sto_index_is_found_by_its_suggest_api(sites: FakeWeb) -> None:
    assert index.title_index().match("Midnight Ferry") is None  # not on the alphabet page

    found = lookup.find_series("Midnight Ferry")

    assert where(found) == ("s.to", "midnight-ferry")
    assert sites.counts.count("sto", SUGGEST) == 1


def test_the_suggest_answer_is_reused_for_the_same_title(sites: FakeWeb) -> None:
    for _ in range(3):  # Sonarr searches a season episode by episode
        lookup.find_series("Midnight Ferry")
        lookup.find_series("Harbor")
    assert sites.counts.count("sto", SUGGEST) == 2


def test_sites_in_the_index_are_answered_without_asking_suggest(sites: FakeWeb) -> None:
    lookup.find_series("The Quiet Harbor")
    assert sites.counts.count("sto", SUGGEST) == 0


def test_megakino_comes_last_even_with_the_same_title(
    sites: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "Iron Orchard" is an s.to series and a Megakino film.
    assert where(lookup.find_series("Iron Orchard")) == ("s.to", "iron-orchard")
    monkeypatch.setattr(
        settings,
        "CONFIG",
        dataclasses.replace(settings.CONFIG, catalog_sites=("megakino", "s.to", "aniworld.to")),
    )
    assert where(lookup.find_series("Iron Orchard")) == ("s.to", "iron-orchard")


def test_disabled_sites_are_not_searched(sites: FakeWeb, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        settings, "CONFIG", dataclasses.replace(settings.CONFIG, catalog_sites=("aniworld.to",))
    )
    assert lookup.find_series("The Quiet Harbor") is None
    assert lookup.find_series("Midnight Ferry") is None
    assert sites.counts.total("sto") == 0
    assert sites.counts.total("megakino") == 0


@pytest.mark.parametrize(
    ("tvdb_id", "expected"),
    [
        (900001, ("aniworld.to", "kaiju-academy")),
        (900101, ("s.to", "the-quiet-harbor")),
        (900103, ("s.to", "midnight-ferry")),  # through s.to's suggest API
        (999999, None),  # TVDB does not know it
    ],
)
def test_series_are_found_by_tvdb_id(sites: FakeWeb, tvdb_id: int, expected: tuple | None) -> None:
    assert where(lookup.find_series_by_tvdb(tvdb_id)) == expected


def test_series_by_tvdb_id_is_none_while_skyhook_fails(sites: FakeWeb) -> None:
    sites.skyhook.fail_next("/v1/tvdb/shows/*", status=500)
    assert lookup.find_series_by_tvdb(900001) is None


def test_an_aniworld_film_is_found_by_its_title(sites: FakeWeb) -> None:
    found = lookup.find_movie("Kaiju Academy the Movie: Red Tide", 2023)
    assert found == MovieMatch(
        "aniworld.to", "kaiju-academy", "Kaiju Academy the Movie: Red Tide", 100.0, 1
    )


def test_a_loosely_named_aniworld_film_is_found(sites: FakeWeb) -> None:
    found = lookup.find_movie("Blossom Knights: Eternal Spring")
    assert found is not None
    assert (found.site, found.slug, found.film) == ("aniworld.to", "blossom-knights", 1)


@pytest.mark.parametrize("query", ["Iron Orchard", "Iron Orchard 2024", "Iron Orchard (2024)"])
def test_a_megakino_film_is_found_with_or_without_its_year(sites: FakeWeb, query: str) -> None:
    found = lookup.find_movie(query, 2024 if query == "Iron Orchard" else None)
    assert found is not None
    assert (found.site, found.slug, found.film, found.title) == (
        "megakino",
        "101-iron-orchard",
        1,
        "Iron Orchard",
    )


@pytest.mark.parametrize(("query", "year"), [("Iron Orchard", 2019), ("Iron Orchard (2011)", None)])
def test_a_megakino_film_from_another_year_is_not_the_film(
    sites: FakeWeb, query: str, year: int | None
) -> None:
    """Megakino's index has no years; the film's page says 2024."""
    assert lookup.find_movie(query, year) is None


def test_a_megakino_year_one_off_still_finds_the_film(sites: FakeWeb) -> None:
    found = lookup.find_movie("Iron Orchard", 2023)
    assert found is not None and found.slug == "101-iron-orchard"


@pytest.mark.parametrize(
    "query",
    [
        "Glass Rivers",  # a Megakino serial, not a film
        "Kaiju Academy",  # a series with films, none of them named so
        "Kaiju Academy the Movie: Blue Moon",
        "Red Orchard",
    ],
)
def test_films_that_are_not_there_find_nothing(sites: FakeWeb, query: str) -> None:
    assert lookup.find_movie(query, 2023) is None
