"""The title resolver: normalisation, season/year hints, and accuracy on the labelled set."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from catalog.titles import (
    Match,
    TitleEntry,
    TitleIndex,
    normalize,
    parse_query,
    split_alternatives,
)

DATA = Path(__file__).parent / "data"
MIN_PRECISION = 0.98
MIN_RECALL = 0.95


@cache
def _query_doc() -> dict[str, Any]:
    return json.loads((DATA / "title_queries.json").read_text(encoding="utf-8"))


@cache
def _index() -> TitleIndex:
    doc = json.loads((DATA / "title_index.json").read_text(encoding="utf-8"))
    return TitleIndex(
        TitleEntry(e["site"], e["slug"], e["title"], split_alternatives(e["alternatives"]))
        for e in doc["entries"]
    )


def _resolve(query: str, sites: list[str] | None = None) -> tuple[str, str] | None:
    found = _index().match(query, sites or _query_doc()["default_sites"])
    return (found.site, found.slug) if found else None


# -- normalisation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Attack on Titan", "attack-on-titan"),
        ("9-1-1", "911"),
        ("S.W.A.T.", "SWAT"),
        ("Frieren: Beyond Journey\u2019s End", "Frieren - Beyond Journey's End"),
        ("Re:ZERO -Starting Life in Another World-", "Re:Zero - Starting Life in Another World"),
        ("Pokémon", "Pokemon"),
        ("Tom & Jerry", "Tom und Jerry"),
        ("Rick & Morty", "Rick and Morty"),
        ("Hunter \u00d7 Hunter", "Hunter x Hunter"),
        ("Overlord II", "Overlord 2"),
        ("The Simpsons", "Die Simpsons"),
        ("Türkisch für Anfänger", "Tuerkisch fuer Anfaenger"),
        ("Die Straße", "Die Strasse"),
        ("Chicago P.D.", "Chicago PD"),
    ],
)
def test_normalize_makes_spellings_of_one_title_equal(left: str, right: str) -> None:
    assert normalize(left) == normalize(right)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Naruto", "Boruto"),
        ("Attack on Titan", "Attack on Titan: Junior High"),
        ("Steins;Gate", "Steins;Gate 0"),
        ("Dragon Ball", "Dragon Ball Z"),
        ("Mob Psycho 100", "Mob Psycho"),
        ("Blade Runner 2049", "Blade Runner"),
        ("The 100", "Mob Psycho 100"),
        ("Dune: Part Two", "Dune"),
    ],
)
def test_normalize_keeps_different_titles_apart(left: str, right: str) -> None:
    assert parse_query(left).full != parse_query(right).full


def test_normalize_drops_only_a_leading_article() -> None:
    assert normalize("The Rising of the Shield Hero") == "rising of the shield hero"
    assert normalize("Das Boot") == "boot"
    assert normalize("The") == "the"  # an article alone is the whole title


@pytest.mark.parametrize(
    ("query", "core", "season"),
    [
        ("Mushoku Tensei 2nd Season", "mushoku tensei", 2),
        ("Spy x Family Season 2", "spy x family", 2),
        ("Bleach Staffel 3", "bleach", 3),
        ("Vinland Saga Second Season", "vinland saga", 2),
        ("Sword Art Online S2", "sword art online", 2),
        ("Attack on Titan: The Final Season", "attack on titan", None),
        ("Season 2", "season 2", None),  # nothing but season words: keep them
    ],
)
def test_season_words_are_split_off_as_a_hint(query: str, core: str, season: int | None) -> None:
    parsed = parse_query(query)
    assert parsed.text == core
    assert parsed.season_hint == season


def test_part_words_are_split_off_as_a_part_hint() -> None:
    parsed = parse_query("Attack on Titan Season 3 Part 2")
    assert (parsed.text, parsed.season_hint, parsed.part_hint) == ("attack on titan", 3, 2)
    # Films keep "Part" in their full form: "Dune: Part Two" is not "Dune".
    assert parse_query("Dune: Part 2").full == ("dune", "part", "2")


@pytest.mark.parametrize(
    ("query", "core", "year", "bare"),
    [
        ("The Rookie (2018)", "rookie", 2018, False),
        ("Dune 2021", "dune", 2021, True),
        ("1917 2019", "1917", 2019, True),
        ("1923", "1923", None, False),  # a title that is a year stays a title
        ("Blade Runner 2049", "blade runner 2049", None, False),
        ("Wonder Woman 1984 2020", "wonder woman 1984", 2020, True),
        ("Deutschland 83", "deutschland 83", None, False),
    ],
)
def test_years_are_split_off(query: str, core: str, year: int | None, bare: bool) -> None:
    parsed = parse_query(query)
    assert (parsed.text, parsed.year, parsed.bare_year) == (core, year, bare)


def test_country_qualifier_is_split_off() -> None:
    parsed = parse_query("The Office (US)")
    assert (parsed.text, parsed.country) == ("office", "us")
    assert parse_query("How to Sell Drugs Online (Fast)").text == "how to sell drugs online fast"


def test_split_alternatives_reads_aniworlds_comma_list() -> None:
    raw = "Shingeki no Kyojin, 進撃の巨人, Attack on Titan"
    assert split_alternatives(raw) == ["Shingeki no Kyojin", "進撃の巨人", "Attack on Titan"]
    assert split_alternatives(" , ") == []


# -- matching behaviour -------------------------------------------------------------------


def _small_index() -> TitleIndex:
    return TitleIndex(
        [
            ("aniworld.to", "overlord", "Overlord", ["オーバーロード"]),
            ("aniworld.to", "naruto", "Naruto", []),
            ("aniworld.to", "boruto", "Boruto: Naruto Next Generations", ["Boruto"]),
            ("aniworld.to", "pokemon", "Pokémon", ["Pocket Monsters"]),
            ("s.to", "pokemon", "Pokémon", []),
            ("s.to", "the-rookie", "The Rookie", []),
            ("megakino", "944-the-rookie", "The Rookie (1990)", []),
        ]
    )


def test_match_prefers_the_earlier_site_on_a_tie() -> None:
    index = _small_index()
    assert _site_slug(index.match("Pokemon", ["aniworld.to", "s.to"])) == ("aniworld.to", "pokemon")
    assert _site_slug(index.match("Pokemon", ["s.to", "aniworld.to"])) == ("s.to", "pokemon")


def test_match_lets_year_evidence_beat_site_order() -> None:
    index = _small_index()
    sites = ["aniworld.to", "s.to", "megakino"]
    assert _site_slug(index.match("The Rookie 1990", sites)) == ("megakino", "944-the-rookie")
    assert _site_slug(index.match("The Rookie (2018)", sites)) == ("s.to", "the-rookie")


def test_match_only_searches_the_given_sites() -> None:
    assert _small_index().match("Overlord", ["s.to", "megakino"]) is None


def test_match_treats_a_trailing_number_as_a_season_on_series_sites() -> None:
    found = _small_index().match("Overlord II")
    assert found is not None and found.slug == "overlord"
    assert found.score < 100  # a guess, and says so


def test_match_keeps_film_sequels_apart() -> None:
    index = TitleIndex([("megakino", "1201-toy-story", "Toy Story (1995)", [])])
    assert index.match("Toy Story 2 1999") is None
    assert _site_slug(index.match("Toy Story 1995")) == ("megakino", "1201-toy-story")


def test_match_accepts_the_part_before_a_colon_when_one_entry_has_it() -> None:
    index = TitleIndex(
        [
            ("aniworld.to", "mashle-magic-and-muscles", "Mashle: Magic and Muscles", []),
            ("s.to", "star-trek-discovery", "Star Trek: Discovery", []),
            ("s.to", "star-trek-picard", "Star Trek: Picard", []),
        ]
    )
    found = index.match("Mashle")
    assert found is not None and (found.slug, found.via) == ("mashle-magic-and-muscles", "prefix")
    assert index.match("Star Trek") is None  # two entries share it: it names neither


def test_match_reads_a_title_made_of_two_names_of_one_entry() -> None:
    index = TitleIndex([("aniworld.to", "hells-paradise", "Hell's Paradise", ["Jigokuraku"])])
    found = index.match("Hell's Paradise: Jigokuraku")
    assert found is not None and (found.slug, found.via) == ("hells-paradise", "compound")


def test_match_tolerates_romanisation_differences() -> None:
    index = TitleIndex(
        [
            ("aniworld.to", "attack-on-titan", "Attack on Titan", ["Shingeki no Kyojin"]),
            ("s.to", "loewenzahn", "Löwenzahn", []),
        ]
    )
    found = index.match("Shingeki no Kyoujin")
    assert found is not None and found.slug == "attack-on-titan" and found.via.startswith("fuzzy")
    assert _site_slug(index.match("Lowenzahn")) == ("s.to", "loewenzahn")
    assert _site_slug(index.match("Loewenzahn")) == ("s.to", "loewenzahn")


def test_match_rejects_a_show_that_only_contains_the_query() -> None:
    index = _small_index()
    assert _site_slug(index.match("Naruto")) == ("aniworld.to", "naruto")
    assert index.match("Naruto Shippuden") is None


def test_match_refuses_an_exact_name_shared_by_two_entries_of_one_site() -> None:
    index = TitleIndex(
        [
            ("aniworld.to", "hellsing", "Hellsing", ["ヘルシング"]),
            ("aniworld.to", "hellsing-ultimate", "Hellsing Ultimate", ["ヘルシング"]),
        ]
    )
    assert index.match("ヘルシング") is None
    assert _site_slug(index.match("Hellsing")) == ("aniworld.to", "hellsing")


def test_candidates_lists_near_misses_with_scores() -> None:
    found = _small_index().candidates("Naruto Shippuden", limit=3)
    assert found and found[0].slug == "naruto"
    assert all(0 <= c.score < 86 for c in found)


def _site_slug(found: Match | None) -> tuple[str, str] | None:
    return (found.site, found.slug) if found else None


# -- the labelled set ---------------------------------------------------------------------


def test_labelled_set_is_honest_about_its_mix() -> None:
    queries = _query_doc()["queries"]
    categories = [q["category"] for q in queries]
    assert len(queries) >= 160
    assert categories.count("alt") / len(queries) >= 0.25
    assert categories.count("trap") / len(queries) >= 0.20
    slugs = {
        (e["site"], e["slug"])
        for e in json.loads((DATA / "title_index.json").read_text(encoding="utf-8"))["entries"]
    }
    for query in queries:
        expected = query["expected"]
        assert expected is None or (expected["site"], expected["slug"]) in slugs, query


def test_precision_and_recall_on_the_labelled_set(capsys: pytest.CaptureFixture[str]) -> None:
    made = correct = positives = 0
    wrong: list[str] = []
    for item in _query_doc()["queries"]:
        expected = (
            (item["expected"]["site"], item["expected"]["slug"]) if item["expected"] else None
        )
        got = _resolve(item["query"], item.get("sites"))
        made += got is not None
        positives += expected is not None
        if got is not None and got == expected:
            correct += 1
        elif got != expected:
            wrong.append(f"{item['query']!r}: expected {expected}, got {got}")
    precision = correct / made
    recall = correct / positives
    with capsys.disabled():
        print(
            f"\ntitle resolver on {len(_query_doc()['queries'])} labelled queries: "
            f"precision {precision:.3f} ({correct}/{made}), recall {recall:.3f} "
            f"({correct}/{positives})"
        )
        for line in wrong:
            print("  miss:", line)
    assert precision >= MIN_PRECISION, wrong
    assert recall >= MIN_RECALL, wrong
