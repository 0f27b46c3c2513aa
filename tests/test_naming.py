"""Release names parse back, through the Sonarr port, to what we meant."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.naming import (
    MAX_NAME_LENGTH,
    STRM_MARKER,
    build_release_name,
    codec_tag,
    resolution_tag,
    title_words,
)
from tests.sonarr_parser import (
    ParsedRelease,
    parse_languages,
    parse_movie_title,
    parse_quality,
    parse_release_group,
    parse_title,
)

GROUPS = {"aniworld.to": "ANIWORLD", "s.to": "STO", "megakino": "MEGAKINO"}
# What Sonarr's LanguageParser must read for each (site, language).
EXPECTED_LANGUAGES = {
    ("aniworld.to", "German Dub"): ("German",),
    ("aniworld.to", "German Sub"): ("Japanese",),
    ("aniworld.to", "English Sub"): ("Japanese",),
    ("aniworld.to", "English Dub"): ("English",),
    ("s.to", "German Dub"): ("German",),
    ("s.to", "German Sub"): ("English",),
    ("s.to", "English Sub"): ("English",),
    ("s.to", "English Dub"): ("English",),
    ("megakino", "German Dub"): ("German",),
    ("megakino", "German Sub"): ("English",),
    ("megakino", "English Sub"): ("English",),
    ("megakino", "English Dub"): ("English",),
}
SITES_AND_LANGUAGES = sorted(EXPECTED_LANGUAGES)
HEIGHT_QUALITY = [
    (2160, "h265", "WEBDL-2160p"),
    (1080, "avc1.64001f", "WEBDL-1080p"),
    (1440, "h264", "WEBDL-1080p"),
    (720, "hevc", "WEBDL-720p"),
    (480, "h264", "WEBDL-480p"),
    (360, "av01.0.05M.08", "WEBDL-480p"),
    (None, None, "WEBDL-480p"),
    (1080, "vp9", "WEBDL-1080p"),
    (576, "vp09.00.40.08", "WEBDL-480p"),
    (720, "mpeg4", "WEBDL-720p"),
]


def parsed(name: str) -> ParsedRelease:
    result = parse_title(name)
    assert result is not None, f"Sonarr could not parse {name!r}"
    return result


def name_for(**fields: object) -> str:
    defaults: dict[str, object] = {"title": "Kaiju No. 8", "site": "aniworld.to"}
    return build_release_name(**{**defaults, **fields})  # type: ignore[arg-type]


# --- the port agrees with the facts in CONTRACTS.md ----------------------------------


def test_port_reads_the_contract_standard_example() -> None:
    result = parsed("Series.Title.S01E05.1080p.WEB.H264.GER-ANIWORLD")
    assert (result.series_title, result.season, result.episodes) == ("Series Title", 1, (5,))
    assert (result.quality, result.languages) == ("WEBDL-1080p", ("German",))


def test_port_drops_a_language_followed_by_sub() -> None:
    assert parsed("Series.Title.S01E05.1080p.WEB.H264.GER.SUB-ANIWORLD").languages == ("Unknown",)
    assert parse_languages(".German.Sub.1080p") == ("Unknown",)


def test_port_reads_german_dl_as_german_plus_original() -> None:
    result = parsed("Series.Title.S01E05.1080p.WEB.H264.GERMAN.DL-ANIWORLD")
    assert result.languages == ("German", "Original")


def test_port_reads_both_numbers_from_the_contract_anime_example() -> None:
    result = parsed("[GROUP] Series Title - 005 (S01E05) [German DL 1080p WEB x264]")
    assert (result.absolute_episodes, result.season, result.episodes) == ((5,), 1, (5,))
    assert result.release_group == "GROUP"


def test_port_reads_only_season_and_episode_from_title_s01e05_005() -> None:
    result = parsed("Title S01E05 005")
    assert (result.season, result.episodes, result.absolute_episodes) == (1, (5,), ())


# --- every form parses back ----------------------------------------------------------


@pytest.mark.parametrize(("site", "language"), SITES_AND_LANGUAGES)
@pytest.mark.parametrize("strm", [False, True])
def test_episode_names_parse_to_the_episode_language_and_group(
    site: str, language: str, strm: bool
) -> None:
    name = name_for(site=site, language=language, season=1, episode=5, height=1080, strm=strm)
    result = parsed(name)
    assert (result.series_title, result.season, result.episodes) == ("Kaiju No 8", 1, (5,))
    assert result.absolute_episodes == ()
    assert result.quality == "WEBDL-1080p"
    assert result.languages == EXPECTED_LANGUAGES[(site, language)]
    assert result.release_group == GROUPS[site]
    assert (STRM_MARKER in name) is strm


def test_german_dub_episode_looks_like_the_contract_example() -> None:
    name = name_for(language="German Dub", season=1, episode=5, height=1080, vcodec="h264")
    assert name == "Kaiju.No.8.S01E05.1080p.WEB.H264.GERMAN-ANIWORLD"


@pytest.mark.parametrize(("height", "vcodec", "quality"), HEIGHT_QUALITY)
@pytest.mark.parametrize("anime", [False, True])
def test_height_and_codec_give_the_right_sonarr_quality(
    height: int | None, vcodec: str | None, quality: str, anime: bool
) -> None:
    absolute = 5 if anime else None
    name = name_for(
        language="ger", season=1, episode=5, absolute=absolute, height=height, vcodec=vcodec
    )
    result = parsed(name)
    assert result.quality == quality
    assert result.episodes == (5,)


@pytest.mark.parametrize(("site", "language"), SITES_AND_LANGUAGES)
@pytest.mark.parametrize("strm", [False, True])
def test_anime_names_give_absolute_and_season_episode(site: str, language: str, strm: bool) -> None:
    name = name_for(
        site=site, language=language, season=1, episode=5, absolute=5, height=720, strm=strm
    )
    result = parsed(name)
    assert (result.absolute_episodes, result.season, result.episodes) == ((5,), 1, (5,))
    assert result.series_title == "Kaiju No 8"
    assert result.quality == "WEBDL-720p"
    assert result.languages == EXPECTED_LANGUAGES[(site, language)]
    assert result.release_group == GROUPS[site]


def test_anime_name_reads_like_the_contract_form() -> None:
    name = name_for(
        title="Series Title", language="German Sub", season=1, episode=5, absolute=5, height=1080
    )
    assert name == "[ANIWORLD] Series Title - 005 (S01E05) [JAPANESE GerSub 1080p WEB H264]"


@pytest.mark.parametrize(("absolute", "season", "episode"), [(1, 1, 1), (99, 4, 12), (999, 20, 30)])
def test_anime_absolute_numbers_up_to_999_keep_both_numberings(
    absolute: int, season: int, episode: int
) -> None:
    result = parsed(name_for(language="ger", season=season, episode=episode, absolute=absolute))
    assert (result.absolute_episodes, result.season, result.episodes) == (
        (absolute,),
        season,
        (episode,),
    )


@pytest.mark.parametrize(("absolute", "episode"), [(1005, 5), (150, 150)])
def test_anime_beyond_sonarrs_digit_limits_falls_back_to_the_episode_form(
    absolute: int, episode: int
) -> None:
    # Sonarr's "[Group] Title - abs (SxxEyy)" regex takes 2-3 digit absolutes and
    # 2-digit episodes; past that it would read a number from the title instead.
    name = name_for(
        title="Mob Psycho 100", language="ger", season=2, episode=episode, absolute=absolute
    )
    assert name.startswith("Mob.Psycho.100.S02E")
    result = parsed(name)
    assert (result.season, result.episodes, result.absolute_episodes) == (2, (episode,), ())


def expected_numbers(episode: int, absolute: int | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(episodes, absolutes) Sonarr reads from our name, per the rule tested above."""
    if absolute is None or episode >= 100 or absolute >= 1000:
        return (episode,), ()
    return (episode,), (absolute,)


