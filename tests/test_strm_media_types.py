"""Safe media types (strm.media_types): what the proxy says a body is comes from the
body, never from upstream's Content-Type; through both front ends of the proxy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from catalog.identity import EpisodeIdentity
from strm import media_types
from strm.stream_urls import stream_url
from tests.fakeweb import FakeWeb
from tests.fakeweb.media import generate_media
from tests.fakeweb.server import file_response
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
PLAYLIST = "application/vnd.apple.mpegurl"
HOSTILE = b"<!doctype html><html><script>fetch('/admin/')</script></html>"


@pytest.fixture(params=["django", "wsgi"])
def client(request: pytest.FixtureRequest) -> ProxyClient:
    return Client() if request.param == "django" else WsgiClient()


@pytest.fixture
def origin(fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch) -> Iterator[Origin]:
    use_proxy_config(monkeypatch)
    server = Origin()
    server.start()
    yield server
    server.stop()


def media_playlist(origin: Origin, segments: list[tuple[str, bytes, str]], extra: str = "") -> None:
    """Store a media playlist of `segments` (name, body, upstream Content-Type) for TS."""
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:2", extra]
    for name, body, content_type in segments:
        origin.serve(f"/{name}", body, content_type)
        lines += ["#EXTINF:2,", name]
    lines.append("#EXT-X-ENDLIST")
    store_resolution(TS, origin.serve("/index.m3u8", "\n".join(lines).encode(), PLAYLIST))


def served(client: ProxyClient) -> list[tuple[str, dict[str, str], bytes]]:
    """(proxy URI, headers, body) of every URI of TS's (bare media) playlist."""
    entry = get(client, stream_url(TS))[2].decode()
    media_uri = proxy_uris(entry)[0] if "#EXT-X-STREAM-INF" in entry else None
    media = get(client, media_uri)[2].decode() if media_uri else entry
    out = []
    for uri in proxy_uris(media):
        status, headers, body = get(client, uri)
        assert status == 200, body
        out.append((uri, headers, body))
    return out


# --- by content ----------------------------------------------------------------------------


def test_real_segments_keys_and_init_sections_are_typed_by_their_bytes() -> None:
    media = generate_media()
    hls = media.root / "hls"
    expected = {
        "ts/360p/seg0.ts": "video/mp2t",
        "aes/360p/enc.key": None,  # 16 random-looking bytes: nothing to recognise
        "fmp4/360p/init.mp4": "video/mp4",
        "fmp4/360p/seg0.m4s": "video/mp4",
        "byterange/360p/index.ts": "video/mp2t",
    }
    for path, kind in expected.items():
        assert media_types.sniff((hls / path).read_bytes()[:1024]) == kind, path
    assert media_types.sniff(media.progressive.read_bytes()[:1024]) == "video/mp4"


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\xff\xf1\x50\x80\x02\x1f\xfc" + b"\0" * 50, "audio/aac"),  # ADTS, AAC-LC
        (b"ID3\x04\x00\x00\x00\x00\x00\x3f" + b"\0" * 50, "audio/aac"),  # packed audio
        (b"\xff\xfb\x90\x64" + b"\0" * 50, "audio/mpeg"),
        (b"\xef\xbb\xbfWEBVTT\n\n", "text/vtt"),
        (b"\x47" + b"\0" * 187 + b"\x47" + b"\0" * 187, "video/mp2t"),
        (b"\x47" + b"\0" * 187 + b"<", None),  # one sync byte is chance, not TS
        (HOSTILE, None),
        (b"", None),
    ],
)
def test_sniffing(head: bytes, kind: str | None) -> None:
    assert media_types.sniff(head) == kind


@pytest.mark.parametrize(
    ("head", "declared", "kind", "extension", "chosen"),
    [
        (b"\x47" * 400, "text/html", "segment", ".ts", "video/mp2t"),
        (HOSTILE, "text/html; charset=utf-8", "segment", ".ts", "video/mp2t"),
        (HOSTILE, "text/html", None, "", "application/octet-stream"),
        (HOSTILE, "image/svg+xml", None, "", "application/octet-stream"),
        (HOSTILE, "application/javascript", "segment", "", "application/octet-stream"),
        (b"\x47" * 400, "video/mp2t", "key", ".key", "application/octet-stream"),
        (b"", "video/x-matroska; codecs=x", None, "", "video/x-matroska"),  # HEAD
        (b"\x00" * 40, "text/plain", "map", ".mp4", "video/mp4"),
    ],
)
def test_choice_never_passes_an_active_type(
    head: bytes, declared: str, kind: str | None, extension: str, chosen: str
) -> None:
    assert media_types.choose(head, declared, kind, extension) == chosen


# --- through the proxy -----------------------------------------------------------------------


def test_a_ts_segment_served_as_text_html_reaches_the_player_as_mp2t(
    origin: Origin, client: ProxyClient
) -> None:
    ts = (generate_media().root / "hls/ts/360p/seg0.ts").read_bytes()
    media_playlist(origin, [("seg0.ts", ts, "text/html"), ("page.html", HOSTILE, "text/html")])
    (_, first, body), (_, second, _) = served(client)
    assert body == ts
    assert first["Content-Type"] == "video/mp2t"
    assert second["Content-Type"] == "video/mp2t"  # its proxy path ends in .ts, not .html
    for headers in (first, second):
        assert headers["X-Content-Type-Options"] == "nosniff"


def test_keys_and_init_sections_get_their_types_whatever_upstream_says(
    origin: Origin, client: ProxyClient
) -> None:
    media = generate_media().root / "hls/fmp4/360p"
    origin.serve("/k.bin", bytes(range(16)), "text/html")
    origin.serve("/init", (media / "init.mp4").read_bytes(), "text/html")
    extra = '#EXT-X-MAP:URI="init"\n#EXT-X-KEY:METHOD=AES-128,URI="k.bin"'
    segment = (media / "seg0.m4s").read_bytes()
    media_playlist(origin, [("s0", segment, "text/html")], extra=extra)
    types = {uri.rsplit("/", 1)[1]: headers["Content-Type"] for uri, headers, _ in served(client)}
    assert types == {
        "init.mp4": "video/mp4",
        "k.key": "application/octet-stream",
        "s0.mp4": "video/mp4",
    }


def test_head_takes_the_type_from_the_proxy_path(origin: Origin, client: ProxyClient) -> None:
    media_playlist(origin, [("seg0.jpg", b"\x47" * 376, "text/html")])
    segment = proxy_uris(get(client, stream_url(TS))[2].decode())
    media = get(client, segment[0])[2].decode() if segment[0].endswith(".m3u8") else None
    uri = proxy_uris(media)[0] if media else segment[0]
    status, headers, _ = head(client, uri)
    assert status == 200 and headers["Content-Type"] == "video/mp2t"


def test_a_progressive_entry_served_as_html_is_typed_by_its_bytes(
    origin: Origin, client: ProxyClient
) -> None:
    path = generate_media().progressive
    store_resolution(TS, origin.route("/video", lambda r: file_response(r, path, "text/html")))
    status, headers, body = get(client, stream_url(TS), Range="bytes=0-")
    assert status == 206 and body == path.read_bytes()
    assert headers["Content-Type"] == "video/mp4"
    status, headers, _ = get(client, stream_url(TS), Range="bytes=5000-5999")
    # Mid-file bytes show nothing: upstream's text/html still never passes.
    assert status == 206 and headers["Content-Type"] == "application/octet-stream"
