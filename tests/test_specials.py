"""AniWorld films <-> Sonarr season-0 specials, matched by title against the fake site and
SkyHook (kaiju-academy: film-1 is S00E02, film-2 is S00E01, S00E03 has no film)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from django.conf import settings

from catalog import specials
from catalog.specials import SpecialMapping
from tests.fakeweb.web import FakeWeb

KAIJU = 900001
BLOSSOM = 900004


def set_config(monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
    monkeypatch.setattr(settings, "CONFIG", dataclasses.replace(settings.CONFIG, **changes))


def test_a_sonarr_special_maps_to_the_film_with_its_title(fake_sites: FakeWeb) -> None:
    found = specials.mapping_for_special("kaiju-academy", KAIJU, 2)

    assert found == SpecialMapping(
        slug="kaiju-academy",
        film=1,
        sonarr_episode=2,
        film_title="Kaiju Academy the Movie: Red Tide",
        special_title="The Movie: Red Tide",
        confidence=1.0,
    )
    assert found.source == (0, 1)  # what AniWorld hosts: /filme/film-1
    assert found.alias == (0, 2)  # what Sonarr expects: S00E02


def test_a_film_maps_back_to_its_sonarr_special(fake_sites: FakeWeb) -> None:
    beach = specials.mapping_for_film("kaiju-academy", KAIJU, 2)
    assert beach is not None and beach.alias == (0, 1)
    movie = specials.mapping_for_film("kaiju-academy", KAIJU, 1)
    assert movie is not None and movie.alias == (0, 2)


def test_both_directions_come_from_one_pairing(fake_sites: FakeWeb) -> None:
    pairs = specials.special_mappings("kaiju-academy", KAIJU)
    assert [(m.sonarr_episode, m.film) for m in pairs] == [(1, 2), (2, 1)]
    for m in pairs:
        assert specials.mapping_for_film("kaiju-academy", KAIJU, m.film) == m
        assert specials.mapping_for_special("kaiju-academy", KAIJU, m.sonarr_episode) == m


def test_a_special_aniworld_does_not_host_has_no_mapping(fake_sites: FakeWeb) -> None:
    assert specials.mapping_for_special("kaiju-academy", KAIJU, 3) is None  # Recap: Year One
    assert specials.mapping_for_special("kaiju-academy", KAIJU, 9) is None
    assert specials.mapping_for_film("kaiju-academy", KAIJU, 7) is None


def test_a_loose_title_maps_at_the_default_threshold(fake_sites: FakeWeb) -> None:
    # "Eternal Spring" vs "Blossom Knights: Eternal Spring - Director's Cut"
    found = specials.mapping_for_special("blossom-knights", BLOSSOM, 2)
    assert found is not None and found.film == 1
    assert 0.5 <= found.confidence < 0.9


def test_a_title_below_the_threshold_is_no_mapping(fake_sites: FakeWeb) -> None:
    # "Autumn Festival Night" only resembles film-2 "Spring Festival Encore".
    assert specials.mapping_for_special("blossom-knights", BLOSSOM, 1) is None
    assert specials.mapping_for_film("blossom-knights", BLOSSOM, 2) is None


def test_the_threshold_is_the_configured_one(
    fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_config(monkeypatch, specials_match_confidence_threshold=0.9)
    assert specials.mapping_for_special("blossom-knights", BLOSSOM, 2) is None
    assert specials.mapping_for_special("kaiju-academy", KAIJU, 2) is not None

    set_config(monkeypatch, specials_match_confidence_threshold=0.4)
    loose = specials.mapping_for_special("blossom-knights", BLOSSOM, 1)
    assert loose is not None and loose.film == 2


def test_nothing_is_mapped_or_fetched_when_specials_metadata_is_off(
    fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_config(monkeypatch, specials_metadata_enabled=False)
    assert specials.special_mappings("kaiju-academy", KAIJU) == []
    assert specials.mapping_for_special("kaiju-academy", KAIJU, 2) is None
    assert fake_sites.counts.total("skyhook") == 0
    assert fake_sites.counts.total("aniworld") == 0


def test_a_series_without_films_has_no_mappings(fake_sites: FakeWeb) -> None:
    assert specials.special_mappings("star-drifters", 900002) == []


def test_no_mapping_while_skyhook_fails(fake_sites: FakeWeb) -> None:
    fake_sites.skyhook.fail_next("/v1/tvdb/shows/*", status=500)
    assert specials.special_mappings("kaiju-academy", KAIJU) == []


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("The Movie: Red Tide", "Kaiju Academy the Movie: Red Tide", True),
        ("Beach Episode", "Kaiju Academy: Beach Episode", True),
        ("Recap: Year One", "Kaiju Academy the Movie: Red Tide", False),
        ("Beach Episode", "Kaiju Academy the Movie: Red Tide", False),
        ("OVA 1", "Kaiju Academy OVA 2", False),  # numbers decide
        ("Movie II", "Kaiju Academy Movie 2", True),
    ],
)
def test_title_similarity_separates_same_from_other_films(a: str, b: str, same: bool) -> None:
    confidence = specials.title_similarity(a, b, drop=("Kaiju Academy",))
    assert (confidence >= 0.5) is same
