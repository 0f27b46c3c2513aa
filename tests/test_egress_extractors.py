"""The `aniworld` package's extractors that bypass its routed session (bare
`niquests.get`, curl_cffi) are brought under the same proxy decision and address check."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from django.conf import settings

from catalog import curl_fetch
from catalog.egress import ssrf
from tests.fakeweb import FakeWeb
from tests.fakeweb.proxies import HttpProxy, Socks5Proxy


def _configure(monkeypatch: pytest.MonkeyPatch, **fields: Any) -> None:
    monkeypatch.setattr(settings, "CONFIG", dataclasses.replace(settings.CONFIG, **fields))


def test_every_extractor_module_fetches_through_our_routes(aniworld_web: FakeWeb) -> None:
    from aniworld.extractors.provider import doodstream, gupload, megakino, moflixclick, vidara, voe

    for module in (gupload, moflixclick, vidara):
        assert isinstance(module.requests, curl_fetch.CheckedCurlRequests), module.__name__
    for module in (doodstream, megakino):
        assert type(module.niquests).__name__ == "_SharedSessionNiquests", module.__name__
    assert voe._voe_get is curl_fetch.voe_get


@pytest.mark.parametrize("proxy_cls", [HttpProxy, Socks5Proxy])
def test_curl_sessions_of_extractors_go_through_the_proxy(
    proxy_cls: type[HttpProxy] | type[Socks5Proxy],
    aniworld_web: FakeWeb,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aniworld.extractors.provider import vidara

    url = aniworld_web.url("vidmoly", "/")
    with proxy_cls() as proxy:
        _configure(monkeypatch, http_proxy=proxy.url)
        session = vidara.requests.Session(impersonate="chrome124")
        response = session.get(url, timeout=10)
        assert response.status_code in (200, 404)
        assert proxy.targets() == [f"127.0.0.1:{aniworld_web.servers['vidmoly'].port}"]


def test_curl_fetches_refuse_a_private_address_without_connecting(
    aniworld_web: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aniworld.extractors.provider import gupload

    _configure(monkeypatch, strm_proxy_upstream_allowlist=())
    with pytest.raises(ssrf.BlockedTarget, match=r"127\.0\.0\.1"):
        gupload.requests.get(aniworld_web.url("vidmoly", "/e/x"), timeout=5)
    assert aniworld_web.counts.total("vidmoly") == 0
    with HttpProxy() as proxy:
        _configure(monkeypatch, http_proxy=proxy.url, strm_proxy_upstream_allowlist=())
        with pytest.raises(ssrf.BlockedTarget, match=r"127\.0\.0\.2"):
            gupload.requests.get("http://0x7f000002/e/x", timeout=5)
        assert proxy.carried() == []