@pytest.mark.parametrize("strm", [False, True])
def test_specials_are_season_zero(strm: bool) -> None:
    result = parsed(name_for(language="German Dub", season=0, episode=3, height=720, strm=strm))
    assert (result.season, result.episodes) == (0, (3,))


@pytest.mark.parametrize(("site", "language"), SITES_AND_LANGUAGES)
@pytest.mark.parametrize("strm", [False, True])
def test_season_packs_parse_as_full_seasons(site: str, language: str, strm: bool) -> None:
    name = name_for(site=site, language=language, season=2, height=1080, strm=strm)
    result = parsed(name)
    assert (result.season, result.episodes, result.full_season) == (2, (), True)
    assert result.quality == "WEBDL-1080p"
    assert result.languages == EXPECTED_LANGUAGES[(site, language)]
    assert result.release_group == GROUPS[site]
    assert name.startswith("Kaiju.No.8.S02.")


def test_multi_episode_names_give_the_whole_range() -> None:
    name = name_for(language="ger", season=1, episode=5, last_episode=7, height=1080)
    assert "S01E05-E07" in name
    assert parsed(name).episodes == (5, 6, 7)


@pytest.mark.parametrize(("season", "episode"), [(1, 100), (21, 1000), (100, 5), (999, 99)])
def test_large_season_and_episode_numbers_parse(season: int, episode: int) -> None:
    result = parsed(
        name_for(title="One Piece", language="ger", season=season, episode=episode, height=1080)
    )
    assert (result.season, result.episodes) == (season, (episode,))


