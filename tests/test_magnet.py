"""Magnets: round trips, compatibility with the original AniBridge, and hostile input."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
from urllib.parse import quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.identity import LANGUAGES, EpisodeIdentity
from catalog.magnet import (
    MAX_VALUE_BYTES,
    MagnetError,
    Mode,
    ParsedMagnet,
    build_magnet,
    info_hash,
    parse_magnet,
)

NAME = "Kaiju.No.8.S01E05.1080p.WEB.H264.GERMAN-ANIWORLD"
HASH = hashlib.sha1(b"kaiju-no-8|1|5|German Dub", usedforsecurity=False).hexdigest()
VALID = (
    f"magnet:?xt=urn:btih:{HASH}&dn={NAME}&aw_slug=kaiju-no-8&aw_s=1&aw_e=5"
    "&aw_lang=German+Dub&aw_site=aniworld.to"
)


def original_magnet(fields: list[tuple[str, str]], btih: str) -> str:
    """A magnet written the way the original's build_magnet encodes it."""
    parts = [f"xt={quote_plus('urn:btih:' + btih, safe=':')}"]
    parts += [f"{key}={quote_plus(value)}" for key, value in fields]
    return "magnet:?" + "&".join(parts)


IDENTITIES = [
    EpisodeIdentity("aniworld.to", "kaiju-no-8", 1, 5, "German Dub"),
    EpisodeIdentity("aniworld.to", "frieren", 0, 3, "German Sub", provider="VOE"),
    EpisodeIdentity("s.to", "the-office-us", 9, 23, "English Dub", provider="Filemoon"),
    EpisodeIdentity("s.to", "dark", 3, 8, "German Dub"),
    EpisodeIdentity("megakino", "some-film", 0, 1, "German Dub"),
    EpisodeIdentity("megakino", "some-series", 2, 10, "English Sub", provider="Doodstream"),
]
MODES: list[Mode] = ["download", "strm"]


@pytest.mark.parametrize("identity", IDENTITIES, ids=lambda i: i.key())
@pytest.mark.parametrize("mode", MODES)
def test_build_then_parse_gives_back_the_same_release(
    identity: EpisodeIdentity, mode: Mode
) -> None:
    magnet = build_magnet(identity, NAME, mode)
    assert parse_magnet(magnet) == ParsedMagnet(info_hash(identity, mode), NAME, identity, mode)


@pytest.mark.parametrize(
    ("site", "prefix"), [("aniworld.to", "aw"), ("megakino", "aw"), ("s.to", "sto")]
)
def test_fields_use_the_originals_prefix_per_site(site: str, prefix: str) -> None:
    magnet = build_magnet(EpisodeIdentity(site, "slug", 1, 2, "German Dub"), NAME)
    keys = [part.split("=", 1)[0] for part in magnet.removeprefix("magnet:?").split("&")]
    assert keys == ["xt", "dn"] + [f"{prefix}_{k}" for k in ("slug", "s", "e", "lang", "site")]
    assert f"{prefix}_site={quote_plus(site)}" in magnet


def test_field_order_and_encoding_match_the_original_byte_for_byte() -> None:
    identity = EpisodeIdentity("aniworld.to", "kaiju-no-8", 1, 5, "German Dub", provider="VOE")
    strm_hash = hashlib.sha1(b"kaiju-no-8|1|5|German Dub|strm", usedforsecurity=False).hexdigest()
    expected = original_magnet(
        [
            ("dn", NAME + " [STRM]"),
            ("aw_slug", "kaiju-no-8"),
            ("aw_s", "1"),
            ("aw_e", "5"),
            ("aw_lang", "German Dub"),
            ("aw_site", "aniworld.to"),
            ("aw_mode", "strm"),
            ("aw_provider", "VOE"),
        ],
        strm_hash,
    )
    assert build_magnet(identity, NAME + " [STRM]", "strm") == expected
    assert "xt=urn:btih:" in expected  # the colon stays literal for Prowlarr/qBittorrent


