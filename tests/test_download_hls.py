"""Probes and downloads read the way the STRM proxy does (catalog.egress): the quirky
upstreams the proxy plays are probed (offered in Torznab) and downloaded frame-exact.
Through the public entry points (Torznab search, qB torrents/add) with a real Celery
worker against the fake web; token expiry and the rate limit: test_download_expiry.py."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from catalog.identity import EpisodeIdentity
from catalog.models import EpisodeAvailability
from downloads.files import partial_dir
from downloads.models import Job
from tests.download_helpers import (
    KINDS,
    MOONLIT,
    assert_same_media,
    decoded,
    finished,
    grab,
    kaiju,
    torznab_identities,
)
from tests.fakeweb import FakeWeb
from tests.fakeweb.quirks import QUIRKS
from tests.fakeweb.server import Request, Response, file_response
from tests.strm_helpers import Origin

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

QUIRK_SETS = {"plain": frozenset(), "bom-crlf": frozenset({"bom-crlf"}), "all-quirks": QUIRKS}


@pytest.fixture
def web(fake_sites: FakeWeb) -> FakeWeb:
    # Tokens bound to the resolver's headers, as the proxy tests have them: a fetch
    # without the hoster's User-Agent/Referer is refused.
    fake_sites.cdn.bind_user_agent = True
    fake_sites.cdn.bind_referer = True
    return fake_sites


@pytest.mark.parametrize("quirks", list(QUIRK_SETS), ids=list(QUIRK_SETS))
@pytest.mark.parametrize("kind", list(KINDS), ids=list(KINDS))
def test_quirky_hls_is_downloaded_frame_exact(
    fakeweb_worker: None, web: FakeWeb, client: Client, kind: str, quirks: str
) -> None:
    identity, media_playlist = KINDS[kind]
    web.cdn.quirks = QUIRK_SETS[quirks]
    done = finished(grab(client, identity))
    assert done.status == Job.Status.COMPLETED, done.message
    assert done.provider_used == identity.provider
    result = Path(done.result_path)
    assert result.parent == settings.CONFIG.download_dir and result.suffix == ".mp4"
    assert done.total_bytes == done.downloaded_bytes == result.stat().st_size
    assert done.progress == 1.0 and not partial_dir(done.pk).exists()
    assert_same_media(done.result_path, web, media_playlist)
    assert web.counts.total("cdn", "*/180p/*") == 0  # only the best rendition was fetched


@pytest.mark.parametrize(
    ("query", "identity"), [("Kaiju Academy", kaiju()), ("Moonlit Blade", MOONLIT)]
)
@pytest.mark.parametrize("quirks", ["bom-crlf", "all-quirks"])
def test_quirky_hls_is_probed_and_offered_in_torznab(
    fakeweb_worker: None,
    web: FakeWeb,
    client: Client,
    query: str,
    identity: EpisodeIdentity,
    quirks: str,
) -> None:
    web.cdn.quirks = QUIRK_SETS[quirks]
    offered = torznab_identities(client, query, identity.season, identity.episode)
    assert "German Dub" in offered
    row = EpisodeAvailability.objects.get(
        slug=identity.slug, season=1, episode=1, language="German Dub"
    )
    assert row.available and row.provider == "VOE", row.error
    assert (row.width, row.height) == (640, 360)
    assert row.bandwidth is not None and row.bandwidth > 0


# --- audio in a rendition of its own ---------------------------------------------------------

MASTER_WITH_AUDIO_RENDITIONS = """#EXTM3U
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="English",LANGUAGE="en",URI="audio-en/index.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="Deutsch",LANGUAGE="de",DEFAULT=YES,URI="audio/index.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=310000,RESOLUTION=640x360,AUDIO="aud"
video/index.m3u8
"""


@pytest.fixture(scope="module")
def demuxed(tmp_path_factory: pytest.TempPathFactory, fakeweb_session: FakeWeb) -> Path:
    """The 360p source cut into a video-only and an audio-only HLS stream."""
    root = tmp_path_factory.mktemp("demuxed")
    source = fakeweb_session.media.progressive
    for name, stream in (("video", "0:v"), ("audio", "0:a")):
        (root / name).mkdir()
        command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(source), "-map", stream]
        command += ["-c", "copy", "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod"]
        command += ["-hls_segment_filename", str(root / name / "seg%d.ts")]
        subprocess.run([*command, str(root / name / "index.m3u8")], check=True, timeout=60)
    (root / "master.m3u8").write_text(MASTER_WITH_AUDIO_RENDITIONS)
    return root


def serving(path: Path) -> Callable[[Request], Response]:
    return lambda request: file_response(request, path, "application/octet-stream")


def test_audio_in_a_rendition_of_its_own_is_downloaded_with_the_video(
    fakeweb_worker: None, web: FakeWeb, client: Client, demuxed: Path
) -> None:
    origin = Origin(web.counts)
    for path in demuxed.rglob("*"):
        if path.is_file():
            origin.route("/" + path.relative_to(demuxed).as_posix(), serving(path))
    origin.start()
    try:
        web.cdn.redirect_resources("hls/ts/master.m3u8", origin.url("/master.m3u8"))
        done = finished(grab(client, kaiju("VOE")))
    finally:
        origin.stop()
    assert done.status == Job.Status.COMPLETED, done.message
    assert decoded(done.result_path, "v") == decoded(web.media.source("360p"), "v")
    assert decoded(done.result_path, "a") == decoded(demuxed / "audio" / "index.m3u8", "a")
    assert web.counts.total("origin", "/audio-en/*") == 0  # only the default rendition
