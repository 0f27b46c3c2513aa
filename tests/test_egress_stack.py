"""The public entry points with a proxy configured: a Torznab search (title lookup in
the web process, availability probe in a real worker) and a qB add (download in the
worker) all reach the outside world through it, none with NO_PROXY covering the fakes,
and a proxy that is down gives a valid feed, `Ok.` and a job failed with one line."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from django.conf import settings
from django.test import Client

from catalog.identity import EpisodeIdentity
from catalog.magnet import build_magnet, parse_magnet
from downloads.models import Job
from tests.fakeweb import FakeWeb
from tests.fakeweb.proxies import FakeProxy, HttpProxy, Socks5Proxy
from tests.processes import celery_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

KAIJU_TVDB = 900001
EPISODE = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "VOE")
RELEASE = "Kaiju.Academy.S01E01.WEB.H264.GERMAN-aniworld"


def _proxy_settings(monkeypatch: pytest.MonkeyPatch, **fields: Any) -> dict[str, str]:
    """Apply proxy settings here (web side) and return them as a worker's environment."""
    monkeypatch.setattr(settings, "CONFIG", dataclasses.replace(settings.CONFIG, **fields))
    return {
        "HTTP_PROXY": fields.get("http_proxy", ""),
        "HTTPS_PROXY": fields.get("https_proxy", ""),
        "NO_PROXY": ",".join(fields.get("no_proxy", ())),
    }


@pytest.fixture
def worker_with(tmp_path: Path, fake_sites: FakeWeb) -> Iterator[Any]:
    started: list[Any] = []

    def start(env: dict[str, str]) -> None:
        context = celery_worker(
            tmp_path, queues="default,downloads", concurrency=4, env={**fake_sites.app_env(), **env}
        )
        context.__enter__()
        started.append(context)

    yield start
    for context in started:
        context.__exit__(None, None, None)


def _search(client: Client) -> ET.Element:
    response = client.get(
        "/torznab/api", {"t": "tvsearch", "tvdbid": str(KAIJU_TVDB), "season": "1", "ep": "1"}
    )
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    assert root.tag == "rss", response.content[:300]
    return root


def _add(client: Client, uri: str) -> Job:
    response = client.post("/api/v2/torrents/add", {"urls": uri, "category": "tv-sonarr"})
    assert response.content == b"Ok."
    return Job.objects.get(client_task__hash=parse_magnet(uri).hash)


def _finished(job: Job, timeout: float = 120) -> Job:
    return wait_until(
        lambda: (j := Job.objects.get(pk=job.pk)).status in Job.FINISHED and j,
        timeout,
        "the download to end",
    )


@pytest.mark.parametrize("proxy_cls", [HttpProxy, Socks5Proxy])
def test_search_probe_and_download_go_through_the_proxy(
    proxy_cls: type[FakeProxy],
    client: Client,
    fake_sites: FakeWeb,
    worker_with: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with proxy_cls() as proxy:
        worker_with(_proxy_settings(monkeypatch, http_proxy=proxy.url, https_proxy=proxy.url))
        items = list(_search(client).iter("item"))
        assert items, "the probe through the proxy found nothing"
        cdn = f"127.0.0.1:{fake_sites.servers['cdn'].port}"
        for server in ("skyhook", "aniworld", "voe"):
            assert f"127.0.0.1:{fake_sites.servers[server].port}" in proxy.targets(), server
        assert cdn in proxy.targets(), "the probe did not read the stream through the proxy"
        assert fake_sites.counts.total("cdn") >= 1
        uri = next(
            item.find("enclosure").attrib["url"]  # type: ignore[union-attr]
            for item in items
            if parse_magnet(item.find("enclosure").attrib["url"]).identity.language  # type: ignore[union-attr]
            == "German Dub"
        )
        proxy.reset()
        fake_sites.counts.reset()
        done = _finished(_add(client, uri))
        assert done.status == Job.Status.COMPLETED, done.message
        assert Path(done.result_path).stat().st_size > 0
        assert cdn in proxy.targets(), "the download did not go through the proxy"
        assert set(proxy.targets()) <= {
            f"127.0.0.1:{fake_sites.servers[s].port}" for s in fake_sites.servers
        }


def test_no_proxy_covering_the_fakes_keeps_everything_direct(
    client: Client, fake_sites: FakeWeb, worker_with: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HttpProxy() as proxy:
        env = _proxy_settings(
            monkeypatch, http_proxy=proxy.url, https_proxy=proxy.url, no_proxy=("127.0.0.1",)
        )
        worker_with(env)
        assert list(_search(client).iter("item"))
        done = _finished(_add(client, build_magnet(EPISODE, RELEASE)))
        assert done.status == Job.Status.COMPLETED, done.message
        assert proxy.carried() == []


def test_proxy_down_keeps_the_protocols_answering_and_fails_the_job_with_one_line(
    client: Client, fake_sites: FakeWeb, worker_with: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once the block ends
    down = f"http://127.0.0.1:{port}"
    worker_with(_proxy_settings(monkeypatch, http_proxy=down, https_proxy=down))
    _search(client)  # a valid (empty) feed, not an error page
    done = _finished(_add(client, build_magnet(EPISODE, RELEASE)))
    assert done.status == Job.Status.FAILED
    assert f"proxy {down} is unreachable" in done.message, done.message
    assert "\n" not in done.message
    assert sum(fake_sites.counts.total(s) for s in fake_sites.servers) == 0