def test_info_hash_is_the_originals_sha1_of_the_identity() -> None:
    identity = EpisodeIdentity("aniworld.to", "kaiju-no-8", 1, 5, "German Dub")
    assert info_hash(identity) == HASH
    assert (
        info_hash(identity, "strm")
        == hashlib.sha1(b"kaiju-no-8|1|5|German Dub|strm", usedforsecurity=False).hexdigest()
    )


def test_info_hash_is_40_lowercase_hex_and_deterministic() -> None:
    for identity in IDENTITIES:
        for mode in MODES:
            value = info_hash(identity, mode)
            assert re.fullmatch(r"[0-9a-f]{40}", value)
            assert value == info_hash(EpisodeIdentity(**vars(identity)), mode)


def test_hash_differs_per_language_and_mode_but_not_per_provider() -> None:
    base = EpisodeIdentity("aniworld.to", "kaiju-no-8", 1, 5, "German Dub")
    hashes = {
        info_hash(EpisodeIdentity("aniworld.to", "kaiju-no-8", 1, 5, lang)) for lang in LANGUAGES
    }
    assert len(hashes) == len(LANGUAGES)
    assert info_hash(base) != info_hash(base, "strm")
    with_provider = EpisodeIdentity("aniworld.to", "kaiju-no-8", 1, 5, "German Dub", "VOE")
    assert info_hash(with_provider) == info_hash(base)


def test_a_magnet_written_by_the_original_parses() -> None:
    parsed = parse_magnet(VALID)
    assert parsed.hash == HASH
    assert parsed.name == NAME
    assert parsed.identity == EpisodeIdentity("aniworld.to", "kaiju-no-8", 1, 5, "German Dub")
    assert parsed.mode == "download"


def test_original_magnets_without_a_site_field_default_by_prefix() -> None:
    aw = original_magnet(
        [("dn", NAME), ("aw_slug", "x"), ("aw_s", "1"), ("aw_e", "1"), ("aw_lang", "German Dub")],
        HASH,
    )
    sto = original_magnet(
        [
            ("dn", NAME),
            ("sto_slug", "x"),
            ("sto_s", "1"),
            ("sto_e", "1"),
            ("sto_lang", "German Dub"),
        ],
        HASH,
    )
    assert parse_magnet(aw).identity.site == "aniworld.to"
    assert parse_magnet(sto).identity.site == "s.to"


def test_original_megakino_magnet_with_deutsch_label_parses() -> None:
    magnet = original_magnet(
        [
            ("dn", "Some.Film.1080p.WEB.H264.GER-MEGAKINO"),
            ("aw_slug", "some-film"),
            ("aw_s", "1"),
            ("aw_e", "1"),
            ("aw_lang", "Deutsch"),
            ("aw_site", "megakino"),
            ("aw_provider", "VOE"),
        ],
        "a" * 40,
    )
    parsed = parse_magnet(magnet)
    assert parsed.identity == EpisodeIdentity("megakino", "some-film", 1, 1, "German Dub", "VOE")
    assert parsed.hash == "a" * 40  # the hash in the magnet is kept, whatever produced it


def test_the_originals_strm_variant_name_and_mode_parse() -> None:
    magnet = VALID.replace(f"dn={NAME}", f"dn={quote_plus(NAME + ' [STRM]')}") + "&aw_mode=STRM"
    parsed = parse_magnet(magnet)
    assert parsed.mode == "strm"
    assert parsed.name == NAME + " [STRM]"


def test_base32_btih_is_converted_to_hex() -> None:
    b32 = base64.b32encode(bytes.fromhex(HASH)).decode()
    assert len(b32) == 32
    assert parse_magnet(VALID.replace(HASH, b32)).hash == HASH
    assert parse_magnet(VALID.replace(HASH, b32.lower())).hash == HASH


def test_upper_case_hex_btih_is_lowered() -> None:
    assert parse_magnet(VALID.replace(HASH, HASH.upper())).hash == HASH


