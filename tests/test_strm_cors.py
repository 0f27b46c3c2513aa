"""CORS on the media URLs (strm.cors) through both front ends of the proxy (the Django
views and the plain WSGI path gunicorn serves), and nowhere else; nosniff on every
answer; the settings as the original AniBridge reads them."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from anibridge_site.config import ConfigError, load
from catalog.identity import EpisodeIdentity
from strm.stream_urls import stream_url
from tests.fakeweb import FakeWeb
from tests.strm_helpers import (
    ProxyClient,
    WsgiClient,
    get,
    head,
    local_path,
    proxy_uris,
    use_proxy_config,
)

pytestmark = pytest.mark.django_db

TS = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "VOE")
JELLYFIN = "https://jellyfin.example:8920"
EXPOSED = "Content-Length, Content-Range, Accept-Ranges"


@pytest.fixture(params=["django", "wsgi"])
def client(request: pytest.FixtureRequest) -> ProxyClient:
    return Client() if request.param == "django" else WsgiClient()


@pytest.fixture
def web(fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch) -> FakeWeb:
    use_proxy_config(monkeypatch)
    return fake_sites


def cors(monkeypatch: pytest.MonkeyPatch, origins: tuple[str, ...], credentials: bool) -> None:
    use_proxy_config(monkeypatch, cors_origins=origins, cors_allow_credentials=credentials)


def options(client: ProxyClient, url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    if isinstance(client, WsgiClient):
        response = client._call("OPTIONS", local_path(url), headers)
        return response.status_code, response.headers, response.content
    answer = client.options(local_path(url), headers=headers)
    return answer.status_code, dict(answer.headers), answer.content


def preflight(
    client: ProxyClient, url: str, origin: str = JELLYFIN, **extra: str
) -> tuple[int, dict[str, str], bytes]:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "range",
    }
    return options(client, url, **headers, **extra)


def segment_url(client: ProxyClient) -> str:
    master = get(client, stream_url(TS))[2].decode()
    media = get(client, proxy_uris(master)[-1])[2].decode()
    return proxy_uris(media)[0]


# --- preflight ---------------------------------------------------------------------------


def test_preflight_of_a_ranged_segment_fetch_is_a_204_allowing_get_head_and_range(
    web: FakeWeb, client: ProxyClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    cors(monkeypatch, ("*",), credentials=True)
    for url in (stream_url(TS), segment_url(client)):
        status, headers, body = preflight(client, url)
        assert (status, body) == (204, b"")
        assert headers["Access-Control-Allow-Origin"] == JELLYFIN
        assert headers["Access-Control-Allow-Credentials"] == "true"
        assert headers["Access-Control-Allow-Methods"] == "GET, HEAD"
        assert headers["Access-Control-Allow-Headers"] == "Range, If-Range, Origin"
        assert int(headers["Access-Control-Max-Age"]) > 0
        assert "Origin" in headers["Vary"]
        assert headers["X-Content-Type-Options"] == "nosniff"
    # Answering a preflight needs no valid token: it touches no resource.
    assert preflight(client, "http://testserver/strm/proxy/not-a-token/x.ts")[0] == 204


def test_private_network_preflight_is_allowed_for_an_allowed_origin(
    web: FakeWeb, client: ProxyClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    cors(monkeypatch, (JELLYFIN,), credentials=False)
    status, headers, _ = preflight(
        client, stream_url(TS), **{"Access-Control-Request-Private-Network": "true"}
    )
    assert status == 204 and headers["Access-Control-Allow-Private-Network"] == "true"
    assert "Access-Control-Allow-Private-Network" not in preflight(client, stream_url(TS))[1]


def test_options_without_a_preflight_lists_the_methods(web: FakeWeb, client: ProxyClient) -> None:
    status, headers, _ = options(client, stream_url(TS))
    assert status == 204 and headers["Allow"] == "GET, HEAD, OPTIONS"


# --- which origins ---------------------------------------------------------------------


def test_an_origin_list_echoes_listed_origins_only(
    web: FakeWeb, client: ProxyClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    cors(monkeypatch, ("http://other.example", JELLYFIN), credentials=True)
    status, headers, _ = get(client, stream_url(TS), Origin=JELLYFIN)
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == JELLYFIN
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert headers["Access-Control-Expose-Headers"] == EXPOSED
    assert headers["Vary"] == "Origin"
    status, headers, _ = get(client, stream_url(TS), Origin="https://evil.example")
    assert status == 200 and "Access-Control-Allow-Origin" not in headers
    assert headers["Vary"] == "Origin"  # a cache must not hand this answer to Jellyfin
    status, headers, body = preflight(client, stream_url(TS), origin="https://evil.example")
    assert status == 403 and b"ANIBRIDGE_CORS_ORIGINS" in body
    assert "Access-Control-Allow-Origin" not in headers


def test_off_sends_no_cors_and_refuses_options(
    web: FakeWeb, client: ProxyClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    cors(monkeypatch, (), credentials=True)
    status, headers, _ = get(client, stream_url(TS), Origin=JELLYFIN)
    assert status == 200
    assert not [h for h in headers if h.lower().startswith("access-control-")]
    status, headers, _ = preflight(client, stream_url(TS))
    assert status == 405 and headers["Allow"] == "GET, HEAD"


# --- credentials ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origins", "credentials", "allow_origin", "allow_credentials", "vary"),
    [
        (("*",), False, "*", None, None),
        (("*",), True, JELLYFIN, "true", "Origin"),
        ((JELLYFIN,), False, JELLYFIN, None, "Origin"),
        ((JELLYFIN,), True, JELLYFIN, "true", "Origin"),
    ],
    ids=["any-without", "any-with", "list-without", "list-with"],
)
def test_credentials_never_go_with_a_wildcard(
    web: FakeWeb,
    client: ProxyClient,
    monkeypatch: pytest.MonkeyPatch,
    origins: tuple[str, ...],
    credentials: bool,
    allow_origin: str,
    allow_credentials: str | None,
    vary: str | None,
) -> None:
    cors(monkeypatch, origins, credentials)
    url = segment_url(client)
    for answer in (
        get(client, url, Origin=JELLYFIN, Range="bytes=0-99"),
        head(client, url, Origin=JELLYFIN),
        preflight(client, url),
    ):
        headers = answer[1]
        assert headers["Access-Control-Allow-Origin"] == allow_origin
        assert headers.get("Access-Control-Allow-Credentials") == allow_credentials
        assert headers.get("Vary") == vary
    status, headers, _ = get(client, url, Origin=JELLYFIN, Range="bytes=0-99")
    assert status == 206 and headers["Access-Control-Expose-Headers"] == EXPOSED


def test_a_null_origin_is_never_echoed(
    web: FakeWeb, client: ProxyClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    cors(monkeypatch, ("*",), credentials=True)
    headers = get(client, stream_url(TS), Origin="null")[1]
    assert "Access-Control-Allow-Origin" not in headers


# --- only the media URLs -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/torznab/api?t=caps", "/api/v2/app/version", "/api/strm/", "/admin/login/", "/health"],
)
def test_the_other_apis_keep_no_cors(web: FakeWeb, path: str) -> None:
    client = Client()
    for answer in (
        client.get(path, headers={"Origin": JELLYFIN}),
        client.options(path, headers={"Origin": JELLYFIN, "Access-Control-Request-Method": "GET"}),
    ):
        assert not [h for h in answer.headers if h.lower().startswith("access-control-")], path


# --- nosniff -------------------------------------------------------------------------------


def test_every_proxy_answer_says_nosniff(web: FakeWeb, client: ProxyClient) -> None:
    answers = [
        get(client, stream_url(TS)),  # playlist
        get(client, segment_url(client)),  # media
        head(client, segment_url(client)),
        get(client, "http://testserver/strm/stream?site=x"),  # 400
        get(client, "http://testserver/strm/proxy/not-a-token/x.ts"),  # 403
    ]
    posted = client.post(local_path(stream_url(TS)))  # 405
    answers.append((posted.status_code, dict(posted.headers), b""))
    for status, headers, _ in answers:
        assert headers["X-Content-Type-Options"] == "nosniff", status


# --- the settings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "origins"),
    [
        ("", ("*",)),
        ("*", ("*",)),
        ("off", ()),
        ("None", ()),
        (
            "https://Jellyfin.example:8920/, http://nas:80,https://[::1]:443",
            ("https://jellyfin.example:8920", "http://nas", "https://[::1]"),
        ),
    ],
)
def test_cors_origins_setting_reads_like_the_originals(
    tmp_path: Path, value: str, origins: tuple[str, ...]
) -> None:
    cfg = load(
        {"DATA_DIR": str(tmp_path), "ANIBRIDGE_CORS_ORIGINS": value}, env_file=tmp_path / "none"
    )
    assert cfg.cors_origins == origins
    assert cfg.cors_allow_credentials is True


@pytest.mark.parametrize("value", ["jellyfin.example", "https://jf.example/web", "*, https://a.b"])
def test_a_cors_origin_that_is_no_origin_stops_start_up(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="ANIBRIDGE_CORS_ORIGINS"):
        load(
            {"DATA_DIR": str(tmp_path), "ANIBRIDGE_CORS_ORIGINS": value}, env_file=tmp_path / "none"
        )


def test_trusted_proxies_setting_takes_addresses_and_networks(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path), "ANIBRIDGE_TRUSTED_PROXIES": "127.0.0.1, 172.16.0.0/12,::1"}
    cfg = load(env, env_file=tmp_path / "none")
    assert [str(n) for n in cfg.trusted_proxies] == [
        "127.0.0.1/32",
        "172.16.0.0/12",
        "::1/128",
    ]
    with pytest.raises(ConfigError, match="ANIBRIDGE_TRUSTED_PROXIES"):
        load({**env, "ANIBRIDGE_TRUSTED_PROXIES": "caddy"}, env_file=tmp_path / "none")
