"""The same flows through the qbittorrent-api PyPI client over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import qbittorrentapi
from django.conf import settings
from django.utils import timezone

from downloads.models import Job
from tests.test_qbit_api import RELEASE, hash_of, magnet

pytestmark = pytest.mark.django_db(transaction=True)


def _client(live_server: Any) -> qbittorrentapi.Client:
    host, port = live_server.url.removeprefix("http://").split(":")
    client = qbittorrentapi.Client(
        host=host,
        port=int(port),
        username="",
        password="",
        REQUESTS_ARGS={"timeout": 10},
        VERIFY_WEBUI_CERTIFICATE=False,
    )
    client.auth_log_in()
    return client


def test_qbittorrent_api_client_grab_poll_remove(live_server: Any) -> None:
    qb = _client(live_server)
    assert qb.app.web_api_version == "2.11.4"
    qb.torrents_create_category(name="tv-sonarr")
    assert "tv-sonarr" in qb.torrents_categories()
    uri = magnet()
    assert qb.torrents_add(urls=uri, category="tv-sonarr") == "Ok."
    h = hash_of(uri)
    [torrent] = qb.torrents_info(category="tv-sonarr")
    assert torrent.hash == h and torrent.state == "queuedDL"
    result = settings.CONFIG.download_dir / f"{RELEASE}.mp4"
    result.write_bytes(b"x")
    Job.objects.update(
        status=Job.Status.COMPLETED,
        progress=1.0,
        result_path=str(result),
        finished_at=timezone.now(),
    )
    [torrent] = qb.torrents_info(torrent_hashes=h)
    assert torrent.state == "stoppedUP" and torrent.content_path == str(result)
    assert qb.torrents_files(torrent_hash=h)[0].name == result.name
    data = qb.sync_maindata(rid=0)
    assert h in data.torrents and data.full_update
    qb.torrents_delete(delete_files=True, torrent_hashes=h)
    assert qb.torrents_info() == []
    assert not result.exists()


def test_qbittorrent_api_client_sees_bad_magnets_fail(live_server: Any) -> None:
    qb = _client(live_server)
    assert qb.torrents_add(urls="magnet:?xt=urn:btih:broken") == "Fails."
    assert qb.torrents_info() == []
