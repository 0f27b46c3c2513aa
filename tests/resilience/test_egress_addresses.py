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

import pytest
from django.test import Client

from catalog.models import EpisodeAvailability
from downloads.models import Job
from tests.download_helpers import finished, grab, kaiju, torznab_identities
from tests.fakeweb import FakeWeb
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


def download_failure(client: Client) -> str:
    """Why a download of the episode failed (it must fail)."""
    done = finished(grab(client, kaiju("VOE")))
    assert done.status == Job.Status.FAILED and done.result_path == ""
    return done.message


def probe_failure(client: Client) -> str:
    """Why the probe a Torznab search made found the episode unavailable (it must)."""
    assert "German Dub" not in torznab_identities(client, "Kaiju Academy", 1, 1)
    row = EpisodeAvailability.objects.get(
        slug="kaiju-academy", season=1, episode=1, language="German Dub"
    )
    assert not row.available
    return row.error


@pytest.mark.parametrize("entry", ["download", "probe"])
@pytest.mark.parametrize(("where", "spelling"), CASES)
def test_a_stream_leading_to_a_local_address_is_refused_naming_it(
    fakeweb_worker: None,
    fake_sites: FakeWeb,
    forbidden: Forbidden,
    client: Client,
    entry: str,
    where: str,
    spelling: str,
) -> None:
    patterns = EVERY_STREAM if where == "stream" else FIRST_SEGMENTS
    lead_to(fake_sites, patterns, forbidden.url(spelling, "/x.ts"))
    message = download_failure(client) if entry == "download" else probe_failure(client)
    assert SPELLINGS[spelling] in message and "refused" in message, message
    assert forbidden.accepted == 0
    _passed.append(f"{entry} {where} {spelling}")
