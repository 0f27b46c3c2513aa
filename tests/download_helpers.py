"""Shared by the download tests: grab an episode through the qB API as Sonarr does, wait
for its job, search Torznab as Sonarr does, and compare media by decoded frames."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from django.test import Client

from catalog.identity import EpisodeIdentity
from catalog.magnet import build_magnet, info_hash, parse_magnet
from downloads.models import Job
from qbshim.models import ClientTask
from tests.fakeweb import FakeWeb
from tests.processes import wait_until
from tests.test_strm_playback import framemd5


def kaiju(provider: str | None = None, episode: int = 1) -> EpisodeIdentity:
    return EpisodeIdentity("aniworld.to", "kaiju-academy", 1, episode, "German Dub", provider)


MOONLIT = EpisodeIdentity("aniworld.to", "moonlit-blade", 1, 1, "German Dub", "VOE")
# HLS kind -> (identity, the CDN's media playlist of its best rendition, read locally
# for reference)
KINDS = {
    "ts": (kaiju("VOE"), "hls/ts/360p/index.m3u8"),
    "aes-128": (kaiju("Vidmoly"), "hls/aes/360p/index.m3u8"),
    "fmp4": (kaiju("Filemoon"), "hls/fmp4/360p/index.m3u8"),
    "byterange": (MOONLIT, "hls/byterange/360p/index.m3u8"),
}


def release_name(identity: EpisodeIdentity) -> str:
    title = identity.slug.replace("-", ".").title()
    return f"{title}.S{identity.season:02d}E{identity.episode:02d}.WEB.H264.GERMAN-aniworld"


def grab(client: Client, identity: EpisodeIdentity) -> Job:
    """torrents/add with the episode's magnet; the job it made."""
    magnet = build_magnet(identity, release_name(identity))
    response = client.post("/api/v2/torrents/add", {"urls": magnet})
    assert response.content == b"Ok.", response.content
    task = ClientTask.objects.get(hash=info_hash(identity))
    assert task.job_id is not None
    return Job.objects.get(pk=task.job_id)


def finished(job: Job, timeout: float = 90) -> Job:
    return wait_until(
        lambda: (j := Job.objects.get(pk=job.pk)).status in Job.FINISHED and j,
        timeout,
        "the job to end",
    )


def torznab_identities(client: Client, query: str, season: int, episode: int) -> list[str]:
    """The languages Torznab offers for an episode (one Sonarr search)."""
    params = {"t": "tvsearch", "q": query, "season": str(season), "ep": str(episode)}
    response = client.get("/torznab/api", params)
    assert response.status_code == 200, response.content
    languages = []
    for item in ET.fromstring(response.content).iter("item"):
        enclosure = item.find("enclosure")
        assert enclosure is not None
        languages.append(parse_magnet(enclosure.attrib["url"]).identity.language)
    return languages


def decoded(source: str | Path, stream: str) -> list[str]:
    """The md5 of every decoded frame of one stream ("v" or "a"): timestamps left out,
    as a remuxed file may start its clock elsewhere."""
    local = ("-allowed_extensions", "ALL") if str(source).endswith(".m3u8") else ()
    return [frame[5] for frame in framemd5(str(source), "-map", f"0:{stream}", before_input=local)]


def assert_same_media(result: str | Path, web: FakeWeb, media_playlist: str) -> None:
    """Every decoded video and audio frame equals the source's."""
    local = web.media.root / media_playlist
    rendition = media_playlist.split("/")[2]
    assert decoded(result, "v") == decoded(web.media.source(rendition), "v")
    assert decoded(result, "a") == decoded(local, "a")


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def job_summary(job: Job) -> dict[str, Any]:
    return {"status": job.status, "message": job.message, "provider": job.provider_used}
