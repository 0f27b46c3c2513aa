"""resolve_stream: language first, then hosters in order, against the fake web."""

from __future__ import annotations

import dataclasses
import http.client
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from catalog import aniworld_compat
from catalog.identity import EpisodeIdentity
from catalog.resolve import hoster_order, resolve_from_links, resolve_stream
from catalog.sites import get_site
from catalog.streams import LanguageNotOffered, NoHosterWorked
from tests.fakeweb import FakeWeb
from tests.fakeweb import catalog_data as data

# Requests one resolution makes at the hoster: we stop the site's redirect before the
# embed page, so only the extractor loads it.
HOSTER_REQUESTS = {
    "VOE": ["/e/{code}"],
    "Vidmoly": ["/embed-{code}.html"],
    "Vidoza": ["/embed-{code}.html"],
    "Filemoon": ["/api/videos/{code}"],  # the extractor asks its API only
    "Doodstream": ["/e/{code}", "/pass_md5/*/{code}"],
}
KAIJU = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 2, "German Dub")


def head(url: str, headers: dict[str, str]) -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=10)
    try:
        conn.request(
            "HEAD", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers
        )
        return conn.getresponse().status
    finally:
        conn.close()


def use_config(monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
    monkeypatch.setattr(settings, "CONFIG", dataclasses.replace(settings.CONFIG, **changes))


def assert_hoster_traffic(web: FakeWeb, site: str, identity: EpisodeIdentity, hoster: str) -> None:
    slug = identity.slug.split("-", 1)[1] if site == "megakino" else identity.slug
    season, episode = (
        (1, 1)
        if (site, identity.season) == ("megakino", 0)
        else (
            identity.season,
            identity.episode,
        )
    )
    link = web.links.find(site, slug, season, episode, identity.language, hoster)
    for pattern in HOSTER_REQUESTS[hoster]:
        assert web.counts.total(link.server, pattern.format(code=link.code)) == 1, pattern
    assert web.counts.total(link.server) == len(HOSTER_REQUESTS[hoster])


# -- each site, each hoster ----------------------------------------------------------------


@pytest.mark.parametrize("hoster", list(HOSTER_REQUESTS))
def test_aniworld_resolves_through_each_hoster_with_bound_headers(
    fake_sites: FakeWeb, hoster: str
) -> None:
    fake_sites.cdn.bind_user_agent = True
    fake_sites.cdn.bind_referer = True
    identity = dataclasses.replace(KAIJU, provider=hoster)
    stream = resolve_stream(identity)
    assert (stream.provider, stream.site) == (hoster, "aniworld.to")
    assert stream.url.startswith(fake_sites.urls["cdn"] + "/t/")
    assert stream.headers == aniworld_compat.stream_headers(hoster)
    assert head(stream.url, stream.headers) == 200
    assert head(stream.url, {**stream.headers, "User-Agent": "Lavf/60"}) == 403
    link = fake_sites.links.find(data.ANIWORLD, "kaiju-academy", 1, 2, "German Dub", hoster)
    assert fake_sites.counts["aniworld"] == {
        "/anime/stream/kaiju-academy/staffel-1/episode-2": 1,
        f"/redirect/{link.redirect_id}": 1,
    }
    assert_hoster_traffic(fake_sites, data.ANIWORLD, identity, hoster)


@pytest.mark.parametrize("hoster", list(HOSTER_REQUESTS))
def test_sto_resolves_through_each_hoster(fake_sites: FakeWeb, hoster: str) -> None:
    identity = EpisodeIdentity("s.to", "the-quiet-harbor", 2, 1, "English Dub", hoster)
    stream = resolve_stream(identity)
    assert (stream.provider, stream.site) == (hoster, "s.to")
    assert head(stream.url, stream.headers) == 200
    assert fake_sites.counts["sto"] == {"/serie/the-quiet-harbor/staffel-2/episode-1": 1, "/r": 1}
    assert fake_sites.counts["aniworld"] == {}
    assert_hoster_traffic(fake_sites, data.STO, identity, hoster)


def test_aniworld_film_resolves_as_season_zero(fake_sites: FakeWeb) -> None:
    stream = resolve_stream(EpisodeIdentity("aniworld.to", "kaiju-academy", 0, 1, "German Sub"))
    assert stream.provider == "VOE"
    assert fake_sites.counts.count("aniworld", "/anime/stream/kaiju-academy/filme/film-1") == 1


def test_megakino_film_and_serial_resolve(fake_sites: FakeWeb) -> None:
    film = EpisodeIdentity("megakino", "101-iron-orchard", 0, 1, "German Dub", "Doodstream")
    stream = resolve_stream(film)
    assert (stream.provider, stream.site) == ("Doodstream", "megakino")
    assert head(stream.url, stream.headers) == 200
    assert_hoster_traffic(fake_sites, "megakino", film, "Doodstream")

    serial = EpisodeIdentity("megakino", "202-glass-rivers", 1, 2, "German Dub")
    stream = resolve_stream(serial)
    assert stream.provider == "VOE"
    assert stream.url.endswith("/hls/ts/master.m3u8")


# -- languages -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identity", "message"),
    [
        (
            EpisodeIdentity("aniworld.to", "star-drifters", 1, 3, "German Dub"),
            "aniworld.to/star-drifters S01E03: German Dub is not offered "
            "(available: German Sub, English Sub)",
        ),
        (
            EpisodeIdentity("s.to", "nordlicht", 1, 1, "English Dub"),
            "s.to/nordlicht S01E01: English Dub is not offered (available: German Dub)",
        ),
        (
            EpisodeIdentity("megakino", "101-iron-orchard", 0, 1, "German Sub"),
            "megakino/101-iron-orchard S00E01: German Sub is not offered (available: German Dub)",
        ),
    ],
)
def test_a_language_not_offered_names_what_is(
    fake_sites: FakeWeb, identity: EpisodeIdentity, message: str
) -> None:
    with pytest.raises(LanguageNotOffered) as failure:
        resolve_stream(identity)
    assert str(failure.value) == message
    # Checked before any hoster is tried.
    assert all(fake_sites.counts[h] == {} for h in ("voe", "filemoon", "vidmoly", "cdn"))


