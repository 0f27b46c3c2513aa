"""The STRM proxy end to end through both front ends of its views (the Django test
client and the plain WSGI path gunicorn serves them through), against the fake
CDN and hand-made origins: playlist serving (STRM-PROXY.md cases 1, 2, 4, 6, 8-12, 14),
refresh on failure (5, 13), Range (16). SSRF (15) is in test_strm_ssrf.py; the real
client, disconnects (17) and keep-alive concurrency (18) in test_strm_playback.py.
"""

from __future__ import annotations

import gzip
import threading
import tracemalloc
from collections.abc import Iterator

import pytest
from django.db import connection
from django.test import Client

from catalog.egress import upstream
from catalog.identity import EpisodeIdentity
from strm import proxy
from strm.models import StrmUrlMapping
from strm.signing import decode_token
from strm.stream_urls import stream_url
from tests.fakeweb import FakeWeb
from tests.fakeweb.server import Request, Response, redirect
from tests.strm_helpers import (
    Origin,
    ProxyClient,
    WsgiClient,
    get,
    head,
    proxy_uris,
    store_resolution,
    use_proxy_config,
)

pytestmark = pytest.mark.django_db

TS = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "VOE")
AES = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "Vidmoly")
FMP4 = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "Filemoon")
MP4 = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "Vidoza")
BYTERANGE = EpisodeIdentity("aniworld.to", "moonlit-blade", 1, 1, "German Dub", "VOE")
PLAYLIST = "application/vnd.apple.mpegurl"


@pytest.fixture(autouse=True)
def forget_walks() -> Iterator[None]:
    proxy._memo.clear()
    yield
    proxy._memo.clear()


@pytest.fixture
def web(fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch) -> FakeWeb:
    """Fake sites and CDN with header-bound tokens; the proxy resolves through them."""
    use_proxy_config(monkeypatch)
    fake_sites.cdn.bind_user_agent = True
    fake_sites.cdn.bind_referer = True
    return fake_sites


@pytest.fixture
def origin(fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch) -> Iterator[Origin]:
    """A hand-made upstream; a re-resolve would still reach only the fake sites."""
    use_proxy_config(monkeypatch)
    server = Origin()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["django", "wsgi"])
def client(request: pytest.FixtureRequest) -> ProxyClient:
    return Client() if request.param == "django" else WsgiClient()


def resolves(web: FakeWeb, hoster: str = "voe") -> int:
    """How often the proxy resolved through `hoster` (one extractor request each)."""
    return web.counts.total(hoster)


def playlist(client: ProxyClient, url: str) -> str:
    status, headers, body = get(client, url, Range="bytes=0-", **{"Icy-MetaData": "1"})
    assert status == 200, body
    assert headers["Content-Type"] == PLAYLIST
    assert headers["Content-Length"] == str(len(body))
    assert headers["Cache-Control"] == "no-store"
    assert "Content-Range" not in headers
    return body.decode()


def variant(client: ProxyClient, identity: EpisodeIdentity, index: int = -1) -> str:
    """The media playlist of one variant (default: the last, 360p) as the proxy serves it."""
    return playlist(client, proxy_uris(playlist(client, stream_url(identity)))[index])


def media_playlist(client: ProxyClient, identity: EpisodeIdentity) -> str:
    """The media playlist behind an entry, whether upstream has a master or not."""
    entry = playlist(client, stream_url(identity))
    return playlist(client, proxy_uris(entry)[0]) if "#EXT-X-STREAM-INF" in entry else entry


def cdn_file(web: FakeWeb, resource: str) -> bytes:
    path = web.media.path(resource)
    assert path is not None
    return path.read_bytes()


# --- playlists ---------------------------------------------------------------------------------


def test_master_and_media_playlists_are_rewritten_to_proxy_paths(
    web: FakeWeb, client: ProxyClient
) -> None:
    master = playlist(client, stream_url(TS))
    assert master.startswith("#EXTM3U\n") and "127.0.0.1" not in master
    variants = proxy_uris(master)
    assert len(variants) == 2 and all(v.endswith("/index.m3u8") for v in variants)
    assert "BANDWIDTH=" in master and "RESOLUTION=640x360" in master
    media = playlist(client, variants[1])
    segments = proxy_uris(media)
    assert [s.rsplit("/", 1)[1] for s in segments] == ["seg0.ts", "seg1.ts", "seg2.ts"]
    status, headers, body = get(client, segments[1], Range="bytes=0-")
    assert status == 206 and body == cdn_file(web, "hls/ts/360p/seg1.ts")
    assert headers["Content-Range"] == f"bytes 0-{len(body) - 1}/{len(body)}"
    # The token knows its way back: identity, the variant, then the segment.
    token = decode_token(segments[1].split("/")[-2])
    assert token.identity == TS and [loc.kind for loc in token.chain] == ["variant", "segment"]
    assert token.chain[1].media_sequence == 1 and not token.playlist


