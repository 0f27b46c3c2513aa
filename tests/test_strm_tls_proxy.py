"""The proxy in front of an HTTPS upstream (real CDNs are HTTPS), served by gunicorn with
gevent workers: a body's rest is copied from the SSL object straight into the client's
socket; whole bodies, ranges and HEAD come out byte-exact, and a body cut off upstream
drops the client's connection instead of leaving it waiting."""

from __future__ import annotations

import http.client
import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from catalog.identity import EpisodeIdentity
from strm.stream_urls import stream_url
from tests import strm_helpers, tls_helpers
from tests.fakeweb.server import file_response
from tests.strm_helpers import Origin, store_resolution, use_proxy_config

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

IDENTITY = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "Vidoza")
SIZE = 5 * 1024 * 1024 + 123


class TlsOrigin(Origin):
    """An Origin speaking HTTPS with a certificate made for the test."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        context, self.ca = tls_helpers.server_context(directory)
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tls-media") / "video.mp4"
    path.write_bytes(os.urandom(SIZE))
    return path


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory, media: Path) -> Iterator[TlsOrigin]:
    server = TlsOrigin(tmp_path_factory.mktemp("tls-origin"))
    server.route("/video.mp4", lambda request: file_response(request, media, "video/mp4"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(
    django_db_setup: None,
    origin: TlsOrigin,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    log = tmp_path_factory.mktemp("gunicorn-tls") / "gunicorn.log"
    with strm_helpers.proxy_server(log, SSL_CERT_FILE=str(origin.ca)) as base:
        yield base


@pytest.fixture
def entry(proxy: str, origin: TlsOrigin, monkeypatch: pytest.MonkeyPatch) -> str:
    use_proxy_config(monkeypatch, strm_public_base_url=proxy)
    origin.clear_faults()
    store_resolution(IDENTITY, origin.url("/video.mp4"))
    return stream_url(IDENTITY)


def request(url: str, method: str = "GET", **headers: str) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=20)
    try:
        conn.request(method, f"{parts.path}?{parts.query}", headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("wanted", ["bytes=0-", "bytes=1000-2999999", "bytes=-4096", None], ids=str)
def test_tls_bodies_come_through_byte_exact(entry: str, media: Path, wanted: str | None) -> None:
    data = media.read_bytes()
    status, headers, body = request(entry, **({"Range": wanted} if wanted else {}))
    if wanted is None:
        assert status == 200 and body == data
    else:
        first, last = {"bytes=0-": (0, SIZE - 1), "bytes=-4096": (SIZE - 4096, SIZE - 1)}.get(
            wanted, (1000, 2999999)
        )
        assert status == 206 and body == data[first : last + 1]
        assert headers["Content-Range"] == f"bytes {first}-{last}/{SIZE}"
    assert int(headers["Content-Length"]) == len(body)


def test_head_over_tls_has_the_size_and_no_body(entry: str) -> None:
    status, headers, body = request(entry, "HEAD", Range="bytes=0-")
    assert status == 206 and body == b""
    assert headers["Content-Range"] == f"bytes 0-{SIZE - 1}/{SIZE}"


def test_a_tls_body_cut_off_upstream_drops_the_client(entry: str, origin: TlsOrigin) -> None:
    origin.drop_next("/video.mp4", after_bytes=3 * 1024 * 1024)
    parts = urlsplit(entry)
    conn = http.client.HTTPConnection(parts.netloc, timeout=20)
    conn.request("GET", f"{parts.path}?{parts.query}", headers={"Range": "bytes=0-"})
    response = conn.getresponse()
    assert response.status == 206
    started = time.monotonic()
    with pytest.raises(http.client.IncompleteRead) as cut:
        response.read()
    assert len(cut.value.partial) >= 2 * 1024 * 1024
    assert time.monotonic() - started < 5
    conn.close()
