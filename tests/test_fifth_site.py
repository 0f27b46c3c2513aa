"""A fifth site is one descriptor plus its Site implementation: registered here and named
by no other file, it is searched by Torznab, its magnet is added through the qBittorrent
API and written as a .strm file, and that .strm URL plays through the proxy.

The site's pages are not what this is about, so its Site answers from code; its hoster
links are a fake-web AniWorld episode's, so resolving and streaming go over loopback to
the fake hoster and CDN like any other site's."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from django.conf import settings
from django.test import Client

from catalog import probe, registry
from catalog.identity import EpisodeIdentity
from catalog.magnet import parse_magnet
from catalog.sites import forget_site
from catalog.sites.base import HosterLinks, NotOnSite, TitleEntry
from catalog.streams import ResolvedStream
from downloads.models import Job
from downloads.tasks import run_job
from qbshim.models import ClientTask
from strm.stream_urls import stream_url
from tests.fakeweb import FakeWeb
from tests.sonarr_parser import parse_title
from tests.strm_helpers import get, proxy_uris, use_proxy_config

pytestmark = pytest.mark.django_db(transaction=True)

SITE = "kinofuenf"
SLUG = "paper-lanterns"
TITLE = "Paper Lanterns"
PLAYLIST = "application/vnd.apple.mpegurl"


class KinoFuenf:
    """The fifth site: one series, one season of one episode, German audio only."""

    name = SITE
    languages = ("German Dub",)

    def __init__(self, web: FakeWeb) -> None:
        self.web = web

    def title_entries(self) -> list[TitleEntry]:
        return [TitleEntry(SITE, SLUG, TITLE)]

    def suggest(self, query: str) -> list[TitleEntry]:
        return []

    def seasons(self, slug: str) -> dict[int, int]:
        if slug != SLUG:
            raise NotOnSite(f"{SITE}/{slug} is not on the site")
        return {1: 1}

    def film_titles(self, slug: str) -> dict[int, str]:
        return {}

    def film_details(self, slug: str) -> tuple[dict[int, str], int | None]:
        return {}, None

    def hoster_links(self, identity: EpisodeIdentity) -> HosterLinks:
        if (identity.slug, identity.season, identity.episode) != (SLUG, 1, 1):
            raise NotOnSite(f"{identity} is not on the site")
        link = self.web.links.find("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "VOE")
        return {"German Dub": {"VOE": self.web.embed_url(link)}}

    def resolve_link(self, provider: str, link: str) -> ResolvedStream:
        from catalog import package

        return package.extract_stream(provider, link, self.name)


@pytest.fixture
def fifth_site(
    fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[FakeWeb]:
    """The fifth site registered and the only one enabled, STRM releases offered too."""
    registry.register(
        registry.SiteInfo(
            name=SITE,
            label="Kino Fünf",
            implementation=lambda: KinoFuenf(fake_sites),
            aliases=("kino5",),
            languages=("German Dub",),
            release_group="FUENF",
        )
    )
    use_proxy_config(monkeypatch)
    config = dataclasses.replace(
        settings.CONFIG,
        catalog_sites=(SITE,),
        strm_files_mode="both",
        download_dir=tmp_path,
    )
    monkeypatch.setattr(settings, "CONFIG", config)
    yield fake_sites
    registry.unregister(SITE)
    forget_site(SITE)


def _search(client: Client, **params: str) -> list[tuple[str, str]]:
    response = client.get("/torznab/api", params)
    assert response.status_code == 200, response.content
    root = ET.fromstring(response.content)
    found = []
    for item in root.iter("item"):
        enclosure = item.find("enclosure")
        assert enclosure is not None
        found.append((item.findtext("title") or "", enclosure.attrib["url"]))
    return found


def test_a_registered_fifth_site_is_searched_added_and_played(
    fifth_site: FakeWeb, client: Client
) -> None:
    episode = EpisodeIdentity("kino5", SLUG, 1, 1, "German Dub")  # by its alias
    assert episode.site == SITE
    assert probe.probe_episode(episode).available  # what a worker's probe stores

    items = _search(client, t="tvsearch", q=TITLE, season="1", ep="1")

    names = [name for name, _ in items]
    assert [parse_magnet(uri).identity for _, uri in items] == [episode, episode]
    assert names[0].startswith("Paper.Lanterns.S01E01.") and names[0].endswith("-FUENF")
    assert names[1].endswith(".[STRM]-FUENF")
    parsed = parse_title(names[0])
    assert parsed is not None
    assert (parsed.series_title, parsed.season, parsed.episodes) == ("Paper Lanterns", 1, (1,))

    strm_magnet = next(uri for name, uri in items if "[STRM]" in name)
    client.post("/api/v2/torrents/createCategory", {"category": "tv-sonarr"})
    added = client.post("/api/v2/torrents/add", {"urls": strm_magnet, "category": "tv-sonarr"})
    assert added.content == b"Ok."
    task = ClientTask.objects.get()
    assert (task.site, task.slug, task.name) == (SITE, SLUG, names[1])
    job = Job.objects.get()
    run_job.apply(args=(str(job.pk),))  # what the worker runs
    [info] = client.get("/api/v2/torrents/info").json()
    assert info["state"] == "stoppedUP", info
    written = Path(info["content_path"]).read_text().strip()
    assert written == stream_url(episode)

    status, headers, body = get(Client(), written)
    assert status == 200 and headers["Content-Type"] == PLAYLIST, body
    first = proxy_uris(body.decode())[0]
    status, _, media = get(Client(), first)
    assert status == 200 and media