@pytest.mark.parametrize(("site", "language"), SITES_AND_LANGUAGES)
@pytest.mark.parametrize("strm", [False, True])
def test_movie_names_parse_in_radarrs_normal_format(site: str, language: str, strm: bool) -> None:
    name = name_for(
        title="Der Tatortreiniger", site=site, language=language, year=2019, height=1080, strm=strm
    )
    movie = parse_movie_title(name)
    assert movie is not None
    assert (movie.title, movie.year) == ("Der Tatortreiniger", 2019)
    assert parse_quality(name) == "WEBDL-1080p"
    assert parse_languages(name.split(".2019.", 1)[1]) == EXPECTED_LANGUAGES[(site, language)]
    assert parse_release_group(name) == GROUPS[site]


def test_movie_name_looks_like_the_brief() -> None:
    name = name_for(title="Title", site="megakino", language="German Dub", year=2019, height=1080)
    assert name == "Title.2019.1080p.WEB.H264.GERMAN-MEGAKINO"


def test_strm_variant_parses_exactly_like_the_plain_name() -> None:
    for fields in (
        {"season": 1, "episode": 5},
        {"season": 1},
        {"season": 1, "episode": 5, "absolute": 5},
        {"season": 1, "episode": 5, "last_episode": 6},
    ):
        plain = parsed(name_for(language="German Sub", height=1080, **fields))
        strm = parsed(name_for(language="German Sub", height=1080, strm=True, **fields))
        assert (strm.season, strm.episodes, strm.absolute_episodes, strm.full_season) == (
            plain.season,
            plain.episodes,
            plain.absolute_episodes,
            plain.full_season,
        )
        assert (strm.quality, strm.languages, strm.release_group) == (
            plain.quality,
            plain.languages,
            plain.release_group,
        )


# --- titles and sanitising -----------------------------------------------------------

REAL_TITLES = [
    "Frieren: Beyond Journey\u2019s End",
    "Steins;Gate 0",
    "Re:ZERO -Starting Life in Another World-",
    "Fate/Zero",
    "Mob Psycho 100",
    "Mobile Suit Gundam 00",
    "86 EIGHTY-SIX",
    "91 Days",
    "2.43: Seiin High School Boys Volleyball Team",
    "Dr. Stone",
    "Spy x Family",
    "Kaguya-sama: Love is War",
    "Haikyu!! To the Top",
    "Attack on Titan Season 2",
    "Dororo (2019)",
    "Spice and Wolf (2024)",
    "Tokyo 24th Ward",
    "Die drei ??? Kids",
    "Mörderische Schwestern",
    "Café Süß & Grün",
    "Tom & Jerry",
    "The 8th Son? Are You Kidding Me?",
    "Tsukimichi -Moonlit Fantasy-",
    "Bleach: Thousand-Year Blood War",
    "Solo Leveling",
    "Season",
    "Episode",
    "Special",
    "..\\..//etc/passwd",
]


@pytest.mark.parametrize("title", REAL_TITLES)
@pytest.mark.parametrize("anime", [False, True])
def test_real_titles_parse_back_to_their_words(title: str, anime: bool) -> None:
    absolute = 5 if anime else None
    name = build_release_name(
        title=title,
        site="aniworld.to",
        language="ger",
        season=1,
        episode=5,
        absolute=absolute,
        height=1080,
    )
    result = parsed(name)
    assert result.series_title == " ".join(title_words(title))
    assert (result.season, result.episodes) == (1, (5,))
    assert result.absolute_episodes == ((5,) if anime else ())
    assert result.quality == "WEBDL-1080p"
    assert result.languages == ("German",)


@pytest.mark.parametrize(
    ("title", "words"),
    [
        ("Mörderische Schwestern", ("Moerderische", "Schwestern")),
        ("ÄÖÜ äöü ß ẞ", ("AeOeUe", "aeoeue", "ss", "SS")),
        ("Café Crème", ("Cafe", "Creme")),
        ("Frieren: Beyond Journey\u2019s End", ("Frieren", "Beyond", "Journeys", "End")),
        ("Tom & Jerry", ("Tom", "and", "Jerry")),
        ("Fate/Zero", ("Fate", "Zero")),
        ("..\\../x", ("x",)),
        ("\uff26\uff41\uff54\uff45", ("Fate",)),  # full-width letters
    ],
)
def test_title_words_transliterate_and_drop_punctuation(title: str, words: tuple[str, ...]) -> None:
    assert title_words(title) == words


@pytest.mark.parametrize("title", ["", "   ", "...", "進撃の巨人", "//"])
def test_a_title_with_nothing_usable_is_refused(title: str) -> None:
    with pytest.raises(ValueError, match="no letters or digits"):
        title_words(title)


_SAFE_NAME = re.compile(r"[A-Za-z0-9 .\[\]()-]+")