def test_bom_crlf_no_final_newline_and_trailing_spaces(origin: Origin, client: ProxyClient) -> None:
    """Case 1."""
    body = (
        b"\xef\xbb\xbf#EXTM3U  \r\n#EXT-X-TARGETDURATION:2\r\n"
        b"#EXTINF:2,\r\nseg0.ts  \r\n#EXTINF:2,\r\nseg1.ts"
    )
    store_resolution(TS, origin.serve("/live/index.m3u8", body, "application/x-mpegurl"))
    origin.serve("/live/seg0.ts", b"\x47" * 376, "video/mp2t")
    text = playlist(client, stream_url(TS))  # a synthetic master around the media playlist
    media = playlist(client, proxy_uris(text)[0])
    assert media.startswith("#EXTM3U\n#EXT-X-TARGETDURATION:2\n")
    segments = proxy_uris(media)
    assert [decode_token(s.split("/")[-2]).url for s in segments] == [
        origin.url("/live/seg0.ts"),
        origin.url("/live/seg1.ts"),
    ]
    assert get(client, segments[0])[2] == b"\x47" * 376


def test_variant_without_m3u8_after_a_comment_is_routed_as_a_playlist(
    origin: Origin, client: ProxyClient
) -> None:
    """Case 2, and case 10's extensionless text/plain playlist."""
    master = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=500000\n# a comment\n\nplay?v=1\n"
    media = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nchunk-1\n#EXT-X-ENDLIST\n"
    store_resolution(TS, origin.serve("/master", master, "application/octet-stream"))
    origin.serve("/play", media, "text/plain")
    uris = proxy_uris(playlist(client, stream_url(TS)))
    assert len(uris) == 1 and uris[0].endswith("/play.m3u8")
    segment = proxy_uris(playlist(client, uris[0]))[0]
    assert segment.endswith("/chunk-1.ts")


def test_relative_uris_resolve_against_the_post_redirect_url(
    origin: Origin, client: ProxyClient
) -> None:
    """Case 4 through the proxy: ffmpeg resolves against the final URL, so do we."""
    media = (
        b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\na%2Fb+c=1,d e.ts?q=1\n"
        b"#EXTINF:2,\n../up/s.ts\n#EXTINF:2,\n/root/s.ts\n#EXT-X-ENDLIST\n"
    )
    store_resolution(TS, origin.route("/entry", lambda _r: redirect("/cdn2/hls/index.m3u8")))
    origin.serve("/cdn2/hls/index.m3u8", media, PLAYLIST)
    segments = proxy_uris(media_playlist(client, TS))
    assert [decode_token(s.split("/")[-2]).url for s in segments] == [
        origin.url("/cdn2/hls/a%2Fb+c=1,d%20e.ts?q=1"),
        origin.url("/cdn2/up/s.ts"),
        origin.url("/root/s.ts"),
    ]


def test_segment_paths_get_extensions_ffmpeg_accepts(origin: Origin, client: ProxyClient) -> None:
    """Case 11: upstream disguises segments as .jpg/.html/.txt or uses none."""
    media = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n" + b"".join(
        b"#EXTINF:2,\n" + name + b"\n" for name in (b"a.jpg", b"b.html", b"c.txt", b"d", b"e.aac")
    )
    store_resolution(TS, origin.serve("/index.m3u8", media + b"#EXT-X-ENDLIST\n", PLAYLIST))
    names = [s.rsplit("/", 1)[1] for s in proxy_uris(media_playlist(client, TS))]
    assert names == ["a.ts", "b.ts", "c.ts", "d.ts", "e.aac"]


def test_already_proxied_uris_are_not_wrapped_twice(origin: Origin, client: ProxyClient) -> None:
    """Case 14: a playlist that already points at us (a re-published proxy playlist)."""
    ours = "http://testserver/strm/proxy/sometoken.sig/seg0.ts"
    media = f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n{ours}\n#EXT-X-ENDLIST\n"
    store_resolution(TS, origin.serve("/index.m3u8", media.encode(), PLAYLIST))
    assert proxy_uris(media_playlist(client, TS)) == [ours]


