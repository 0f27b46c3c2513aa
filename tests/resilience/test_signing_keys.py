"""Signing keys of the STRM proxy (strm.signing): one key per purpose, none of them
computable from what a .strm file holds; token expiry that ends a token's URL but not
the playback; .strm files written before these keys still play; key rotation.

Only 127.0.0.1 is contacted: an origin for the episode and a bait server that counts
the connections a forged or expired token could make the proxy open.
"""

from __future__ import annotations

import base64
import hmac
import json
import time
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.conf import settings
from django.test import Client

from catalog.egress.hls import Locator
from catalog.identity import EpisodeIdentity
from strm import signing
from strm.signing import BadToken, ProxyToken, decode_token, encode_token, generation_of
from strm.stream_urls import proxy_prefix, stream_url
from tests.resilience.record import record
from tests.strm_helpers import SECRET, Listener, Origin, get, store_resolution, use_proxy_config

pytestmark = pytest.mark.django_db

IDENTITY = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "VOE")
# Made by the code before the keys were separated (STRM_PROXY_SECRET=strm-test-secret):
# .strm files in users' libraries hold exactly these.
WRITTEN_BEFORE = {
    "token": [
        "http://testserver/strm/stream?site=aniworld.to&slug=kaiju-academy&s=1&e=1"
        "&lang=German+Dub&provider=VOE&sig=QPdNtu6-dHfLWW7F9qCIuHa2AZQ9K0AA18zPEUPKIv4",
        "http://testserver/strm/stream?site=s.to&slug=moonlit-blade&s=2&e=13"
        "&lang=German+Sub&sig=5cUdTdmxnipfliSzQPZ7NiP0qMtqD4LqyrCC8hNYQ4g",
    ],
    "apikey": [
        "http://testserver/strm/stream?site=aniworld.to&slug=kaiju-academy&s=1&e=1"
        "&lang=German+Dub&provider=VOE&apikey=strm-test-secret",
    ],
}
SEGMENT = b"\x47" + bytes(range(187)) * 10
MASTER = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=500000,RESOLUTION=640x360\n/media.m3u8\n"


def media_playlist(segment_url: str) -> bytes:
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:4", "#EXT-X-MEDIA-SEQUENCE:0"]
    lines += ["#EXTINF:4,", segment_url, "#EXT-X-ENDLIST", ""]
    return "\n".join(lines).encode()


@pytest.fixture
def origin(fake_sites: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Origin]:
    """The episode's origin; any re-resolve would go to the fake sites, on loopback."""
    use_proxy_config(monkeypatch)
    server = Origin()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def bait() -> Iterator[Listener]:
    """Where a forged or expired token points: allow-listed, so only the keys stop it."""
    listener = Listener("127.0.0.1")
    yield listener
    listener.close()


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(payload: dict[str, Any], key: bytes) -> str:
    """A token as the proxy encodes them, signed with `key`: what someone who read the
    format (it is open source) and holds `key` could make."""
    packed = json.dumps(payload, separators=(",", ":")).encode()
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = _b64(compressor.compress(packed) + compressor.flush())
    return f"{body}.{_b64(hmac.digest(key, body.encode(), 'sha256'))}"


# --- .strm files written before -------------------------------------------------------------