@pytest.mark.parametrize("title", REAL_TITLES)
def test_names_are_safe_file_names(title: str) -> None:
    variants: list[dict[str, Any]] = [
        {"season": 1, "episode": 5},
        {"season": 1, "episode": 5, "absolute": 5},
        {"year": 2020},
    ]
    for fields in variants:
        name = build_release_name(
            title=title, site="s.to", language="German Sub", strm=True, **fields
        )
        assert _SAFE_NAME.fullmatch(name), name
        assert ".." not in name and "/" not in name and "\\" not in name


def test_very_long_titles_are_shortened_to_fit_a_file_name() -> None:
    title = " ".join(["Reincarnated"] * 60)
    name = name_for(title=title, language="ger", season=1, episode=5, height=1080)
    assert len(name) <= MAX_NAME_LENGTH
    assert parsed(name).episodes == (5,)


# --- tags and validation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("height", "tag"),
    [
        (None, None),
        (0, None),
        (240, "480p"),
        (480, "480p"),
        (720, "720p"),
        (800, "720p"),
        (1072, "1080p"),
        (1080, "1080p"),
        (1440, "1080p"),
        (2160, "2160p"),
    ],
)
def test_resolution_tag_for_height(height: int | None, tag: str | None) -> None:
    assert resolution_tag(height) == tag


@pytest.mark.parametrize(
    ("vcodec", "tag"),
    [
        (None, "H264"),
        ("avc1.640028", "H264"),
        ("h264", "H264"),
        ("hevc", "H265"),
        ("hvc1.1.6.L120", "H265"),
        ("x265", "x265"),
        ("x264", "x264"),
        ("av01.0.08M.08", "AV1"),
        ("vp9", "VP9"),
        ("mpeg4", None),
    ],
)
def test_codec_tag_for_codec_name(vcodec: str | None, tag: str | None) -> None:
    assert codec_tag(vcodec) == tag


def test_source_and_group_can_be_configured() -> None:
    name = name_for(
        language="ger", season=1, episode=5, height=1080, source="WEBRip", group="my group!"
    )
    assert name.endswith(".1080p.WEBRip.H264.GERMAN-MYGROUP")
    assert parsed(name).quality == "WEBRip-1080p"
    assert parsed(name).release_group == "MYGROUP"


def test_blank_group_falls_back_to_the_site_default() -> None:
    assert name_for(site="s.to", language="ger", season=1, episode=1, group="  ").endswith("-STO")


@pytest.mark.parametrize("group", ["1234", "S01", "deadbeef"])
def test_groups_sonarr_would_ignore_are_refused(group: str) -> None:
    with pytest.raises(ValueError, match="would be ignored by Sonarr"):
        name_for(language="ger", season=1, episode=1, group=group)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"episode": 5}, "needs a season"),
        ({"absolute": 5}, "needs a season"),
        ({"season": -1}, "season -1 is out of range"),
        ({"season": 1, "episode": 10000}, "out of range"),
        ({"season": 1, "episode": 5, "last_episode": 4}, "before episode"),
        ({"season": 1, "episode": 5, "last_episode": 6, "absolute": 5}, "single episode"),
        ({"season": 1, "episode": 5, "absolute": 0}, "absolute 0"),
        ({"year": 20}, "plausible release year"),
        ({"season": 1, "language": "klingon"}, "unknown language"),
        ({"season": 1, "site": "example.com"}, "unknown site"),
    ],
)
def test_impossible_releases_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        name_for(**{"language": "ger", **fields})


_WORD = st.from_regex(r"[A-Za-z]{2,12}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(_WORD, min_size=1, max_size=6),
    season=st.integers(min_value=0, max_value=99),
    episode=st.integers(min_value=1, max_value=999),
    absolute=st.one_of(st.none(), st.integers(min_value=1, max_value=999)),
    height=st.sampled_from([None, 480, 720, 1080, 2160]),
    language=st.sampled_from(["German Dub", "German Sub", "English Sub", "English Dub"]),
    strm=st.booleans(),
)
def test_generated_titles_parse_back(
    words: list[str],
    season: int,
    episode: int,
    absolute: int | None,
    height: int | None,
    language: str,
    strm: bool,
) -> None:
    name = build_release_name(
        title=" ".join(words),
        site="aniworld.to",
        language=language,
        season=season,
        episode=episode,
        absolute=absolute,
        height=height,
        strm=strm,
    )
    result = parsed(name)
    episodes, absolutes = expected_numbers(episode, absolute)
    assert (result.season, result.episodes, result.absolute_episodes) == (
        season,
        episodes,
        absolutes,
    )
    assert result.series_title == " ".join(words)
    assert result.languages == EXPECTED_LANGUAGES[("aniworld.to", language)]
    assert result.release_group == "ANIWORLD"
