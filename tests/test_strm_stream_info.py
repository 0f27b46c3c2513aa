"""Complete synthetic masters (strm.stream_info, strm.codec_strings): a bare media
playlist's master carries RESOLUTION and CODECS learnt once by ffprobe from its first
segment, fetched with the hoster's headers, and kept with the mapping."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from catalog.identity import EpisodeIdentity
from strm import codec_strings, resolved
from strm.models import StrmUrlMapping
from strm.stream_urls import stream_url
from tests.fakeweb import FakeWeb
from tests.strm_helpers import (
    Origin,
    ProxyClient,
    WsgiClient,
    get,
    proxy_uris,
    store_resolution,
    use_proxy_config,
)

pytestmark = pytest.mark.django_db

EPISODE = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "VOE")
UA = "Mozilla/5.0 (resolver)"
REFERER = "https://voe.sx/"
AVC_AAC = "avc1.42c01e,mp4a.40.2"  # what media.py encodes: x264 ultrafast, AAC-LC


@pytest.fixture(params=["django", "wsgi"])
def client(request: pytest.FixtureRequest) -> ProxyClient:
    return Client() if request.param == "django" else WsgiClient()


@pytest.fixture
def web(fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch) -> FakeWeb:
    use_proxy_config(monkeypatch)
    return fake_sites


def resolve_to(web: FakeWeb, resource: str, provider: str = "VOE") -> None:
    """The episode resolved to `resource` on the CDN, with a token bound to the hoster's
    headers: a probe without them would be refused."""
    url = web.cdn.sign(resource, user_agent=UA, referer=REFERER)
    mapping = store_resolution(EPISODE, url, {"User-Agent": UA, "Referer": REFERER})
    mapping.provider_used = provider
    mapping.save()


def stream_inf(client: ProxyClient) -> dict[str, str]:
    status, _, body = get(client, stream_url(EPISODE))
    assert status == 200, body
    lines = body.decode().splitlines()
    (line,) = [x for x in lines if x.startswith("#EXT-X-STREAM-INF:")]
    pairs = re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', line.removeprefix("#EXT-X-STREAM-INF:"))
    return {name: value.strip('"') for name, value in pairs}


@pytest.mark.parametrize(
    ("resource", "resolution", "codecs"),
    [
        ("hls/ts/360p/index.m3u8", "640x360", AVC_AAC),
        ("hls/aes/360p/index.m3u8", "640x360", AVC_AAC),  # decrypted with its key
        ("hls/fmp4/180p/index.m3u8", "320x180", "avc1.42c00c,mp4a.40.2"),  # init + level 1.2
        ("hls/byterange/360p/index.m3u8", "640x360", AVC_AAC),
        ("hls/video-only/360p/index.m3u8", "640x360", "avc1.42c01e"),
    ],
    ids=["ts", "aes-128", "fmp4", "byterange", "video-only"],
)
def test_a_synthetic_master_says_resolution_and_codecs(
    web: FakeWeb, client: ProxyClient, resource: str, resolution: str, codecs: str
) -> None:
    resolve_to(web, resource)
    attributes = stream_inf(client)
    assert attributes["RESOLUTION"] == resolution
    assert attributes["CODECS"] == codecs
    assert int(attributes["BANDWIDTH"]) > 0
    row = StrmUrlMapping.objects.get(slug=EPISODE.slug, provider="VOE")
    assert (f"{row.media_width}x{row.media_height}", row.media_codecs) == (resolution, codecs)


def test_the_probe_runs_once_and_again_only_for_another_hoster(
    web: FakeWeb, client: ProxyClient
) -> None:
    resolve_to(web, "hls/ts/360p/index.m3u8")
    assert stream_inf(client)["RESOLUTION"] == "640x360"
    probed = web.counts.total("cdn", "*/hls/ts/360p/seg0.ts")
    assert probed >= 1
    for _ in range(2):  # Jellyfin opens a stream several times
        assert stream_inf(client)["CODECS"] == AVC_AAC
    assert web.counts.total("cdn", "*/hls/ts/360p/seg0.ts") == probed
    # Re-resolved to another hoster with another encode: learnt anew.
    resolved.invalidate(EPISODE)
    resolve_to(web, "hls/ts/180p/index.m3u8", provider="Vidmoly")
    assert stream_inf(client)["RESOLUTION"] == "320x180"


def test_an_unprobeable_stream_gets_bandwidth_only_and_is_not_probed_again(
    client: ProxyClient, fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_proxy_config(monkeypatch)
    origin = Origin()
    origin.start()
    try:
        origin.serve("/s0.ts", b"\x47" + b"\xff" * 100_000, "video/mp2t")
        media = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\ns0.ts\n#EXT-X-ENDLIST\n"
        store_resolution(EPISODE, origin.serve("/index.m3u8", media, "application/x-mpegurl"))
        for _ in range(2):
            attributes = stream_inf(client)
            assert "RESOLUTION" not in attributes and "CODECS" not in attributes
            assert int(attributes["BANDWIDTH"]) == 400_004
        # One request to measure its size, one to probe it; none the second time.
        assert origin.traffic.total("origin", "/s0.ts") == 2
    finally:
        origin.stop()


def test_a_real_master_keeps_the_upstream_attributes(web: FakeWeb, client: ProxyClient) -> None:
    resolve_to(web, "hls/ts/master.m3u8")
    status, _, body = get(client, stream_url(EPISODE))
    assert status == 200, body
    upstream = (web.media.root / "hls/ts/master.m3u8").read_text()
    ours = [x for x in body.decode().splitlines() if x.startswith("#")]
    assert ours == [x for x in upstream.splitlines() if x.startswith("#")]
    assert "CODECS" not in body.decode()
    assert len(proxy_uris(body.decode())) == 2
    assert web.counts.total("cdn", "*/seg0.ts") == 0  # nothing probed


# --- codec strings ----------------------------------------------------------------------------


def test_h264_from_an_avcc_record_and_from_annex_b_parameter_sets() -> None:
    avcc = "00000000: 0164 001f ffe1 0019 6764 001f acd9 4050  .d......gd....@P\n"
    annexb = "00000000: 0000 0001 6742 c01e da02 80bf e5c0 4400  ....gB........D.\n"
    assert codec_strings.codec({"codec_name": "h264", "extradata": avcc}) == "avc1.64001f"
    assert codec_strings.codec({"codec_name": "h264", "extradata": annexb}) == "avc1.42c01e"
    assert codec_strings.codec({"codec_name": "h264", "extradata": ""}) is None


@pytest.mark.parametrize(
    ("streams", "codecs"),
    [
        ([{"codec_type": "audio", "codec_name": "aac", "profile": "HE-AAC"}], "mp4a.40.5"),
        ([{"codec_type": "audio", "codec_name": "aac", "profile": "HE-AACv2"}], "mp4a.40.29"),
        ([{"codec_type": "audio", "codec_name": "ac3"}], "ac-3"),
        ([{"codec_type": "data", "codec_name": "timed_id3"}], ""),
        (
            [
                {"codec_type": "video", "codec_name": "hevc"},
                {"codec_type": "audio", "codec_name": "aac", "profile": "LC"},
            ],
            "",  # one unknown codec: no CODECS at all, never a partial list
        ),
    ],
)
def test_codecs_are_complete_or_absent(streams: list[dict[str, str]], codecs: str) -> None:
    assert codec_strings.codecs(streams) == codecs
