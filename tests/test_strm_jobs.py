"""Sonarr grabs a [STRM] release: a real worker writes the .strm file Jellyfin opens."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client

from catalog.identity import EpisodeIdentity
from catalog.magnet import build_magnet
from strm.models import StrmUrlMapping
from strm.stream_urls import stream_url
from tests.fakeweb import FakeWeb
from tests.processes import celery_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

IDENTITY = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub")
NAME = "Kaiju.Academy.S01E01.1080p.WEB.H264.GERMAN.[STRM]-aniworld"
PROXY_ENV = {
    "STRM_PROXY_MODE": "proxy",
    "STRM_PUBLIC_BASE_URL": "http://127.0.0.1:8123",
    "STRM_PROXY_SECRET": "test-secret-for-strm-jobs",
}


def _use_config(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    import dataclasses

    fields: dict[str, Any] = {k.lower(): v for k, v in values.items()}
    monkeypatch.setattr(settings, "CONFIG", dataclasses.replace(settings.CONFIG, **fields))


def _grab(client: Client) -> dict[str, Any]:
    client.post("/api/v2/torrents/createCategory", {"category": "tv-sonarr"})
    magnet = build_magnet(IDENTITY, NAME, mode="strm")
    assert (
        client.post("/api/v2/torrents/add", {"urls": magnet, "category": "tv-sonarr"}).content
        == b"Ok."
    )

    def done() -> dict[str, Any] | None:
        [item] = client.get("/api/v2/torrents/info").json()
        assert item["state"] != "error", item["anibridge_message"]
        return item if item["state"] == "stoppedUP" else None

    return wait_until(done, 60, "the .strm job")


def test_proxy_mode_writes_the_signed_stream_url(
    tmp_path: Path, fake_sites: FakeWeb, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_config(monkeypatch, **PROXY_ENV)
    with celery_worker(tmp_path, queues="default", env={**fake_sites.app_env(), **PROXY_ENV}):
        item = _grab(client)
    path = Path(item["content_path"])
    assert path.name == f"{NAME}.strm" and path.parent == settings.CONFIG.download_dir
    assert item["content_path"] != item["save_path"] and item["progress"] == 1
    text = path.read_text()
    assert text == stream_url(IDENTITY) + "\n" and text.count("\n") == 1
    mapping = StrmUrlMapping.objects.get(
        slug="kaiju-academy", season=1, episode=1, language="German Dub"
    )
    assert mapping.strm_path == str(path) and mapping.resolved_url.startswith(
        fake_sites.urls["cdn"]
    )
    assert mapping.resolved_headers.get("User-Agent")
    # The URL in the file is accepted by the proxy (its signature checks out).
    entry = urlsplit(text.strip())
    response = client.get(entry.path + "?" + entry.query)
    assert response.status_code == 200 and response.content.startswith(b"#EXTM3U")


def test_direct_mode_writes_the_cdn_url(
    tmp_path: Path, fake_sites: FakeWeb, client: Client
) -> None:
    with celery_worker(tmp_path, queues="default", env=fake_sites.app_env()):
        item = _grab(client)
    url = Path(item["content_path"]).read_text().strip()
    assert url.startswith(fake_sites.urls["cdn"] + "/t/")
    assert StrmUrlMapping.objects.get().strm_path == item["content_path"]


def test_unresolvable_episode_fails_with_the_reason(
    tmp_path: Path, fake_sites: FakeWeb, client: Client
) -> None:
    magnet = build_magnet(
        EpisodeIdentity("aniworld.to", "star-drifters", 1, 1, "German Dub"), "Star.S01E01", "strm"
    )
    with celery_worker(tmp_path, queues="default", env=fake_sites.app_env()):
        client.post("/api/v2/torrents/add", {"urls": magnet})
        item = wait_until(
            lambda: (i := client.get("/api/v2/torrents/info").json()[0])["state"] == "error" and i,
            60,
            "the job to fail",
        )
    assert "German Dub is not offered" in item["anibridge_message"]
    assert not list(settings.CONFIG.download_dir.rglob("Star.S01E01*"))