# -- order, fallback, exclude --------------------------------------------------------------


def test_the_next_hoster_in_provider_order_takes_over_when_one_fails(
    fake_sites: FakeWeb, caplog: pytest.LogCaptureFixture
) -> None:
    voe = fake_sites.links.find(data.ANIWORLD, "kaiju-academy", 1, 2, "German Dub", "VOE")
    fake_sites.hoster("VOE").fail_next(f"/e/{voe.code}", status=404)
    caplog.set_level("INFO", logger="catalog.resolve")
    stream = resolve_stream(KAIJU)
    # Default PROVIDER_ORDER: VOE, Filemoon, Vidmoly, ...
    assert stream.provider == "Filemoon"
    assert fake_sites.counts["voe"] == {f"/e/{voe.code}": 1}
    assert fake_sites.counts.total("filemoon") == 1
    assert fake_sites.counts["vidmoly"] == {}
    assert f"{KAIJU}: VOE failed: VOE video unavailable (HTTP 404)" in caplog.text
    assert f"{KAIJU}: resolved via Filemoon" in caplog.text


def test_the_preferred_hoster_goes_first_then_the_configured_order(
    fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert resolve_stream(dataclasses.replace(KAIJU, provider="vidoza")).provider == "Vidoza"
    assert fake_sites.counts["voe"] == {}
    use_config(monkeypatch, provider_order=("Vidmoly", "VOE"))
    assert resolve_stream(KAIJU).provider == "Vidmoly"
    assert fake_sites.counts["voe"] == {}


def test_excluded_hosters_are_not_tried(fake_sites: FakeWeb) -> None:
    stream = resolve_stream(KAIJU, exclude={"voe", "Filemoon"})
    assert stream.provider == "Vidmoly"
    assert fake_sites.counts["voe"] == {} and fake_sites.counts["filemoon"] == {}


def test_no_hoster_worked_lists_one_reason_per_hoster(fake_sites: FakeWeb) -> None:
    for hoster in data.HOSTERS:
        fake_sites.hoster(hoster).fail_next("*", status=404, count=10)
    identity = EpisodeIdentity("aniworld.to", "star-drifters", 1, 1, "German Sub")
    with pytest.raises(NoHosterWorked) as failure:
        resolve_stream(identity, exclude=["Doodstream"])
    assert [name for name, _ in failure.value.attempts] == ["VOE", "Filemoon"]
    assert all(reason and "\n" not in reason for _, reason in failure.value.attempts)
    message = str(failure.value)
    assert message.startswith(f"{identity}: no hoster worked (VOE: VOE video unavailable")
    assert "\n" not in message


def test_hosters_the_package_cannot_extract_are_skipped_as_not_supported(
    fake_sites: FakeWeb,
) -> None:
    site = get_site("aniworld.to")
    links = {"German Dub": {"Streamtape": "https://aniworld.to/redirect/1", "LoadX": "x"}}
    with pytest.raises(NoHosterWorked) as failure:
        resolve_from_links(site, KAIJU, links)
    assert failure.value.attempts == [("Streamtape", "not supported"), ("LoadX", "not supported")]
    assert fake_sites.counts["aniworld"] == {}


def test_hoster_order() -> None:
    listed = ["Vidoza", "Streamtape", "VOE", "Filemoon"]
    assert hoster_order(listed, None, ["VOE", "Filemoon"]) == [
        "VOE",
        "Filemoon",
        "Vidoza",
        "Streamtape",
    ]
    assert hoster_order(listed, "vidoza", ["voe", "LoadX"]) == [
        "Vidoza",
        "VOE",
        "Streamtape",
        "Filemoon",
    ]
    assert hoster_order(listed, "Luluvdo", []) == listed


# -- the site's redirect: retries and timeout ----------------------------------------------


def test_a_failing_redirect_is_retried(fake_sites: FakeWeb) -> None:
    voe = fake_sites.links.find(data.ANIWORLD, "kaiju-academy", 1, 2, "German Dub", "VOE")
    fake_sites.aniworld.fail_next(f"/redirect/{voe.redirect_id}", status=503)
    assert resolve_stream(KAIJU).provider == "VOE"
    assert fake_sites.counts.count("aniworld", f"/redirect/{voe.redirect_id}") == 2


def test_redirect_timeout_and_retries_come_from_the_config(
    fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_config(monkeypatch, provider_redirect_timeout_seconds=0.3, provider_redirect_retries=0)
    voe = fake_sites.links.find(data.ANIWORLD, "kaiju-academy", 1, 2, "German Dub", "VOE")
    fake_sites.aniworld.stall_next(f"/redirect/{voe.redirect_id}", seconds=3)
    started = time.monotonic()
    stream = resolve_stream(KAIJU)
    assert time.monotonic() - started < 2.5
    assert stream.provider == "Filemoon"
    assert fake_sites.counts.count("aniworld", f"/redirect/{voe.redirect_id}") == 1
    assert fake_sites.counts["voe"] == {}


# -- configured base URLs ------------------------------------------------------------------


def test_a_base_url_change_takes_effect_at_the_next_use(
    fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolve_stream(KAIJU)
    with FakeWeb(Path(fake_sites.media.root.parent)) as mirror:
        use_config(
            monkeypatch,
            aniworld_base_url=mirror.urls["aniworld"],
            aniworld_alphabet_url=mirror.url("aniworld", "/animes-alphabet"),
            sto_base_url=mirror.urls["sto"],
            megakino_base_url=mirror.urls["megakino"],
        )
        fake_sites.counts.reset()
        stream = resolve_stream(KAIJU)
        get_site("aniworld.to").title_entries()
        resolve_stream(EpisodeIdentity("s.to", "nordlicht", 1, 1, "German Dub"))
        resolve_stream(EpisodeIdentity("megakino", "101-iron-orchard", 0, 1, "German Dub"))
        assert stream.url.startswith(mirror.urls["cdn"])
        assert mirror.counts.total("aniworld") == 3  # episode page, redirect, alphabet
        assert mirror.counts.total("sto") == 2
        assert mirror.counts.total("megakino") == 1
        assert fake_sites.counts.total("aniworld") == 0
        assert fake_sites.counts.total("sto") == 0
        assert fake_sites.counts.total("megakino") == 0
