"""Playlist URIs behind a TLS reverse proxy (strm.public_url): X-Forwarded-Proto/-Host
count only from ANIBRIDGE_TRUSTED_PROXIES; through both front ends of the proxy."""

from __future__ import annotations

import ipaddress

import pytest
from django.test import Client

from catalog.identity import EpisodeIdentity
from strm.stream_urls import stream_url
from tests.fakeweb import FakeWeb
from tests.strm_helpers import ProxyClient, WsgiClient, get, proxy_uris, use_proxy_config

pytestmark = pytest.mark.django_db

TS = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "VOE")
MEDIA = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "Vidoza")
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "anibridge.example:8443"}


@pytest.fixture(params=["django", "wsgi"])
def client(request: pytest.FixtureRequest) -> ProxyClient:
    return Client() if request.param == "django" else WsgiClient()


@pytest.fixture
def web(fake_sites: FakeWeb) -> FakeWeb:
    return fake_sites


def uris(client: ProxyClient, url: str, **headers: str) -> list[str]:
    status, _, body = get(client, url, **headers)
    assert status == 200, body
    return proxy_uris(body.decode())


def test_a_trusted_proxy_sets_scheme_and_host_of_every_uri(
    web: FakeWeb, client: ProxyClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_proxy_config(monkeypatch, trusted_proxies=LOOPBACK)
    variants = uris(client, stream_url(TS), **FORWARDED)
    assert variants and all(
        v.startswith("https://anibridge.example:8443/strm/proxy/") for v in variants
    )
    segments = uris(client, variants[0], **FORWARDED)
    assert segments and all(
        s.startswith("https://anibridge.example:8443/strm/proxy/") for s in segments
    )
    # The same URLs asked directly (no proxy in between) get the configured base.
    assert all(s.startswith("http://testserver/strm/proxy/") for s in uris(client, variants[0]))


def test_forwarded_headers_from_anyone_else_are_ignored(
    web: FakeWeb, client: ProxyClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for trusted in ((), (ipaddress.ip_network("10.0.0.0/8"),)):
        use_proxy_config(monkeypatch, trusted_proxies=trusted)
        variants = uris(client, stream_url(TS), **FORWARDED)
        assert all(v.startswith("http://testserver/strm/proxy/") for v in variants), trusted


@pytest.mark.parametrize(
    ("headers", "base"),
    [
        ({"X-Forwarded-Proto": "https", "Host": "jf.example"}, "https://jf.example"),  # Host kept
        (
            {"X-Forwarded-Proto": "http, https", "X-Forwarded-Host": "a.example, b.example"},
            "https://b.example",
        ),
        ({"X-Forwarded-Host": "[::1]:8443"}, "http://[::1]:8443"),
        ({"X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "a.example"}, "http://nas:8000"),
        ({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example/x?"}, "http://nas:8000"),
        ({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "a@evil.example"}, "http://nas:8000"),
    ],
)
def test_what_a_trusted_proxy_says_is_checked(
    web: FakeWeb,
    client: ProxyClient,
    monkeypatch: pytest.MonkeyPatch,
    headers: dict[str, str],
    base: str,
) -> None:
    use_proxy_config(monkeypatch, trusted_proxies=LOOPBACK, strm_public_base_url="http://nas:8000")
    variants = uris(client, stream_url(TS), **headers)
    assert variants and all(v.startswith(f"{base}/strm/proxy/") for v in variants), variants


def test_a_path_prefix_of_the_public_url_is_kept(
    web: FakeWeb, client: ProxyClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_proxy_config(
        monkeypatch,
        trusted_proxies=LOOPBACK,
        strm_public_base_url="http://testserver/anibridge",
    )
    entry = stream_url(TS).replace("/anibridge", "", 1)  # the test client has no prefix
    body = get(client, entry, **FORWARDED)[2].decode()
    variants = [line for line in body.splitlines() if line and not line.startswith("#")]
    assert variants and all(
        v.startswith("https://anibridge.example:8443/anibridge/strm/proxy/") for v in variants
    )


def test_the_synthetic_master_points_at_the_forwarded_host_too(
    web: FakeWeb, client: ProxyClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_proxy_config(monkeypatch, trusted_proxies=LOOPBACK)
    from tests.strm_helpers import store_resolution

    store_resolution(TS, web.cdn.sign("hls/ts/360p/index.m3u8"))
    (media,) = uris(client, stream_url(TS), **FORWARDED)
    assert media.startswith("https://anibridge.example:8443/strm/proxy/")
    assert media.endswith("/index.m3u8")
