"""EpisodeIdentity and the language/site vocabulary (plain Python, no Django needed)."""

from __future__ import annotations

import dataclasses

import pytest

from catalog import registry
from catalog.identity import (
    LANGUAGES,
    MAX_EPISODE,
    MAX_SEASON,
    MAX_SLUG_LENGTH,
    EpisodeIdentity,
    normalize_language,
    normalize_site,
)


@pytest.mark.parametrize("language", LANGUAGES)
def test_canonical_languages_normalise_to_themselves(language: str) -> None:
    assert normalize_language(language) == language


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("de", "German Dub"),
        ("ger", "German Dub"),
        ("GER", "German Dub"),
        ("deutsch", "German Dub"),
        ("german", "German Dub"),
        ("GerDub", "German Dub"),
        ("Ger-Dub", "German Dub"),
        ("gersub", "German Sub"),
        ("GER.SUB", "German Sub"),
        ("german_sub", "German Sub"),
        ("OmU", "German Sub"),
        ("Japanese with German subs", "German Sub"),
        ("japanese with german subtitles", "German Sub"),
        ("engsub", "English Sub"),
        ("EngSub", "English Sub"),
        ("Japanese with English Subs", "English Sub"),
        ("en", "English Dub"),
        ("eng", "English Dub"),
        ("english", "English Dub"),
        ("EngDub", "English Dub"),
        ("  German   Sub  ", "German Sub"),
    ],
)
def test_language_aliases_map_to_the_canonical_label(alias: str, canonical: str) -> None:
    assert normalize_language(alias) == canonical


@pytest.mark.parametrize("value", ["klingon", "", "   ", "sub", "french", "ger dub sub"])
def test_unknown_language_names_the_accepted_labels(value: str) -> None:
    with pytest.raises(ValueError, match="unknown language") as raised:
        normalize_language(value)
    assert "German Dub" in str(raised.value)
    assert "gersub" in str(raised.value)


def test_non_text_language_is_rejected_with_value_error() -> None:
    with pytest.raises(ValueError, match="unknown language"):
        normalize_language(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("aniworld.to", "aniworld.to"),
        ("AniWorld", "aniworld.to"),
        ("s.to", "s.to"),
        ("serienstream.to", "s.to"),
        ("sto", "s.to"),
        ("megakino", "megakino"),
        (" Megakino ", "megakino"),
    ],
)
def test_site_aliases_map_to_the_canonical_site(alias: str, canonical: str) -> None:
    assert normalize_site(alias) == canonical


def test_unknown_site_lists_the_known_sites() -> None:
    with pytest.raises(ValueError, match="unknown site") as raised:
        normalize_site("example.com")
    assert all(site in str(raised.value) for site in registry.site_names())


def test_identity_normalises_site_language_and_blank_provider() -> None:
    identity = EpisodeIdentity("AniWorld", "kaiju-no-8", 1, 5, "gersub", provider="  ")
    assert identity == EpisodeIdentity("aniworld.to", "kaiju-no-8", 1, 5, "German Sub")
    assert identity.provider is None


def test_key_is_stable_and_readable() -> None:
    identity = EpisodeIdentity("aniworld.to", "kaiju-no-8", 1, 5, "German Dub")
    assert identity.key() == "aniworld.to:kaiju-no-8:s1e5:German Dub"
    assert EpisodeIdentity("aniworld", "kaiju-no-8", 1, 5, "ger").key() == identity.key()


def test_key_includes_the_provider_when_one_is_set() -> None:
    identity = EpisodeIdentity("s.to", "the-office", 2, 3, "English Dub", provider="VOE")
    assert identity.key() == "s.to:the-office:s2e3:English Dub:VOE"


@pytest.mark.parametrize(
    "changed",
    [
        {"site": "s.to"},
        {"slug": "kaiju-no-9"},
        {"season": 2},
        {"episode": 6},
        {"language": "German Sub"},
        {"provider": "Filemoon"},
    ],
)
def test_key_changes_with_every_field(changed: dict[str, object]) -> None:
    base = EpisodeIdentity("aniworld.to", "kaiju-no-8", 1, 5, "German Dub")
    assert dataclasses.replace(base, **changed).key() != base.key()  # type: ignore[arg-type]


def test_identity_is_immutable_and_hashable() -> None:
    identity = EpisodeIdentity("megakino", "some-film", 0, 1, "German Dub")
    with pytest.raises(dataclasses.FrozenInstanceError):
        identity.season = 2  # type: ignore[misc]
    assert {identity: 1}[EpisodeIdentity("megakino", "some-film", 0, 1, "de")] == 1


def test_str_is_a_log_friendly_label() -> None:
    identity = EpisodeIdentity("aniworld.to", "kaiju-no-8", 1, 5, "German Dub")
    assert str(identity) == "aniworld.to/kaiju-no-8 S01E05 [German Dub]"


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("", "empty"),
        ("../etc", "path separator"),
        ("a/b", "path separator"),
        ("a\\b", "path separator"),
        ("a..b", "path separator"),
        ("has space", "only letters, digits"),
        ("-leading-dash", "start with a letter or digit"),
        ("\u00fc" * 121, "(ASCII)"),
        ("x" * (MAX_SLUG_LENGTH + 1), "too long"),
    ],
)
def test_bad_slugs_are_rejected_with_the_reason(slug: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EpisodeIdentity("aniworld.to", slug, 1, 1, "German Dub")


@pytest.mark.parametrize(
    ("season", "episode", "message"),
    [
        (-1, 1, "season -1 is out of range"),
        (MAX_SEASON + 1, 1, "out of range"),
        (1, -1, "episode -1 is out of range"),
        (1, MAX_EPISODE + 1, "out of range"),
        (True, 1, "whole number"),
        ("1", 1, "whole number"),
    ],
)
def test_numbers_out_of_range_are_rejected(season: object, episode: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EpisodeIdentity("aniworld.to", "slug", season, episode, "German Dub")  # type: ignore[arg-type]


def test_season_zero_and_episode_zero_are_valid_for_specials_and_films() -> None:
    assert EpisodeIdentity("megakino", "film", 0, 0, "German Dub").season == 0


@pytest.mark.parametrize("provider", ["<script>", "a/b", "x" * 65, 7])
def test_odd_provider_names_are_rejected(provider: object) -> None:
    with pytest.raises(ValueError, match="provider"):
        EpisodeIdentity("aniworld.to", "slug", 1, 1, "German Dub", provider=provider)  # type: ignore[arg-type]
