"""Browser direct play, as Jellyfin's web client does it: headless Chromium runs hls.js
(pinned in package.json) on a page from another loopback origin and plays .strm URLs
through the proxy (gunicorn, gevent workers) for the whole 6 s of the fake CDN's media.

One page plays every case at once (the suite's time is shared): each fake-CDN variant
type, a CDN token that expires mid-playback (the proxy re-resolves), and, in an
https:// frame, a stream through the Caddy recipe with a test CA. Without CORS the
same page gets hls.js's manifestLoadError.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from catalog.identity import EpisodeIdentity
from strm.stream_urls import stream_url
from tests import browser_support, strm_helpers
from tests.browser_support import HTTPS_HOST, PageServer, Results
from tests.fakeweb import FakeWeb
from tests.fakeweb.hosters import HOSTER_REFERERS
from tests.fakeweb.media import DURATION
from tests.strm_helpers import store_resolution, use_proxy_config
from tests.tls_helpers import Certificates, make_certificates

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.engine_agnostic,
]

# Per case: the page gives up after this long (the media lasts DURATION seconds).
CASE_SECONDS = 30
RUN_SECONDS = 60
UA = "Mozilla/5.0 (resolver)"
VARIANTS = {
    "ts": "hls/ts/master.m3u8",
    "aes-128": "hls/aes/master.m3u8",
    "fmp4": "hls/fmp4/master.m3u8",
    "byterange": "hls/byterange/master.m3u8",
    "video-only": "hls/video-only/master.m3u8",
    "synthetic-master": "hls/ts/360p/index.m3u8",  # a bare media playlist
}
EXPIRING = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "VOE")


def identity(name: str) -> EpisodeIdentity:
    return EpisodeIdentity("aniworld.to", f"browser-{name}", 1, 1, "German Dub", "VOE")


def point_at_cdn(web: FakeWeb, name: str, resource: str) -> EpisodeIdentity:
    """An episode resolved to `resource`, with a CDN token bound to the hoster's headers."""
    episode = identity(name)
    referer = HOSTER_REFERERS["VOE"]
    url = web.cdn.sign(resource, user_agent=UA, referer=referer)
    store_resolution(episode, url, {"User-Agent": UA, "Referer": referer or ""})
    return episode


def on_base(url: str, base: str) -> str:
    """`url` (a .strm URL) as reached at `base` instead."""
    parts, new = urlsplit(url), urlsplit(base)
    return urlunsplit(parts._replace(scheme=new.scheme, netloc=new.netloc))


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"), HTTPS_HOST)


@pytest.fixture(scope="module")
def results() -> Results:
    return Results()


@pytest.fixture(scope="module")
def pages(results: Results, certs: Certificates) -> Iterator[tuple[PageServer, PageServer]]:
    """The player page's origins: http://127.0.0.1:<a> and https://127.0.0.1:<b>."""
    plain, secure = PageServer(results), PageServer(results, certs)
    yield plain, secure
    plain.stop()
    secure.stop()


def proxy(
    tmp_path_factory: pytest.TempPathFactory,
    web: FakeWeb,
    public_host: str = "127.0.0.1",
    **env: str,
) -> Any:
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    return strm_helpers.proxy_server(log, public_host, **web.app_env(), **env)


def run_page(
    url: str, names: set[str], results: Results, certs: Certificates, workdir: Path
) -> dict[str, dict[str, Any]]:
    with browser_support.chromium(
        url, workdir / "profile", certs, workdir / "chromium.log"
    ) as proc:
        seen = results.wait_for(names, RUN_SECONDS)
        if set(seen) != names:
            raise AssertionError(
                f"no result from the page for {sorted(names - set(seen))}; chromium said:\n"
                + proc.output()[-3000:]
            )
    return seen