def test_extra_fields_and_upper_case_scheme_are_tolerated() -> None:
    magnet = VALID.replace("magnet:?", "MAGNET:?") + "&tr=udp%3A%2F%2Ftracker%3A80&xl=123"
    assert parse_magnet(magnet).hash == HASH


def test_percent_encoded_xt_is_accepted() -> None:
    assert parse_magnet(VALID.replace("urn:btih:", "urn%3Abtih%3A")).hash == HASH


def test_magnet_error_is_a_value_error() -> None:
    assert issubclass(MagnetError, ValueError)


LONG = "x" * (MAX_VALUE_BYTES + 1)


@pytest.mark.parametrize(
    ("magnet", "message"),
    [
        ("", "not a magnet URI"),
        ("http://example.com/a.torrent", "not a magnet URI"),
        (VALID.replace(f"xt=urn:btih:{HASH}&", ""), "missing xt"),
        (VALID.replace("urn:btih:", "urn:sha1:"), "not a BitTorrent info hash"),
        (VALID.replace(HASH, HASH[:39]), "wrong length"),
        (VALID.replace(HASH, HASH + "00"), "wrong length"),
        (VALID.replace(HASH, "z" * 40), "not valid hex"),
        (VALID.replace(HASH, "1" * 32), "not valid base32"),
        (VALID + "&xt=urn:btih:" + "b" * 40, "more than one different urn:btih"),
        (VALID.replace("&aw_slug=kaiju-no-8", ""), "missing aw_slug"),
        (VALID.replace("&aw_s=1", ""), "missing aw_s"),
        (VALID.replace("&aw_e=5", ""), "missing aw_e"),
        (VALID.replace("&aw_lang=German+Dub", ""), "missing aw_lang"),
        (VALID.replace(f"&dn={NAME}", ""), "missing dn"),
        (VALID.replace(f"dn={NAME}", "dn="), "dn .release name. is empty"),
        (VALID.replace("aw_s=1", "aw_s=one"), "aw_s .season. is not a number"),
        (VALID.replace("aw_e=5", "aw_e=-5"), "aw_e .episode. is not a number"),
        (VALID.replace("aw_e=5", "aw_e=5.5"), "not a number"),
        (VALID.replace("aw_s=1", "aw_s=1000"), "aw_s .season. 1000 is out of range"),
        (VALID.replace("aw_e=5", "aw_e=" + "9" * 40), "out of range"),
        (VALID.replace("German+Dub", "Klingon"), "aw_lang: unknown language"),
        (VALID.replace("aw_site=aniworld.to", "aw_site=example.com"), "aw_site: unknown site"),
        (VALID.replace(f"dn={NAME}", "dn=" + LONG), "too long"),
        (VALID.replace("aw_slug=kaiju-no-8", "aw_slug=" + LONG), "too long"),
        (VALID + "&" + LONG + "=1", "field name is too long"),
        (VALID.replace(f"dn={NAME}", "dn=..%2F..%2Fetc"), "path separator"),
        (VALID.replace(f"dn={NAME}", "dn=a%5Cb"), "path separator"),
        (VALID.replace(f"dn={NAME}", "dn=Title..S01E05"), "path separator"),
        (VALID.replace("aw_slug=kaiju-no-8", "aw_slug=..%2Fkaiju"), "aw_slug: .*path separator"),
        (VALID.replace("aw_slug=kaiju-no-8", "aw_slug=a%2Fb"), "path separator"),
        (VALID.replace("aw_site=aniworld.to", "sto_site=s.to"), "mixes aw_ and sto_"),
        (VALID + "&aw_slug=other", "aw_slug appears 2 times"),
        (VALID + "&aw_mode=bogus", "aw_mode 'bogus' is unknown"),
        (VALID + "&aw_provider=%3Cscript%3E", "aw_provider: provider"),
        (VALID.replace(f"dn={NAME}", "dn=%FF%FE"), "not valid UTF-8"),
        (VALID.replace(f"dn={NAME}", "dn=a%00b"), "control characters"),
        (VALID + "&x=" + "y" * 20000, "magnet is too long"),
        ("magnet:?" + "&".join(f"f{i}=1" for i in range(100)), "too many fields"),
        ("magnet:?xt=urn:btih:" + HASH + "&dn=x", "missing aw_slug"),
    ],
)
def test_malformed_magnets_say_what_is_wrong(magnet: str, message: str) -> None:
    with pytest.raises(MagnetError, match=message):
        parse_magnet(magnet)


