"""strm.signing and strm.stream_urls: the entry URL of a .strm file and the proxy tokens
(STRM-PROXY.md: required behaviour 1 and 3, case 13's tampering half)."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.test import Client

from catalog.egress.hls import Locator
from catalog.identity import EpisodeIdentity
from strm import signing
from strm.signing import BadToken, ProxyToken, decode_token, encode_token
from strm.stream_urls import identity_from_query, stream_url
from tests.strm_helpers import get, use_proxy_config

IDENTITY = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 2, "German Dub", "VOE")
CHAIN = (
    Locator("variant", 1, identity=(("RESOLUTION", "640x360"), ("BANDWIDTH", "300000"))),
    Locator("segment", 7, media_sequence=7),
)


def token(url: str | None = "https://cdn.example/t/abc/hls/360p/seg7.ts") -> ProxyToken:
    return ProxyToken(IDENTITY, CHAIN, url, "gen12345", playlist=False)


@pytest.fixture(autouse=True)
def proxy_config(monkeypatch: pytest.MonkeyPatch) -> None:
    use_proxy_config(monkeypatch)


def test_stream_url_is_stable_signed_and_parses_back() -> None:
    url = stream_url(IDENTITY)
    assert url == stream_url(IDENTITY)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://testserver/strm/stream"
    query = dict(parse_qsl(parts.query))
    assert list(query) == ["site", "slug", "s", "e", "lang", "provider", "sig"]
    assert identity_from_query(query) == IDENTITY
    assert signing.entry_authorized(IDENTITY, query)


def test_signature_covers_every_field_of_the_identity() -> None:
    query = dict(parse_qsl(urlsplit(stream_url(IDENTITY)).query))
    changes: list[dict[str, Any]] = [
        {"episode": 3},
        {"season": 2},
        {"provider": None},
        {"slug": "x"},
    ]
    for change in changes:
        other = dataclasses.replace(IDENTITY, **change)
        assert not signing.entry_authorized(other, query)
    assert not signing.entry_authorized(IDENTITY, {**query, "sig": query["sig"][:-1] + "A"})
    assert not signing.entry_authorized(IDENTITY, {k: v for k, v in query.items() if k != "sig"})


def test_aliases_in_the_query_verify_against_the_canonical_identity() -> None:
    query = dict(parse_qsl(urlsplit(stream_url(IDENTITY)).query))
    assert identity_from_query({**query, "lang": "ger", "site": "aniworld"}) == IDENTITY


def test_another_secret_invalidates_signatures(monkeypatch: pytest.MonkeyPatch) -> None:
    query = dict(parse_qsl(urlsplit(stream_url(IDENTITY)).query))
    text = encode_token(token())
    use_proxy_config(monkeypatch, strm_proxy_secret="another-secret")
    assert not signing.entry_authorized(IDENTITY, query)
    with pytest.raises(BadToken):
        decode_token(text)


def test_apikey_and_none_modes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_proxy_config(monkeypatch, strm_proxy_auth="apikey")
    query = dict(parse_qsl(urlsplit(stream_url(IDENTITY)).query))
    # A key derived from the secret, not the secret; files written before hold the
    # secret itself, and they keep working.
    assert query["apikey"] == signing.apikey() and "sig" not in query
    assert "strm-test-secret" not in query["apikey"]
    assert signing.entry_authorized(IDENTITY, query)
    assert signing.entry_authorized(IDENTITY, {**query, "apikey": "strm-test-secret"})
    assert not signing.entry_authorized(IDENTITY, {**query, "apikey": "guess"})
    use_proxy_config(monkeypatch, strm_proxy_auth="apikey", strm_proxy_secret="")
    assert not signing.entry_authorized(IDENTITY, {**query, "apikey": ""})
    use_proxy_config(monkeypatch, strm_proxy_auth="none")
    query = dict(parse_qsl(urlsplit(stream_url(IDENTITY)).query))
    assert "sig" not in query and "apikey" not in query
    assert signing.entry_authorized(IDENTITY, query)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"site": "aniworld.to", "slug": "x", "s": "1", "e": "1"}, "missing"),
        ({"site": "nope", "slug": "x", "s": "1", "e": "1", "lang": "ger"}, "unknown site"),
        ({"site": "s.to", "slug": "../etc", "s": "1", "e": "1", "lang": "ger"}, "slug"),
        ({"site": "s.to", "slug": "x", "s": "-1", "e": "1", "lang": "ger"}, "s="),
        ({"site": "s.to", "slug": "x", "s": "1", "e": "\u0661", "lang": "ger"}, "e="),
    ],
)
def test_bad_entry_queries_say_what_is_wrong(query: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        identity_from_query(query)


@pytest.mark.django_db
def test_entry_view_refuses_bad_queries_and_signatures() -> None:
    client = Client()
    status, _, body = get(client, "/strm/stream?site=aniworld.to&slug=x&s=1&e=1")
    assert status == 400 and b"missing" in body
    url = stream_url(IDENTITY).replace("e=2", "e=3")
    status, _, body = get(client, url)
    assert status == 403 and b"signature" in body
    assert client.post(url).status_code == 405


# --- proxy tokens ------------------------------------------------------------------------------


def test_token_round_trips_within_its_lifetime() -> None:
    text = encode_token(token())
    assert decode_token(text) == token()
    assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert decode_token(encode_token(token(None))) == token(None)


def test_token_stays_small_with_a_long_cdn_url() -> None:
    long_url = "https://cdn.example/t/" + "x" * 1500 + "/seg7.ts?sig=" + "y" * 500
    text = encode_token(token(long_url))
    assert len(text) < 1500  # deflate folds the repetition; real URLs stay far below 4096
    assert decode_token(text).url == long_url


def test_a_url_too_long_for_ffmpeg_is_left_out_of_the_token() -> None:
    import secrets

    huge = "https://cdn.example/" + secrets.token_urlsafe(4000)  # incompressible
    text = encode_token(token(huge))
    assert len(text) <= signing.MAX_TOKEN_CHARS
    assert decode_token(text).url is None  # found again by walking the locator chain


def test_any_changed_character_makes_a_token_invalid() -> None:
    text = encode_token(token())
    for position, char in enumerate(text):
        for replacement in {"A", "B", "-", "."} - {char}:
            with pytest.raises(BadToken):
                decode_token(text[:position] + replacement + text[position + 1 :])


@pytest.mark.parametrize("text", ["", ".", "abc", "a.b.c", "!!!.???", "x" * 5000 + ".y"])
def test_garbage_tokens_are_refused(text: str) -> None:
    with pytest.raises(BadToken):
        decode_token(text)


def test_an_identity_signature_is_not_a_token_signature() -> None:
    # Keys are derived per purpose: a signed identity cannot be replayed as a token.
    body = encode_token(token()).split(".")[0]
    forged = f"{body}.{signing.sign_identity(IDENTITY)}"
    with pytest.raises(BadToken):
        decode_token(forged)


@pytest.mark.django_db
def test_tampered_token_gets_403_from_the_proxy_view() -> None:
    text = encode_token(token())
    tampered = text[:10] + ("A" if text[10] != "A" else "B") + text[11:]
    status, _, body = get(Client(), f"/strm/proxy/{tampered}/seg7.ts")
    assert status == 403 and b"signature" in body
