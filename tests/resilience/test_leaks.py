"""Small leaks: the Torznab feed's self link (API key, Host header) and STRM proxy tokens
in log lines (a token holds the CDN's URL and the CDN's own token).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from django.conf import settings
from django.test import Client
from gunicorn.config import Config as GunicornConfig

from anibridge_site.gunicorn_log import AccessLogger
from catalog.egress.hls import Locator
from catalog.identity import EpisodeIdentity
from strm import proxy
from strm.signing import ProxyToken, encode_token, generation_of
from strm.stream_urls import proxy_prefix
from tests.fakeweb.server import Response
from tests.resilience.record import record
from tests.strm_helpers import Origin, WsgiClient, get, store_resolution, use_proxy_config

pytestmark = pytest.mark.django_db

INDEXER_KEY = "indexer-key-77aa01"
IDENTITY = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "VOE")


def test_the_torznab_self_link_has_no_api_key_and_ignores_the_host_header(
    fake_sites: Any, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        settings, "CONFIG", dataclasses.replace(settings.CONFIG, indexer_api_key=INDEXER_KEY)
    )
    queries = [
        {"t": "search", "apikey": INDEXER_KEY},
        {"t": "tvsearch", "cat": "5030,5070", "APIKEY": INDEXER_KEY, "apikey": INDEXER_KEY},
        {"t": "tvsearch", "extended": "1", "apikey": INDEXER_KEY, "offset": "0", "limit": "100"},
    ]
    links = []
    for query in queries:
        response = client.get("/torznab/api", query, HTTP_HOST="attacker.example:8443")
        assert response.status_code == 200, response.content[:300]
        link = ET.fromstring(response.content).find("channel/{http://www.w3.org/2005/Atom}link")
        assert link is not None
        links.append(link.get("href", ""))
    for href in links:
        assert href.startswith("/torznab/api?t="), href
        assert INDEXER_KEY not in href and "attacker" not in href and "apikey" not in href.lower()
    assert "extended=1&offset=0&limit=100" in links[2]  # the rest of the query stays
    record(
        "Torznab self link",
        len(queries),
        "atom:link relative (Host header not used) and without the apikey",
    )


@pytest.fixture
def origin(fake_sites: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Origin]:
    use_proxy_config(monkeypatch)
    server = Origin()
    server.start()
    yield server
    server.stop()


def _token(origin: Origin) -> str:
    """A genuine token for a segment whose CDN URL carries the CDN's token."""
    url = origin.url("/cdn-token-5f3c9e/seg0.ts")
    store_resolution(IDENTITY, url)
    chain = (Locator("segment", 0, media_sequence=0),)
    return encode_token(ProxyToken(IDENTITY, chain, url, generation_of(url), False))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12]


@pytest.mark.parametrize("front", ["django", "wsgi"])
def test_proxy_tokens_reach_the_log_only_as_digests(
    front: str,
    origin: Origin,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = Client() if front == "django" else WsgiClient()
    token = _token(origin)
    origin.route("/cdn-token-5f3c9e/seg0.ts", lambda _r: Response(500, b"down", "text/plain"))
    answers = {
        "502": get(client, f"{proxy_prefix()}/{token}/seg0.ts")[0],
        "403": get(client, f"{proxy_prefix()}/{token[:-2]}xx/seg0.ts")[0],
        "404": get(client, f"{proxy_prefix()}/{token}/seg0/extra.ts")[0],
    }

    def broken(*args: object, **kwargs: object) -> proxy.Reply:
        raise RuntimeError("a bug")

    monkeypatch.setattr(proxy, "serve_token", broken)
    answers["500"] = get(client, f"{proxy_prefix()}/{token}/seg0.ts")[0]
    assert answers == {"502": 502, "403": 403, "404": 404, "500": 500}
    text = "\n".join(logging.Formatter("%(name)s %(message)s").format(r) for r in caplog.records)
    assert token[:24] not in text and "cdn-token-5f3c9e" not in text, text
    assert f"<token {_digest(token)}>" in text  # the 500 at least, with its traceback
    record(
        f"proxy tokens in logs ({front} front end)",
        len(answers),
        "403/404/500/502 on proxy URLs: logged with a 12-hex digest of the token, never "
        "the token or the CDN URL in it",
    )


def test_the_access_log_shows_proxy_tokens_as_digests(origin: Origin) -> None:
    token = _token(origin)
    logger = AccessLogger(GunicornConfig())
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/x",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "PATH_INFO": f"/strm/proxy/{token}/seg0.ts",
    }

    class Sent:
        status = "200 OK"
        headers: list[tuple[str, str]] = []
        sent = 10

    atoms = logger.atoms(Sent(), [], environ, timedelta(seconds=1))
    assert atoms["U"] == f"/strm/proxy/<token {_digest(token)}>/seg0.ts"
    environ["PATH_INFO"] = "/torznab/api"
    assert logger.atoms(Sent(), [], environ, timedelta(seconds=1))["U"] == "/torznab/api"