def test_non_text_input_is_a_magnet_error() -> None:
    with pytest.raises(MagnetError, match="must be text"):
        parse_magnet(VALID.encode())  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", "   ", "a/b", "a\\b", "..", "x..y", "a\x00b", LONG])
def test_build_refuses_names_parse_would_reject(name: str) -> None:
    identity = EpisodeIdentity("aniworld.to", "kaiju-no-8", 1, 5, "German Dub")
    with pytest.raises(MagnetError):
        build_magnet(identity, name)


def test_build_refuses_an_unknown_mode() -> None:
    identity = EpisodeIdentity("aniworld.to", "kaiju-no-8", 1, 5, "German Dub")
    with pytest.raises(MagnetError, match="mode"):
        build_magnet(identity, NAME, "stream")  # type: ignore[arg-type]


def _parse_or_magnet_error(text: str) -> None:
    with contextlib.suppress(MagnetError):
        parse_magnet(text)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parse_raises_only_magnet_error_for_any_text(text: str) -> None:
    _parse_or_magnet_error(text)


_FIELD_KEYS = st.sampled_from(
    [
        "xt",
        "dn",
        "aw_slug",
        "aw_s",
        "aw_e",
        "aw_lang",
        "aw_site",
        "aw_mode",
        "aw_provider",
        "sto_slug",
        "tr",
        "",
    ]
)
_FIELD_VALUES = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "urn:btih:" + HASH,
            "urn:btih:" + "A" * 32,
            "German Dub",
            "1",
            "-1",
            "strm",
            "%ff",
            "%2F..",
        ]
    ),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(_FIELD_KEYS, _FIELD_VALUES), max_size=12))
def test_parse_raises_only_magnet_error_for_magnet_shaped_junk(
    fields: list[tuple[str, str]],
) -> None:
    _parse_or_magnet_error("magnet:?" + "&".join(f"{key}={value}" for key, value in fields))


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(VALID)), st.text(min_size=1, max_size=8))
def test_parse_raises_only_magnet_error_for_corrupted_magnets(position: int, junk: str) -> None:
    _parse_or_magnet_error(VALID[:position] + junk + VALID[position:])


@settings(max_examples=200, deadline=None)
@given(
    slug=st.from_regex(r"[a-z0-9][a-z0-9-]{0,40}", fullmatch=True),
    season=st.integers(min_value=0, max_value=999),
    episode=st.integers(min_value=0, max_value=9999),
    language=st.sampled_from(LANGUAGES),
    site=st.sampled_from(["aniworld.to", "s.to", "megakino"]),
    mode=st.sampled_from(MODES),
    name=st.text(min_size=1, max_size=80).filter(
        lambda n: n.strip() and "/" not in n and "\\" not in n and ".." not in n
    ),
)
def test_any_valid_identity_round_trips(
    slug: str, season: int, episode: int, language: str, site: str, mode: Mode, name: str
) -> None:
    identity = EpisodeIdentity(site, slug, season, episode, language)
    try:
        magnet = build_magnet(identity, name, mode)
    except MagnetError:
        return  # names with control characters are refused on both sides
    parsed = parse_magnet(magnet)
    assert (parsed.identity, parsed.mode, parsed.hash) == (
        identity,
        mode,
        info_hash(identity, mode),
    )
    assert parsed.name == name