def test_strm_files_written_before_the_key_split_still_play(
    origin: Origin, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_resolution(IDENTITY, origin.serve("/v.ts", SEGMENT, "video/mp2t"))
    for mode, urls in WRITTEN_BEFORE.items():
        use_proxy_config(monkeypatch, strm_proxy_auth=mode)
        for url in urls:
            assert signing.entry_authorized(_identity(url), _query(url)), url
        status, _, body = get(client, urls[0])
        assert (status, body) == (200, SEGMENT), mode
        # New files carry the derived value; the secret itself is in none of them.
        assert SECRET not in stream_url(IDENTITY)
    record(
        "STRM URLs written before the key split",
        3,
        "2 signed entry URLs and 1 apikey URL made by the previous code: all verify and play",
    )


def _identity(url: str) -> EpisodeIdentity:
    from strm.stream_urls import identity_from_query

    return identity_from_query(_query(url))


# --- tokens: no key a .strm file gives away --------------------------------------------------


def test_a_strm_holder_cannot_mint_a_proxy_token(
    origin: Origin, bait: Listener, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_proxy_config(monkeypatch, strm_proxy_auth="apikey")
    store_resolution(IDENTITY, origin.serve("/index.m3u8", MASTER, "application/x-mpegurl"))
    held = [SECRET, _query(stream_url(IDENTITY))["apikey"]]  # old files, new files
    keys = [
        derived
        for value in held
        for derived in (
            value.encode(),
            hmac.digest(value.encode(), b"anibridge.strm.token", "sha256"),  # the old token key
            hmac.digest(value.encode(), b"anibridge.strm.stream", "sha256"),
            hmac.digest(value.encode(), b"anibridge.strm.apikey", "sha256"),
        )
    ]
    forged = []
    for version in (1, 2):
        payload = {
            "v": version,
            "i": ["aniworld.to", "kaiju-academy", 1, 1, "German Dub", "VOE"],
            "c": [Locator("segment", 0, media_sequence=0).to_dict()],
            "g": generation_of(origin.url("/index.m3u8")),
            "p": 0,
            "u": bait.url("/anywhere.ts"),
        }
        forged += [forge(payload, key) for key in keys]
    for token in forged:
        status, _, body = get(client, f"{proxy_prefix()}/{token}/seg.ts")
        assert status == 403, body
    assert bait.accepted == 0
    assert origin.traffic.total("origin") == 0  # refused before any upstream request
    record(
        "proxy tokens minted from a .strm file's secret or apikey",
        len(forged),
        "tokens signed with the STRM secret, the apikey or keys derived from them (old "
        "and new token format): all 403, 0 upstream connections",
    )


def test_tokens_need_the_servers_own_key_too(monkeypatch: pytest.MonkeyPatch) -> None:
    use_proxy_config(monkeypatch)
    text = encode_token(ProxyToken(IDENTITY, (), "http://127.0.0.1/x.ts", "g", False))
    assert decode_token(text).url == "http://127.0.0.1/x.ts"
    monkeypatch.setattr(settings, "SECRET_KEY", settings.SECRET_KEY + "-rotated")
    with pytest.raises(BadToken):
        decode_token(text)


# --- expiry --------------------------------------------------------------------------------


def test_a_token_names_its_url_only_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    use_proxy_config(monkeypatch, strm_proxy_token_ttl_seconds=900)
    chain = (Locator("segment", 3, media_sequence=3),)
    token = ProxyToken(IDENTITY, chain, "http://cdn.example/seg3.ts", "gen", False)
    issued = 1_800_000_000.0
    text = encode_token(token, now=issued)
    assert decode_token(text, now=issued + 899) == token
    expired = decode_token(text, now=issued + 901)
    assert expired.url is None  # what it still names: the episode and where in it
    assert (expired.identity, expired.chain, expired.generation) == (IDENTITY, chain, "gen")
    use_proxy_config(monkeypatch, strm_proxy_token_ttl_seconds=0)
    assert decode_token(encode_token(token, now=issued), now=issued + 10**9) == token


def test_an_expired_token_never_reaches_its_url_and_playback_goes_on(
    origin: Origin, bait: Listener, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_proxy_config(monkeypatch, strm_proxy_token_ttl_seconds=1)
    origin.serve("/media.m3u8", media_playlist(bait.url("/seg0.ts")), "application/x-mpegurl")
    store_resolution(IDENTITY, origin.serve("/index.m3u8", MASTER, "application/x-mpegurl"))
    status, _, master = get(client, stream_url(IDENTITY))
    assert status == 200
    status, _, media = get(client, master.decode().strip().splitlines()[-1])
    assert status == 200
    segment = media.decode().strip().splitlines()[-2]
    assert decode_token(segment.split("/")[-2]).url == bait.url("/seg0.ts")
    # The CDN moved the segment meanwhile; the token still names the old place.
    origin.serve("/seg0.ts", SEGMENT, "video/mp2t")
    origin.serve("/media.m3u8", media_playlist(origin.url("/seg0.ts")), "application/x-mpegurl")
    time.sleep(2.1)  # past the TTL (whole seconds)
    status, _, body = get(client, segment)
    assert (status, body) == (200, SEGMENT)
    assert bait.accepted == 0
    record(
        "expired proxy tokens",
        1,
        "past STRM_PROXY_TOKEN_TTL_SECONDS a token's URL is never fetched (0 connections "
        "to it); the segment is found again in the current playlists and served whole",
    )


# --- rotation ------------------------------------------------------------------------------


def test_a_new_secret_signs_and_the_former_one_verifies_until_it_is_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_proxy_config(monkeypatch, strm_proxy_secret="secret-a")
    entry_a = _query(stream_url(IDENTITY))
    apikey_a = signing.apikey()
    token_a = encode_token(ProxyToken(IDENTITY, (), "http://127.0.0.1/x.ts", "g", False))

    use_proxy_config(
        monkeypatch, strm_proxy_secret="secret-b", strm_proxy_secret_fallbacks=("secret-a",)
    )
    entry_b = _query(stream_url(IDENTITY))
    assert entry_b["sig"] != entry_a["sig"]  # new files get the new secret's signature
    assert signing.entry_authorized(IDENTITY, entry_a) and signing.entry_authorized(
        IDENTITY, entry_b
    )
    assert decode_token(token_a).url == "http://127.0.0.1/x.ts"
    use_proxy_config(
        monkeypatch,
        strm_proxy_auth="apikey",
        strm_proxy_secret="secret-b",
        strm_proxy_secret_fallbacks=("secret-a",),
    )
    for key in (apikey_a, "secret-a", signing.apikey()):
        assert signing.entry_authorized(IDENTITY, {"apikey": key}), key

    use_proxy_config(monkeypatch, strm_proxy_secret="secret-b", strm_proxy_secret_fallbacks=())
    assert not signing.entry_authorized(IDENTITY, entry_a)
    assert signing.entry_authorized(IDENTITY, entry_b)
    with pytest.raises(BadToken):
        decode_token(token_a)
    use_proxy_config(monkeypatch, strm_proxy_auth="apikey", strm_proxy_secret="secret-b")
    assert not signing.entry_authorized(IDENTITY, {"apikey": apikey_a})
    assert not signing.entry_authorized(IDENTITY, {"apikey": "secret-a"})
    record(
        "STRM key rotation",
        3,
        "with the former secret in STRM_PROXY_SECRET_FALLBACKS its entry URLs, apikeys and "
        "tokens verify; new ones use the new secret; dropped, all three are refused",
    )


def test_each_purpose_has_its_own_key(monkeypatch: pytest.MonkeyPatch) -> None:
    use_proxy_config(monkeypatch, strm_proxy_auth="apikey")
    apikey = signing.apikey()
    signature = signing.sign_identity(IDENTITY)
    body = encode_token(ProxyToken(IDENTITY, (), "http://127.0.0.1/x.ts", "g", False))
    body = body.split(".")[0]
    assert apikey != signature and SECRET not in apikey
    for made_with in (apikey, signature, SECRET):
        key = made_with.encode()
        tag = _b64(hmac.digest(key, body.encode(), "sha256"))
        with pytest.raises(BadToken):
            decode_token(f"{body}.{tag}")
    assert not signing.entry_authorized(IDENTITY, {"apikey": signature})
