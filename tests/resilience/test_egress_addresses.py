"""The proxy's address check, run against the availability probe (a Torznab search) and
the download (qB torrents/add), each through a real Celery worker: a stream or one of
its segments that leads to a local or private address in any spelling is refused
before a connection is made, and the job says which address it refused.

Listeners on 127.0.0.2 and [::1] (loopback, but not allow-listed: only 127.0.0.1 is)
count the connections that reach them; the private and metadata addresses are refused
before a socket exists, and the network guard would fail the run if one were tried.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from catalog.models import EpisodeAvailability
from downloads.models import Job
from tests.download_helpers import finished, grab, kaiju, torznab_identities
from tests.fakeweb import FakeWeb
from tests.processes import celery_worker
from tests.resilience.record import record
from tests.strm_helpers import accept_in_background

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# host spelling in the URL -> what the refusal must name
SPELLINGS = {
    "127.0.0.2": "127.0.0.2",
    "[::1]": "::1",
    "[::ffff:127.0.0.2]": "::ffff:127.0.0.2",
    "2130706434": "127.0.0.2",  # decimal
    "0x7f000002": "127.0.0.2",  # hex
    "10.20.30.40": "10.20.30.40",
    "169.254.169.254": "169.254.169.254",  # cloud metadata
    "[fd00:ec2::254]": "fd00:ec2::254",
}
SEGMENT_SPELLINGS = ["127.0.0.2", "[::1]", "2130706434"]
# Every hoster's stream on the fake CDN: HLS masters, the progressive files.
EVERY_STREAM = ("hls/*/master.m3u8", "mp4/*", "dood/*")
# One segment of every HLS stream (the first: the probe reads it for the codecs).
FIRST_SEGMENTS = ("hls/*/360p/seg0.*", "mp4/*", "dood/*")


class Forbidden:
    """One port on 127.0.0.2 and on ::1, counting every connection."""

    def __init__(self) -> None:
        self.v4 = socket.create_server(("127.0.0.2", 0))
        self.port = self.v4.getsockname()[1]
        self.v6 = socket.create_server(("::1", self.port), family=socket.AF_INET6)
        self.accepted = 0
        for listener in (self.v4, self.v6):
            accept_in_background(listener, self._accepted)

    def _accepted(self, conn: socket.socket) -> None:
        self.accepted += 1
        conn.close()

    def url(self, host: str, path: str = "/media/x.m3u8") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.v4.close()
        self.v6.close()


@pytest.fixture(scope="module")
def worker(
    tmp_path_factory: pytest.TempPathFactory,
    django_db_setup: Any,
    django_db_blocker: Any,
    fakeweb_session: FakeWeb,
) -> Iterator[None]:
    with (
        django_db_blocker.unblock(),
        celery_worker(
            tmp_path_factory.mktemp("egress-addresses"),
            queues="default,downloads",
            concurrency=4,
            name="addresses",
            env=fakeweb_session.app_env(),
        ),
    ):
        yield


@pytest.fixture
def forbidden() -> Iterator[Forbidden]:
    listener = Forbidden()
    yield listener
    listener.close()


def lead_to(web: FakeWeb, patterns: tuple[str, ...], location: str) -> None:
    for pattern in patterns:
        web.cdn.redirect_resources(pattern, location)


CASES = [("stream", spelling) for spelling in SPELLINGS] + [
    ("segment", spelling) for spelling in SEGMENT_SPELLINGS
]
_passed: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def recorded() -> Iterator[None]:
    yield
    if len(_passed) == 2 * len(CASES):
        record(
            "SSRF: probe and download",
            len(_passed),
            "streams and first segments redirecting to 127.0.0.2, [::1], v4-mapped, decimal, "
            "hex, private and metadata addresses: probe says unavailable, download fails "
            "naming the address, 0 connections",
        )


@pytest.mark.parametrize(("where", "spelling"), CASES)
def test_download_refuses_a_stream_leading_to_a_local_address(
    worker: None,
    fake_sites: FakeWeb,
    forbidden: Forbidden,
    client: Client,
    where: str,
    spelling: str,
) -> None:
    lead_to(
        fake_sites,
        EVERY_STREAM if where == "stream" else FIRST_SEGMENTS,
        forbidden.url(spelling, "/x.ts"),
    )
    done = finished(grab(client, kaiju("VOE")))
    assert done.status == Job.Status.FAILED
    assert SPELLINGS[spelling] in done.message and "refused" in done.message, done.message
    assert done.result_path == ""
    assert forbidden.accepted == 0
    _passed.append(f"download {where} {spelling}")


@pytest.mark.parametrize(("where", "spelling"), CASES)
def test_probe_refuses_a_stream_leading_to_a_local_address(
    worker: None,
    fake_sites: FakeWeb,
    forbidden: Forbidden,
    client: Client,
    where: str,
    spelling: str,
) -> None:
    lead_to(
        fake_sites,
        EVERY_STREAM if where == "stream" else FIRST_SEGMENTS,
        forbidden.url(spelling),
    )
    assert "German Dub" not in torznab_identities(client, "Kaiju Academy", 1, 1)
    row = EpisodeAvailability.objects.get(
        slug="kaiju-academy", season=1, episode=1, language="German Dub"
    )
    assert not row.available
    assert SPELLINGS[spelling] in row.error and "refused" in row.error, row.error
    assert forbidden.accepted == 0
    _passed.append(f"probe {where} {spelling}")