def test_upstream_206_for_a_playlist_becomes_200_with_the_new_length(
    origin: Origin, client: ProxyClient
) -> None:
    """Case 9: the original passed upstream's 206/Content-Range on and ffmpeg truncated."""
    master = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=500000\nv.m3u8\n"

    def partial_content(request: Request) -> Response:
        headers = {"Content-Range": f"bytes 0-{len(master) - 1}/{len(master)}"}
        return Response(206, master, PLAYLIST, headers)

    store_resolution(TS, origin.route("/master.m3u8", partial_content))
    status, headers, body = get(client, stream_url(TS), Range="bytes=0-")
    assert status == 200 and "Content-Range" not in headers
    assert int(headers["Content-Length"]) == len(body) > len(master)


def test_upstream_sending_only_part_of_a_playlist_is_refetched_whole(
    origin: Origin, client: ProxyClient
) -> None:
    text = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=500000\nv.m3u8\n"

    def first_bytes_only(request: Request) -> Response:
        if request.header("Range"):
            headers = {"Content-Range": f"bytes 0-9/{len(text)}"}
            return Response(206, text[:10], PLAYLIST, headers)
        return Response(200, text, PLAYLIST)

    store_resolution(TS, origin.route("/master.m3u8", first_bytes_only))
    assert len(proxy_uris(playlist(client, stream_url(TS)))) == 1


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", PLAYLIST])
def test_html_error_page_with_200_is_a_502(
    origin: Origin, client: ProxyClient, content_type: str
) -> None:
    """Case 10: at the entry and for a variant."""
    page = b"<!DOCTYPE html><html><body>Video not found</body></html>"
    store_resolution(TS, origin.serve("/master.m3u8", page, content_type))
    status, _, body = get(client, stream_url(TS))
    assert status == 502 and b"HTML" in body
    master = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=500000\nv.m3u8\n"
    origin.serve("/master.m3u8", master, PLAYLIST)
    origin.serve("/v.m3u8", page, content_type)
    status, _, body = get(client, proxy_uris(playlist(client, stream_url(TS)))[0])
    assert status == 502 and b"HTML" in body


