"""Proxy tokens expire (STRM_PROXY_TOKEN_TTL_SECONDS), playback does not: ffmpeg never
reloads a VOD playlist, so segments asked for after the TTL carry expired tokens. The
proxy finds each one again from the episode's current resolution (strm.signing,
strm.proxy) and ffmpeg decodes every frame of the source.

gunicorn (2 gevent workers) with a TTL of 1 s; ffmpeg plays at real speed (-re), 6 s.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from catalog.identity import EpisodeIdentity
from strm.stream_urls import stream_url
from tests import strm_helpers
from tests.fakeweb import FakeWeb
from tests.strm_helpers import use_proxy_config
from tests.test_strm_playback import framemd5, video_hashes

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.engine_agnostic,
]

TTL_SECONDS = 1
HLS = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "VOE")


@pytest.fixture
def web(
    fakeweb: FakeWeb,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[FakeWeb]:
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    env = {**fakeweb.app_env(), "STRM_PROXY_TOKEN_TTL_SECONDS": str(TTL_SECONDS)}
    with strm_helpers.proxy_server(log, **env) as base:
        use_proxy_config(monkeypatch, strm_public_base_url=base)
        fakeweb.cdn.bind_user_agent = True
        fakeweb.cdn.bind_referer = True
        yield fakeweb


def test_ffmpeg_plays_every_frame_although_the_tokens_expire_mid_playback(web: FakeWeb) -> None:
    streams = ("-map", "0:p:1:v", "-map", "0:p:1:a")
    proxied = framemd5(stream_url(HLS), *streams, before_input=("-re",))
    source = framemd5(str(web.media.source("360p")), "-map", "0:v")
    assert video_hashes(proxied) == video_hashes(source)
    # ffmpeg read the master and the 360p playlist once; later segments, their tokens
    # expired, were found again by walking the current playlists from the master.
    assert web.counts.total("cdn", "*/hls/ts/master.m3u8") >= 2
    assert web.counts.total("cdn", "*/hls/ts/360p/index.m3u8") >= 2
    # The episode's resolution did not change: nothing was re-resolved for it.
    assert web.counts.total("voe", "/e/*") == 1