@pytest.fixture(scope="module")
def played(
    django_db_setup: None,
    django_db_blocker: Any,
    fakeweb_session: FakeWeb,
    tmp_path_factory: pytest.TempPathFactory,
    pages: tuple[PageServer, PageServer],
    results: Results,
    certs: Certificates,
) -> Iterator[dict[str, dict[str, Any]]]:
    """Every playing case, played once in one page; what the page saw, by case name."""
    web = fakeweb_session
    web.reset()
    workdir = tmp_path_factory.mktemp("browser")
    # A host name, not 127.0.0.1: browsers count http://127.0.0.1 as secure and would let
    # the https:// page load http:// URIs from it; from any other host they are refused.
    trusted = {"ANIBRIDGE_TRUSTED_PROXIES": "127.0.0.1"}  # Caddy, on loopback
    with (
        django_db_blocker.unblock(),
        pytest.MonkeyPatch.context() as monkeypatch,
        proxy(tmp_path_factory, web, public_host=HTTPS_HOST, **trusted) as base,
        browser_support.caddy(urlsplit(base).netloc, certs, workdir / "caddy") as https_base,
    ):
        public = on_base(base, f"http://{HTTPS_HOST}:{urlsplit(base).port}")
        use_proxy_config(monkeypatch, strm_public_base_url=public)
        cases = [
            {
                "name": name,
                "url": stream_url(point_at_cdn(web, name, resource)),
                "seconds": CASE_SECONDS,
            }
            for name, resource in VARIANTS.items()
        ]
        # Resolved by the proxy itself, through the fake site and hoster: 1.5 s tokens.
        web.cdn.token_lifetime = 1.5
        web.cdn.bind_user_agent = web.cdn.bind_referer = True
        # A player that buffers little (as on a TV): it asks for each segment shortly
        # before it plays it, so the later ones meet an expired token.
        small_buffer = {"maxBufferLength": 1, "maxMaxBufferLength": 1}
        cases.append(
            {
                "name": "expiring-token",
                "url": stream_url(EXPIRING),
                "seconds": CASE_SECONDS,
                "hls": small_buffer,
            }
        )
        https_case = {
            "name": "https",
            "url": on_base(stream_url(point_at_cdn(web, "https", VARIANTS["ts"])), https_base),
            "seconds": CASE_SECONDS,
        }
        cases.append({"name": "https-frame", "frame": pages[1].page_url([https_case])})
        names = {str(c["name"]) for c in cases if "url" in c} | {"https"}
        seen = run_page(pages[0].page_url(cases), names, results, certs, workdir)
        seen["expiring-token"]["resolves"] = web.counts.total("voe", "/e/*")
    web.reset()
    yield seen


@pytest.mark.parametrize("name", [*VARIANTS, "expiring-token", "https"])
def test_hls_js_plays_the_strm_url_through_the_proxy(
    played: dict[str, dict[str, Any]], name: str
) -> None:
    result = played[name]
    assert result["fatal"] is None, result
    assert result["why"] == "ended", result
    # currentTime advanced over the whole media, in real time, with frames decoded.
    assert result["currentTime"] >= DURATION - 0.3, result
    assert result["played"] >= DURATION - 0.3, result
    assert result["endedAt"] - result["playingAt"] >= DURATION - 0.3, result
    assert result["frames"] >= 100 and result["frames"] - result["dropped"] >= 25, result


def test_the_expiring_token_was_renewed_mid_playback(played: dict[str, dict[str, Any]]) -> None:
    resolves = played["expiring-token"]["resolves"]
    assert resolves >= 2, f"expected a re-resolve mid-playback, saw {resolves} resolve(s)"


def test_without_cors_the_same_page_cannot_load_the_manifest(
    django_db_blocker: Any,
    fakeweb: FakeWeb,
    tmp_path_factory: pytest.TempPathFactory,
    pages: tuple[PageServer, PageServer],
    results: Results,
    certs: Certificates,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workdir = tmp_path_factory.mktemp("browser-no-cors")
    with proxy(tmp_path_factory, fakeweb, ANIBRIDGE_CORS_ORIGINS="off") as base:
        use_proxy_config(monkeypatch, strm_public_base_url=base)
        case = {
            "name": "no-cors",
            "url": stream_url(point_at_cdn(fakeweb, "no-cors", VARIANTS["ts"])),
            "seconds": CASE_SECONDS,
        }
        seen = run_page(pages[0].page_url([case]), {"no-cors"}, results, certs, workdir)
    assert seen["no-cors"]["fatal"] == "manifestLoadError", seen
