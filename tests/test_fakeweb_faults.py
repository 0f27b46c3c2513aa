"""The fake web's named faults (tests/fakeweb/faults.py) do what the matrix relies on,
seen by a plain HTTP client, and a late series appears only once the site publishes it."""

from __future__ import annotations

import http.client
import socket
import time
from urllib.parse import urlsplit

import pytest

from tests.fakeweb import FakeWeb
from tests.fakeweb.faults import FAULTS, MAINTENANCE_PAGE, arm

PAGE = "/serie/nordlicht"


def _get(web: FakeWeb, path: str, timeout: float = 5.0, server: str = "sto") -> tuple[int, bytes]:
    parts = urlsplit(web.url(server))
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_every_named_fault_is_armed() -> None:
    assert FAULTS == ("404", "500", "timeout", "reset", "html", "empty", "truncated")


@pytest.mark.parametrize("fault", ["404", "500"])
def test_status_faults(fakeweb: FakeWeb, fault: str) -> None:
    arm(fakeweb.sto, PAGE, fault, count=1)
    assert _get(fakeweb, PAGE)[0] == int(fault)
    assert _get(fakeweb, PAGE)[0] == 200  # armed for one request only


def test_timeout_answers_nothing_for_the_stall(fakeweb: FakeWeb) -> None:
    arm(fakeweb.sto, PAGE, "timeout", stall_seconds=2.0, count=1)
    started = time.monotonic()
    with pytest.raises(socket.timeout):
        _get(fakeweb, PAGE, timeout=0.5)
    assert time.monotonic() - started < 1.5


def test_reset_resets_the_connection(fakeweb: FakeWeb) -> None:
    arm(fakeweb.sto, PAGE, "reset", count=1)
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        _get(fakeweb, PAGE)


def test_html_empty_and_truncated_bodies(fakeweb: FakeWeb) -> None:
    arm(fakeweb.sto, "/api/search/suggest", "html", count=1)
    assert _get(fakeweb, "/api/search/suggest?term=x") == (200, MAINTENANCE_PAGE.encode())
    arm(fakeweb.sto, PAGE, "empty", count=1)
    assert _get(fakeweb, PAGE) == (200, b"")
    whole = _get(fakeweb, PAGE)[1]
    arm(fakeweb.sto, PAGE, "truncated", count=1)
    with pytest.raises(http.client.IncompleteRead) as cut:
        _get(fakeweb, PAGE)
    assert cut.value.partial == whole[: len(whole) // 2]


def test_a_late_series_is_on_the_site_only_once_published(fakeweb: FakeWeb) -> None:
    def aniworld(path: str) -> tuple[int, bytes]:
        return _get(fakeweb, path, server="aniworld")

    assert aniworld("/anime/stream/paper-comets")[0] == 404
    assert b"paper-comets" not in aniworld("/animes-alphabet")[1]
    fakeweb.publish("paper-comets")
    assert aniworld("/anime/stream/paper-comets")[0] == 200
    assert b'href="/anime/stream/paper-comets"' in aniworld("/animes-alphabet")[1]
    fakeweb.reset()
    assert aniworld("/anime/stream/paper-comets")[0] == 404