def test_gzip_encoded_playlist_is_decoded_and_rewritten(
    origin: Origin, client: ProxyClient
) -> None:
    """Case 10."""
    master = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=500000\nv.m3u8\n"
    store_resolution(
        TS,
        origin.serve(
            "/master.m3u8", gzip.compress(master), PLAYLIST, **{"Content-Encoding": "gzip"}
        ),
    )
    media = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\ns.ts\n#EXT-X-ENDLIST\n"
    origin.serve("/v.m3u8", gzip.compress(media), PLAYLIST, **{"Content-Encoding": "gzip"})
    variant_uri = proxy_uris(playlist(client, stream_url(TS)))[0]
    assert proxy_uris(playlist(client, variant_uri))[0].endswith("/s.ts")
    accepted = origin.traffic.requests("origin")[-1].headers["accept-encoding"]
    assert "gzip" in accepted


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_playlist_larger_than_the_cap_is_a_502(
    origin: Origin, client: ProxyClient, monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    """Case 10: bounded memory, whether the size is announced or only seen while reading."""
    monkeypatch.setattr(proxy, "MAX_PLAYLIST_BYTES", 64 * 1024)
    body = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n" + b"#EXTINF:2,\nsegment.ts\n" * 20_000
    headers = {}
    if encoding == "gzip":
        body, headers = gzip.compress(body), {"Content-Encoding": "gzip"}
    store_resolution(TS, origin.serve("/index.m3u8", body, PLAYLIST, **headers))
    status, _, message = get(client, stream_url(TS))
    assert status == 502 and b"too large" in message


def test_a_playlist_inflating_far_beyond_the_cap_is_refused_without_holding_it(
    origin: Origin, client: ProxyClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 10, bounded memory: 64 MiB of playlist in ~64 KiB of gzip is refused after
    reading about the cap, not inflated whole."""
    monkeypatch.setattr(proxy, "MAX_PLAYLIST_BYTES", 64 * 1024)
    line = b"#EXTINF:2,\nsegment.ts\n"
    inflated = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n" + line * (64 * 1024 * 1024 // len(line))
    body = gzip.compress(inflated, compresslevel=9)
    del inflated
    store_resolution(
        TS, origin.serve("/index.m3u8", body, PLAYLIST, **{"Content-Encoding": "gzip"})
    )
    get(client, stream_url(TS))  # once untraced: what the first request imports is not its data
    tracemalloc.start()
    try:
        status, _, message = get(client, stream_url(TS))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert status == 502 and b"too large" in message
    assert peak < 4 * 1024 * 1024, f"{peak} bytes allocated at the peak"


def test_single_variant_media_playlist_gets_a_master_with_measured_bandwidth(
    origin: Origin, client: ProxyClient
) -> None:
    """Jellyfin showed "0 kbps" for a bare media playlist."""
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:2", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for n in range(6):
        lines += ["#EXTINF:2.0,", f"s{n}.ts"]
        origin.serve(f"/s{n}.ts", b"\x47" * (50_000 * (n + 1)), "video/mp2t")
    store_resolution(TS, origin.serve("/index.m3u8", ("\n".join(lines) + "\n").encode(), PLAYLIST))
    master = playlist(client, stream_url(TS))
    lines = master.splitlines()
    assert lines[:3] == ["#EXTM3U", "#EXT-X-INDEPENDENT-SEGMENTS", lines[2]]
    attributes = dict(a.split("=") for a in lines[2].removeprefix("#EXT-X-STREAM-INF:").split(","))
    # Sampled segments 0, 2 and 5 (first, middle, last): 50/150/300 kB in 2 s each.
    assert int(attributes["BANDWIDTH"]) == 300_000 * 8 // 2
    assert int(attributes["AVERAGE-BANDWIDTH"]) == -(-(50_000 + 150_000 + 300_000) * 8 // 6)
    # 3 sizes, and the first segment once more for RESOLUTION/CODECS (strm.stream_info).
    assert origin.traffic.total("origin", "/s*.ts") == 4
    # Measured once per resolution: Jellyfin opens a stream several times.
    playlist(client, stream_url(TS))
    assert origin.traffic.total("origin", "/s*.ts") == 4
    media = playlist(client, lines[3])
    assert len(proxy_uris(media)) == 6 and "#EXT-X-STREAM-INF" not in media


def test_byte_range_media_playlist_gets_its_bandwidth_from_the_ranges(
    origin: Origin, client: ProxyClient
) -> None:
    media = (
        b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n#EXT-X-BYTERANGE:1000@0\nall.ts\n"
        b"#EXTINF:2,\n#EXT-X-BYTERANGE:3000\nall.ts\n#EXT-X-ENDLIST\n"
    )
    store_resolution(TS, origin.serve("/index.m3u8", media, PLAYLIST))
    master = playlist(client, stream_url(TS))
    assert "BANDWIDTH=12000,AVERAGE-BANDWIDTH=8000" in master
    # No size measured; only the first range fetched for RESOLUTION/CODECS.
    assert origin.traffic.total("origin", "/all.ts") == 1


def test_live_playlist_passes_ll_hls_parameters_and_is_never_cached(
    origin: Origin, client: ProxyClient
) -> None:
    """Case 12."""
    master = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=500000\nlive.m3u8\n"
    live = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:41\n"
    store_resolution(TS, origin.serve("/master.m3u8", master, PLAYLIST))
    origin.serve("/live.m3u8", live, PLAYLIST)
    uri = proxy_uris(playlist(client, stream_url(TS)))[0]
    assert playlist(client, uri + "?_HLS_msn=42&_HLS_part=1&other=x").startswith("#EXTM3U\n")
    last = origin.traffic.requests("origin")[-1]
    assert (last.path, last.query) == ("/live.m3u8", "_HLS_msn=42&_HLS_part=1")


def test_a_live_playlist_is_fetched_anew_as_its_window_slides(
    origin: Origin, client: ProxyClient
) -> None:
    """Case 12: a sliding MEDIA-SEQUENCE through the proxy. Each reload shows the window
    as it is now, and the new segments' URLs fetch the new segments."""

    def window(first: int) -> bytes:
        lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:2", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
        for n in range(first, first + 3):
            lines += ["#EXTINF:2.0,", f"s{n}.ts"]
            origin.serve(f"/s{n}.ts", f"segment {n}".encode(), "video/mp2t")
        return ("\n".join(lines) + "\n").encode()

    master = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=500000\nlive.m3u8\n"
    store_resolution(TS, origin.serve("/master.m3u8", master, PLAYLIST))
    live_uri = proxy_uris(playlist(client, stream_url(TS)))[0]
    for first in (41, 42, 45):
        origin.serve("/live.m3u8", window(first), PLAYLIST)
        current = playlist(client, live_uri)
        assert f"#EXT-X-MEDIA-SEQUENCE:{first}\n" in current
        bodies = [get(client, uri)[2] for uri in proxy_uris(current)]
        assert bodies == [f"segment {n}".encode() for n in range(first, first + 3)]


# --- keys, init sections, byte ranges -----------------------------------------------------


def test_aes_key_is_served_whole_even_when_asked_with_a_range(
    web: FakeWeb, client: ProxyClient
) -> None:
    """Case 6."""
    media = variant(client, AES)
    key_uri = next(u for u in proxy_uris(media) if u.endswith(".key"))
    status, headers, body = get(client, key_uri, Range="bytes=5-")
    assert (status, body) == (200, bytes(range(16)))
    assert "Content-Range" not in headers
    key_requests = [r for r in web.counts.requests("cdn") if r.path.endswith("enc.key")]
    assert key_requests and "range" not in key_requests[-1].headers


def test_fmp4_init_section_and_segments_end_in_mp4(web: FakeWeb, client: ProxyClient) -> None:
    uris = proxy_uris(variant(client, FMP4))
    assert uris[0].endswith("/init.mp4") and all(u.endswith(".mp4") for u in uris)
    assert get(client, uris[0])[2] == cdn_file(web, "hls/fmp4/360p/init.mp4")


def test_byte_range_segments_pass_the_range_through_exactly(
    web: FakeWeb, client: ProxyClient
) -> None:
    """Case 8."""
    media = variant(client, BYTERANGE)
    assert "#EXT-X-BYTERANGE:" in media
    whole = cdn_file(web, "hls/byterange/360p/index.ts")
    segment = proxy_uris(media)[1]
    status, headers, body = get(client, segment, Range="bytes=1000-1999")
    assert status == 206 and body == whole[1000:2000]
    assert headers["Content-Range"] == f"bytes 1000-1999/{len(whole)}"
    assert headers["Content-Length"] == "1000"
    assert web.counts.requests("cdn")[-1].headers["range"] == "bytes=1000-1999"


# --- Range syntax and HEAD (case 16) ----------------------------------------------------------


@pytest.fixture
def mp4(web: FakeWeb) -> bytes:
    return web.media.progressive.read_bytes()


@pytest.mark.parametrize(
    ("range_header", "status", "part"),
    [
        ("bytes=0-", 206, slice(0, None)),
        ("bytes=100-199", 206, slice(100, 200)),
        ("bytes=-500", 206, slice(-500, None)),
        ("bytes=NaN-NaN", 200, slice(0, None)),
        ("bytes=0-1,5-9", 200, slice(0, None)),  # multi-range: the fake CDN sends it whole
        ("items=0-10", 200, slice(0, None)),
    ],
)
def test_range_requests_on_a_progressive_file(
    web: FakeWeb, client: ProxyClient, mp4: bytes, range_header: str, status: int, part: slice
) -> None:
    got, headers, body = get(client, stream_url(MP4), Range=range_header)
    assert (got, body) == (status, mp4[part])
    assert headers["Content-Length"] == str(len(body))
    if status == 206:
        first = part.start if part.start >= 0 else len(mp4) + part.start
        assert headers["Content-Range"] == f"bytes {first}-{first + len(body) - 1}/{len(mp4)}"


def test_unsatisfiable_range_is_416_with_the_size(
    web: FakeWeb, client: ProxyClient, mp4: bytes
) -> None:
    status, headers, _ = get(client, stream_url(MP4), Range=f"bytes={len(mp4)}-")
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(mp4)}"


def test_if_range_passes_through(web: FakeWeb, client: ProxyClient, mp4: bytes) -> None:
    _, headers, _ = head(client, stream_url(MP4))
    etag = headers["ETag"]
    status, _, body = get(client, stream_url(MP4), Range="bytes=10-19", **{"If-Range": etag})
    assert (status, body) == (206, mp4[10:20])
    status, _, body = get(client, stream_url(MP4), Range="bytes=10-19", **{"If-Range": '"old"'})
    assert (status, body) == (200, mp4)


def test_head_on_every_endpoint_matches_get_without_a_body(
    web: FakeWeb, client: ProxyClient
) -> None:
    for url in (stream_url(TS), stream_url(MP4)):
        status, headers, body = head(client, url, Range="bytes=0-")
        assert status in (200, 206) and body == b""
        assert headers["Content-Length"] == get(client, url, Range="bytes=0-")[1]["Content-Length"]
    media = variant(client, TS)
    segment = proxy_uris(media)[0]
    status, headers, body = head(client, segment)
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == str(len(cdn_file(web, "hls/ts/360p/seg0.ts")))
    assert web.counts.requests("cdn")[-1].method == "HEAD"
    variant_uri = proxy_uris(playlist(client, stream_url(TS)))[0]
    status, headers, body = head(client, variant_uri)
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == str(len(playlist(client, variant_uri).encode()))


@pytest.mark.parametrize(
    ("range_header", "status", "content_range", "part"),
    [
        ("bytes=10-19", 206, "bytes 10-19/1000", slice(10, 20)),
        ("bytes=-100", 206, "bytes 900-999/1000", slice(900, None)),
        ("bytes=990-5000", 206, "bytes 990-999/1000", slice(990, None)),
        ("bytes=1000-", 416, "bytes */1000", slice(0, 0)),
        ("bytes=5-2", 200, None, slice(0, None)),
    ],
)
def test_upstream_ignoring_range_is_cut_to_the_asked_range(
    origin: Origin,
    client: ProxyClient,
    range_header: str,
    status: int,
    content_range: str | None,
    part: slice,
) -> None:
    data = bytes(range(256)) * 3 + bytes(232)
    store_resolution(MP4, origin.serve("/video.mp4", data, "video/mp4"))
    got, headers, body = get(client, stream_url(MP4), Range=range_header)
    assert (got, headers.get("Content-Range"), body) == (status, content_range, data[part])


def test_key_without_range_support_at_upstream_is_still_whole(
    origin: Origin, client: ProxyClient
) -> None:
    media = (
        b'#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-KEY:METHOD=AES-128,URI="k,1.bin"\n'
        b"#EXTINF:2,\ns.ts\n#EXT-X-ENDLIST\n"
    )
    store_resolution(TS, origin.serve("/index.m3u8", media, PLAYLIST))
    origin.serve("/k,1.bin", b"K" * 16, "application/octet-stream")
    key = proxy_uris(media_playlist(client, TS))[0]
    assert key.endswith("/k-1.key")
    assert get(client, key, Range="bytes=0-")[:3:2] == (200, b"K" * 16)


# --- refresh on failure (cases 5 and 13) ------------------------------------------------------


@pytest.mark.parametrize("status", [403, 404, 410, 429, 451])
def test_segment_failure_mid_playback_re_resolves_and_retries_before_answering(
    web: FakeWeb, client: ProxyClient, status: int
) -> None:
    segments = proxy_uris(variant(client, TS))
    assert resolves(web) == 1
    web.cdn.fail_next("hls/ts/360p/seg1.ts", status=status)
    got, _, body = get(client, segments[1], Range="bytes=0-")
    assert got == 206 and body == cdn_file(web, "hls/ts/360p/seg1.ts")
    assert resolves(web) == 2
    row = StrmUrlMapping.objects.get(slug=TS.slug, provider="VOE")
    assert (row.last_status, row.fail_count) == (206, 0)


def test_expired_cdn_tokens_mid_playback_every_kind_of_resource(
    web: FakeWeb, client: ProxyClient
) -> None:
    """Case 13: tokens (ours) never expire; the CDN's do, and each kind recovers."""
    aes = proxy_uris(variant(client, AES))
    fmp4 = proxy_uris(variant(client, FMP4))
    ts_master = proxy_uris(playlist(client, stream_url(TS)))
    web.cdn.expire_tokens()
    assert get(client, aes[0])[2] == bytes(range(16))  # the key
    assert get(client, aes[1])[2] == cdn_file(web, "hls/aes/360p/seg0.ts")
    assert get(client, fmp4[0])[2] == cdn_file(web, "hls/fmp4/360p/init.mp4")  # EXT-X-MAP
    assert proxy_uris(playlist(client, ts_master[0]))  # a variant playlist
    web.cdn.expire_tokens()
    assert proxy_uris(playlist(client, stream_url(TS)))  # the entry
    assert resolves(web, "vidmoly") == 2 and resolves(web, "filemoon") == 2


def test_tokens_of_an_older_resolution_are_served_without_another_resolve(
    web: FakeWeb, client: ProxyClient
) -> None:
    segments = proxy_uris(variant(client, TS))
    web.cdn.expire_tokens()
    assert get(client, segments[0])[0] == 200  # re-resolves
    before = web.counts.total("cdn")
    assert get(client, segments[2])[2] == cdn_file(web, "hls/ts/360p/seg2.ts")
    assert resolves(web) == 2
    # Straight to the fresh URL (the walk's playlists are remembered): one CDN request.
    assert web.counts.total("cdn") - before == 1


def test_unreachable_upstream_before_any_byte_re_resolves(
    web: FakeWeb, client: ProxyClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    segments = proxy_uris(variant(client, TS))
    web.cdn.drop_next("hls/ts/360p/seg0.ts", after_bytes=0)
    assert get(client, segments[0])[2] == cdn_file(web, "hls/ts/360p/seg0.ts")
    monkeypatch.setattr(upstream, "READ_TIMEOUT", 0.5)
    web.cdn.stall_next("hls/ts/360p/seg1.ts", seconds=2)
    assert get(client, segments[1])[2] == cdn_file(web, "hls/ts/360p/seg1.ts")
    assert resolves(web) == 3


def test_entry_with_a_dead_stored_url_re_resolves(web: FakeWeb, client: ProxyClient) -> None:
    store_resolution(TS, web.cdn.url("/t/expired/hls/ts/master.m3u8"))
    assert len(proxy_uris(playlist(client, stream_url(TS)))) == 2
    assert resolves(web) == 1
    row = StrmUrlMapping.objects.get(slug=TS.slug, provider="VOE")
    assert row.resolved_url.startswith(web.cdn.url("/t/")) and "expired" not in row.resolved_url


def test_other_upstream_errors_are_502_without_re_resolving(
    web: FakeWeb, client: ProxyClient
) -> None:
    segments = proxy_uris(variant(client, TS))
    web.cdn.fail_next("hls/ts/360p/seg0.ts", status=500)
    status, headers, body = get(client, segments[0])
    assert status == 502 and b"500" in body and headers["Content-Type"].startswith("text/plain")
    assert resolves(web) == 1


def test_failing_again_after_re_resolve_is_502_and_recorded(
    web: FakeWeb, client: ProxyClient
) -> None:
    segments = proxy_uris(variant(client, TS))
    web.cdn.fail_next("hls/ts/360p/seg0.ts", status=403, count=2)
    status, _, body = get(client, segments[0])
    assert status == 502 and b"403" in body
    row = StrmUrlMapping.objects.get(slug=TS.slug, provider="VOE")
    assert (row.last_status, row.fail_count) == (403, 2)


def test_re_resolve_that_fails_is_a_502_naming_the_reason(
    web: FakeWeb, client: ProxyClient
) -> None:
    segments = proxy_uris(variant(client, TS))
    web.cdn.expire_tokens()
    web.hoster("VOE").fail_next("/e/*", status=404, count=10)
    web.aniworld.fail_next("/anime/*", status=404, count=10)
    status, _, body = get(client, segments[0])
    assert status == 502 and body.strip()


@pytest.mark.django_db(transaction=True)
def test_concurrent_failing_segments_share_one_re_resolve(web: FakeWeb) -> None:
    segments = proxy_uris(variant(Client(), TS))
    web.cdn.expire_tokens()
    web.hoster("VOE").stall_next("/e/*", seconds=0.3)
    results: list[bytes] = []

    def fetch(url: str) -> None:
        try:
            results.append(get(Client(), url)[2])
        finally:
            connection.close()

    threads = [threading.Thread(target=fetch, args=(u,)) for u in segments * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    expected = {cdn_file(web, f"hls/ts/360p/seg{n}.ts") for n in range(3)}
    assert len(results) == 6 and set(results) == expected
    assert resolves(web) == 2


def test_served_file_content_uses_the_resolver_headers_not_the_clients(
    web: FakeWeb, client: ProxyClient
) -> None:
    get(client, stream_url(TS), Range="bytes=0-", **{"User-Agent": "Lavf/60.3.100"})
    sent = web.counts.requests("cdn")[-1].headers
    stored = StrmUrlMapping.objects.get(slug=TS.slug, provider="VOE").resolved_headers
    assert sent["user-agent"] == stored["User-Agent"] and sent["referer"] == stored["Referer"]


@pytest.mark.parametrize("refusal", [403, 405, 501])
def test_head_falls_back_to_get_where_upstream_refuses_head(
    origin: Origin, client: ProxyClient, refusal: int
) -> None:
    data = b"\0" * 5000

    def no_head(request: Request) -> Response:
        if request.method == "HEAD":
            return Response(refusal, b"", "text/plain")
        return Response(200, data, "video/mp4", {"Accept-Ranges": "bytes"})

    store_resolution(MP4, origin.route("/video.mp4", no_head))
    status, headers, body = head(client, stream_url(MP4), Range="bytes=0-")
    assert (status, headers["Content-Range"], body) == (206, "bytes 0-4999/5000", b"")
    assert [r.method for r in origin.traffic.requests("origin")] == ["GET"]
    segment = proxy_uris(media_playlist_for(origin, client))[0]
    status, headers, _ = head(client, segment)
    assert (status, headers["Content-Length"]) == (200, "5000")
    assert [r.method for r in origin.traffic.requests("origin")][-2:] == ["HEAD", "GET"]


def media_playlist_for(origin: Origin, client: ProxyClient) -> str:
    media = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nvideo.mp4\n#EXT-X-ENDLIST\n"
    store_resolution(TS, origin.serve("/index.m3u8", media, PLAYLIST))
    return media_playlist(client, TS)


def test_every_uri_bearing_tag_is_proxied_and_opaque_uris_are_kept(
    origin: Origin, client: ProxyClient
) -> None:
    """Cases 3, 5 and 6 through the proxy (tag-by-tag detail: test_hls_rewrite.py)."""
    master = (
        b"#EXTM3U\n"
        b'#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI="skd://key-id",KEYFORMAT="com.apple.streamingkeydelivery"\n'
        b'#EXT-X-SESSION-DATA:DATA-ID="com.example.title",URI="title.json"\n'
        b'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="Deutsch",LANGUAGE="de",URI="audio/de.m3u8"\n'
        b'#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="CC1",INSTREAM-ID="CC1"\n'
        b'#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=80000,URI="iframes.m3u8"\n'
        b'#EXT-X-STREAM-INF:BANDWIDTH=900000,AUDIO="aud",CLOSED-CAPTIONS="cc"\n'
        b"video.m3u8\n"
    )
    audio = (
        b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n"
        b"#EXT-X-KEY:METHOD=AES-128,URI=k.bin\n"
        b"#EXTINF:2,\n#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00Z\n#EXT-X-BYTERANGE:100@0\na.aac\n"
        b"#EXT-X-KEY:METHOD=NONE\n"
        b"#EXTINF:2,\n#EXT-X-BYTERANGE:100\na.aac\n"
        b'#EXT-X-KEY:METHOD=AES-128,URI="data:text/plain;base64,AAAAAAAAAAAAAAAAAAAAAA=="\n'
        b"#EXTINF:2,\nb.aac\n#EXT-X-ENDLIST\n"
    )
    store_resolution(TS, origin.serve("/master.m3u8", master, PLAYLIST))
    origin.serve("/audio/de.m3u8", audio, PLAYLIST)
    text = playlist(client, stream_url(TS))
    assert 'URI="skd://key-id"' in text and 'INSTREAM-ID="CC1"' in text
    kinds = [decode_token(u.split("/")[-2]).chain[-1].kind for u in proxy_uris(text)]
    assert kinds == ["session-data", "media", "iframe", "variant"]
    rendition = next(u for u in proxy_uris(text) if u.endswith("/de.m3u8"))
    audio_text = playlist(client, rendition)
    names = [u.rsplit("/", 1)[1] for u in proxy_uris(audio_text)]
    assert names == ["k.key", "a.aac", "a.aac", "b.aac"]
    assert "#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00Z\n#EXT-X-BYTERANGE:100@0\n" in audio_text
    assert 'URI="data:text/plain;base64,AAAAAAAAAAAAAAAAAAAAAA=="' in audio_text


def test_an_unexpected_error_in_the_wsgi_front_end_is_a_logged_500(
    origin: Origin, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_args: object) -> proxy.Reply:
        raise RuntimeError("a bug")

    monkeypatch.setattr(proxy, "serve_entry", broken)
    status, headers, body = get(WsgiClient(), stream_url(TS))
    assert status == 500 and headers["Content-Type"].startswith("text/plain")
    assert b"internal error" in body
    assert "a bug" in caplog.text and "Traceback" in caplog.text


def test_too_many_query_parameters_are_a_400(origin: Origin, client: ProxyClient) -> None:
    status, _, _ = get(client, stream_url(TS) + "&x=1" * 1001)
    assert status == 400


def test_a_line_break_in_stored_hoster_headers_is_a_502_and_nothing_is_sent(
    origin: Origin, client: ProxyClient
) -> None:
    url = origin.serve("/clip.mp4", b"\x00" * 1000, "video/mp4")
    store_resolution(TS, url, {"Referer": "https://hoster/\r\nX-Injected: 1"})
    status, _, body = get(client, stream_url(TS), Range="bytes=0-")
    assert status == 502 and b"request not sent" in body
    assert origin.traffic.count("origin", "/clip.mp4") == 0
