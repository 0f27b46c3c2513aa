"""Site pages, the aniworld package, SkyHook and hoster pages: through the configured
proxy, around it with NO_PROXY, refused on private addresses other than the
configured base URLs, and one clear line when the proxy is down."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings

from catalog import skyhook
from catalog.identity import EpisodeIdentity
from catalog.resolve import resolve_stream
from catalog.sites import get_site
from catalog.sites.base import SiteError
from catalog.sites.http import fetch_text
from catalog.streams import ResolveError
from tests.fakeweb import FakeWeb
from tests.fakeweb import catalog_data as data
from tests.fakeweb.proxies import FakeProxy, HttpProxy, Socks5Proxy

KAIJU = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "VOE")
HARBOR = EpisodeIdentity("s.to", "the-quiet-harbor", 2, 1, "German Dub")


def _configure(monkeypatch: pytest.MonkeyPatch, **fields: Any) -> None:
    monkeypatch.setattr(settings, "CONFIG", dataclasses.replace(settings.CONFIG, **fields))


def _embed_link(web: FakeWeb) -> str:
    link = web.links.find(data.ANIWORLD, "kaiju-academy", 1, 1, "German Dub", "VOE")
    return f"https://aniworld.to/redirect/{link.redirect_id}"


def _paths(web: FakeWeb) -> list[tuple[str, Callable[[], Any], str]]:
    """(what, how to fetch it, the fake server it reaches)."""
    aniworld, sto = get_site("aniworld.to"), get_site("s.to")
    return [
        ("title index", aniworld.title_entries, "aniworld"),
        ("series and season pages", lambda: aniworld.seasons("kaiju-academy"), "aniworld"),
        ("episode page", lambda: aniworld.hoster_links(KAIJU), "aniworld"),
        ("s.to suggest", lambda: sto.suggest("Hafen"), "sto"),
        ("s.to episode page", lambda: sto.hoster_links(HARBOR), "sto"),
        ("SkyHook", lambda: skyhook.show(900001), "skyhook"),
        ("hoster embed page", lambda: aniworld.resolve_link("VOE", _embed_link(web)), "voe"),
    ]


@pytest.mark.parametrize("proxy_cls", [HttpProxy, Socks5Proxy])
def test_every_site_path_goes_through_the_proxy(
    proxy_cls: type[FakeProxy],
    fake_sites: FakeWeb,
    aniworld_package: FakeWeb,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with proxy_cls() as proxy:
        for step, (what, fetch, server) in enumerate(_paths(fake_sites)):
            # A NO_PROXY entry of its own per step changes the settings, which drops
            # pooled connections: each path opens (and is seen opening) its own.
            _configure(
                monkeypatch,
                https_proxy=proxy.url,
                http_proxy=proxy.url,
                no_proxy=(f"s{step}.test",),
            )
            proxy.reset()
            assert fetch(), what
            port = fake_sites.servers[server].port
            assert f"127.0.0.1:{port}" in proxy.targets(), f"{what} did not go through the proxy"


def test_no_proxy_for_the_base_urls_keeps_every_path_direct(
    fake_sites: FakeWeb, aniworld_package: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reported bug: with the base URLs on 127.0.0.1 and NO_PROXY=127.0.0.1, the
    title index was fetched directly but season and episode pages went to the proxy
    (the decision was made for the canonical aniworld.to)."""
    with HttpProxy() as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY"):
            monkeypatch.setenv(name, proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        _configure(
            monkeypatch,
            http_proxy=proxy.url,
            https_proxy=proxy.url,
            no_proxy=("127.0.0.1", "localhost"),
        )
        for what, fetch, _server in _paths(fake_sites):
            assert fetch(), what
        assert proxy.carried() == []
    assert fake_sites.counts.total("aniworld", "/anime/stream/kaiju-academy/staffel-1/*") >= 1
    assert fake_sites.counts.total("voe", "/e/*") >= 1


def test_base_urls_on_loopback_are_allowed_but_other_local_addresses_are_not(
    fake_sites: FakeWeb, aniworld_package: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    _configure(monkeypatch, strm_proxy_upstream_allowlist=())
    assert get_site("aniworld.to").hoster_links(KAIJU)  # the configured site, on 127.0.0.1
    assert skyhook.show(900001) is not None
    with pytest.raises(ResolveError) as caught:
        resolve_stream(KAIJU)
    assert "127.0.0.1" in str(caught.value) and "does not contact" in str(caught.value)
    hosters = ("voe", "vidmoly", "vidoza", "filemoon", "doodstream")
    assert sum(fake_sites.counts.total(h) for h in hosters) == 0
    with pytest.raises(SiteError, match=r"not contacted: .*127\.0\.0\.1"):
        fetch_text(fake_sites.url("voe", "/"))
    with pytest.raises(SiteError, match=r"not contacted: .*127\.0\.0\.2"):
        fetch_text("http://2130706434/")  # 127.0.0.2 in decimal


def test_allow_listed_hosters_are_reached(fake_sites: FakeWeb, aniworld_package: FakeWeb) -> None:
    stream = resolve_stream(KAIJU)  # fake_sites allow-lists 127.0.0.1 like app_env()
    assert stream.provider == "VOE" and fake_sites.counts.total("voe", "/e/*") == 1


def test_proxy_down_gives_one_line_per_path(
    fake_sites: FakeWeb, aniworld_package: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once the block ends
    down = f"http://127.0.0.1:{port}"
    _configure(monkeypatch, http_proxy=down, https_proxy=down)
    for what, fetch, _server in _paths(fake_sites):
        with pytest.raises((SiteError, ResolveError, skyhook.SkyHookError)) as caught:
            fetch()
        message = str(caught.value)
        assert f"proxy {down} is unreachable" in message, (what, message)
        assert "\n" not in message, what
