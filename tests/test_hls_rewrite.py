"""catalog.egress.hls: the playlist half of the STRM proxy (STRM-PROXY.md cases 1-12 and 14).

Pure tests, no Django: run with ``pytest tests/test_hls_rewrite.py -p no:django``.
Real playlists come from ffmpeg's own HLS muxer, generated per test session.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.egress import hls
from catalog.egress.hls import (
    ByteRange,
    Locator,
    PlaylistError,
    UriRef,
    decode_playlist,
    estimate_bandwidth,
    find_equivalent,
    is_master,
    looks_like_playlist,
    parse_uris,
    rewrite_playlist,
    synthesize_master,
)

# The playlist URL after redirects: relative URIs resolve against this, not the entry URL.
BASE = "https://cdn2.example/hls/ep1/index.m3u8?token=abc"
PROXY = "http://anibridge.test/strm/proxy/"
URI_TAGS = {
    "EXT-X-KEY",
    "EXT-X-SESSION-KEY",
    "EXT-X-MAP",
    "EXT-X-MEDIA",
    "EXT-X-I-FRAME-STREAM-INF",
    "EXT-X-IMAGE-STREAM-INF",
    "EXT-X-SESSION-DATA",
    "EXT-X-PART",
    "EXT-X-PRELOAD-HINT",
    "EXT-X-RENDITION-REPORT",
    "EXT-X-CONTENT-STEERING",
    "EXT-X-DATERANGE",
}
URI_ATTRIBUTE = re.compile(r'[ \t\x0b\x0c,]*([^=]*)=("[^"]*"?|[^ \t\x0b\x0c,]*)')


@pytest.fixture(autouse=True)
def fresh_redis() -> Iterator[None]:
    """Overrides the suite-wide Redis flush: these tests touch neither Redis nor Django."""
    yield


class Wrapper:
    """A wrap callback that records what it was told and returns numbered proxy URLs."""

    def __init__(self) -> None:
        self.refs: list[UriRef] = []

    def __call__(self, ref: UriRef) -> str:
        self.refs.append(ref)
        return f"{PROXY}{len(self.refs) - 1}{ref.extension}"


def is_proxied(url: str) -> bool:
    return url.startswith(PROXY)


def rewrite(text: str, base: str = BASE) -> tuple[str, list[UriRef]]:
    wrap = Wrapper()
    return rewrite_playlist(text, base, wrap, is_proxied=is_proxied), wrap.refs


def uri_lines(playlist: str) -> list[str]:
    return [line for line in playlist.split("\n") if line.strip() and not line.startswith("#")]


def attribute_uris(line: str) -> dict[str, str]:
    """Attributes of a tag line, tokenised like libavformat (written apart from egress.hls)."""
    colon = line.find(":")
    text, pos, found = line[colon + 1 :], 0, {}
    while (match := URI_ATTRIBUTE.match(text, pos)) and match.end() > pos:
        found[match.group(1)] = match.group(2).removeprefix('"').removesuffix('"')
        pos = match.end()
    return found


# --- case 1: BOM, line endings, trailing spaces ----------------------------------------


def test_bom_crlf_and_missing_final_newline_give_an_exact_header_and_lf_lines() -> None:
    body = (
        b"\xef\xbb\xbf#EXTM3U  \r\n#EXT-X-TARGETDURATION:2\r\n#EXTINF:2.0,\r\n"
        b"seg0.ts   \r\n#EXTINF:2.0,\rseg1.ts"
    )
    out, refs = rewrite(decode_playlist(body))
    assert out.startswith("#EXTM3U\n#EXT-X-TARGETDURATION:2\n")
    assert "\r" not in out and out.endswith("\n") and not out.endswith("\n\n")
    assert [ref.url for ref in refs] == [
        "https://cdn2.example/hls/ep1/seg0.ts",
        "https://cdn2.example/hls/ep1/seg1.ts",
    ]
    assert uri_lines(out) == [f"{PROXY}0.ts", f"{PROXY}1.ts"]


def test_lines_without_uris_are_kept_byte_for_byte_including_trailing_spaces() -> None:
    text = (
        "#EXTM3U\n#EXT-X-VERSION:3  \n# a comment\t\n\n#EXT-X-PROGRAM-DATE-TIME:"
        "2024-01-01T00:00:00Z \n#EXTINF:4.0,Title with spaces  \nseg.ts\n#EXT-X-ENDLIST\n"
    )
    out, _ = rewrite(text)
    assert out == text.replace("seg.ts", f"{PROXY}0.ts")


def test_leading_blank_lines_go_and_indented_tags_lose_their_indent() -> None:
    # ffmpeg needs #EXTM3U on line one and reads an indented "#..." line as a URI.
    out, refs = rewrite("\n  \n  #EXTM3U\n  #EXTINF:1,\n  seg.ts\n")
    assert out == f"#EXTM3U\n#EXTINF:1,\n{PROXY}0.ts\n"
    assert refs[0].duration == 1.0


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n\n",
        b"<!DOCTYPE html><html><body>403 Forbidden</body></html>",
        b"#EXTM3U8\nseg.ts\n",
        b"#EXTM3U#EXT-X-VERSION:3\n",
        b"seg.ts\n#EXTM3U\n",
        b"\xff\xfe#\x00E\x00X\x00T\x00M\x003\x00U\x00",
    ],
    ids=["empty", "blank", "html", "extm3u8", "glued", "late-header", "utf16"],
)
def test_decode_rejects_bodies_that_are_not_playlists(body: bytes) -> None:
    with pytest.raises(PlaylistError):
        decode_playlist(body)


def test_invalid_utf8_is_replaced_the_same_way_every_time() -> None:
    body = b"#EXTM3U\n# caf\xe9 \xff\n#EXTINF:1,\nseg.ts\n"
    first, second = decode_playlist(body), decode_playlist(body)
    assert first == second == "#EXTM3U\n# caf\ufffd \ufffd\n#EXTINF:1,\nseg.ts\n"
    out, _ = rewrite(first)
    out.encode("utf-8")  # the proxy can always encode what it serves


# --- case 2: variants ------------------------------------------------------------------


def test_variant_without_m3u8_extension_after_comment_and_blank_line_is_a_playlist() -> None:
    text = (
        "#EXTM3U\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=1280000,RESOLUTION=1280x720,CODECS="avc1.4d401f,mp4a.40.2"\n'
        "# chosen by the packager\n"
        "\n"
        "video/720?sig=1\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=640000\n"
        "https://other.example/v/360\n"
    )
    out, refs = rewrite(text)
    assert [ref.kind for ref in refs] == ["variant", "variant"]
    assert all(ref.is_playlist and ref.extension == ".m3u8" for ref in refs)
    assert refs[0].url == "https://cdn2.example/hls/ep1/video/720?sig=1"
    assert refs[0].attributes["RESOLUTION"] == "1280x720"
    assert refs[0].attributes["CODECS"] == "avc1.4d401f,mp4a.40.2"
    assert [ref.position for ref in refs] == [0, 1]
    assert "# chosen by the packager\n\n" + f"{PROXY}0.m3u8\n" in out
    assert is_master(text)


def test_a_uri_line_after_a_variant_is_a_segment_again() -> None:
    _, refs = rewrite("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na\nb\n")
    assert [ref.kind for ref in refs] == ["variant", "segment"]


# --- case 3: tags between EXTINF and the URI --------------------------------------------


def test_tags_between_extinf_and_uri_stay_and_still_apply_to_the_segment() -> None:
    text = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:6\n"
        "#EXTINF:5.005,\n"
        "#EXT-X-PROGRAM-DATE-TIME:2024-05-01T10:00:00.000Z\n"
        "#EXT-X-DISCONTINUITY\n"
        "#EXT-X-BYTERANGE:1000@500\n"
        "# packager note\n"
        "media.bin\n"
        "#EXT-X-ENDLIST\n"
    )
    out, refs = rewrite(text)
    (segment,) = refs
    assert segment.kind == "segment"
    assert segment.duration == 5.005
    assert segment.byterange == ByteRange(offset=500, length=1000)
    assert out.split("\n")[2:7] == text.split("\n")[2:7]
    assert uri_lines(out) == [f"{PROXY}0.ts"]


# --- case 4: relative forms against the post-redirect URL ---------------------------------


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("s.ts", "https://cdn2.example/hls/ep1/s.ts"),
        ("/r/s.ts", "https://cdn2.example/r/s.ts"),
        ("../u/s.ts", "https://cdn2.example/hls/u/s.ts"),
        ("//cdn3.example/s.ts", "https://cdn3.example/s.ts"),
        ("?q=1", "https://cdn2.example/hls/ep1/index.m3u8?q=1"),
        ("a%2Fb.ts", "https://cdn2.example/hls/ep1/a%2Fb.ts"),
        ("s+1=2,3.ts?x=a+b&y=c=d,e", "https://cdn2.example/hls/ep1/s+1=2,3.ts?x=a+b&y=c=d,e"),
        ("seg 1.ts", "https://cdn2.example/hls/ep1/seg%201.ts"),
        ("100%.ts", "https://cdn2.example/hls/ep1/100%25.ts"),
        ("\u00fc.ts", "https://cdn2.example/hls/ep1/%C3%BC.ts"),
        ("http://other.example/abs.ts?t=1#frag", "http://other.example/abs.ts?t=1"),
    ],
)
def test_relative_uris_resolve_against_the_post_redirect_url(reference: str, expected: str) -> None:
    text = f'#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="{reference}"\n#EXTINF:1,\n{reference}\n'
    _, refs = rewrite(text)
    assert [ref.url for ref in refs] == [expected, expected]


def test_the_entry_url_before_redirects_plays_no_part_in_resolution() -> None:
    text = "#EXTM3U\n#EXTINF:1,\nseg.ts\n"
    _, before = rewrite(text, "https://entry.example/play/master.m3u8")
    _, after = rewrite(text, "https://edge7.cdn.example/x/y/master.m3u8?e=1")
    assert before[0].url == "https://entry.example/play/seg.ts"
    assert after[0].url == "https://edge7.cdn.example/x/y/seg.ts"


# --- case 5: every URI-bearing tag -------------------------------------------------------

MASTER = """#EXTM3U
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-CONTENT-STEERING:SERVER-URI="/steer?video=1",PATHWAY-ID="CDN-A"
#EXT-X-SESSION-DATA:DATA-ID="com.example.title",VALUE="Episode 1"
#EXT-X-SESSION-DATA:DATA-ID="com.example.meta",URI="meta.json"
#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI="skd://key-id",KEYFORMAT="com.apple.streamingkeydelivery"
#EXT-X-SESSION-KEY:METHOD=AES-128,URI="session.key"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="Deutsch",LANGUAGE="de",DEFAULT=YES,URI="audio/de.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="Japanese",LANGUAGE="ja",URI="audio/ja"
#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="sub",NAME="Deutsch",LANGUAGE="de",URI="subs/de.m3u8"
#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="CC1",INSTREAM-ID="CC1"
#EXT-X-STREAM-INF:BANDWIDTH=2000000,RESOLUTION=1280x720,AUDIO="aud",SUBTITLES="sub"
v720/index.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=200000,RESOLUTION=1280x720,URI="v720/iframes.m3u8"
#EXT-X-IMAGE-STREAM-INF:BANDWIDTH=10000,RESOLUTION=640x360,CODECS="jpeg",URI="thumbs/index.m3u8"
"""

LL_MEDIA = """#EXTM3U
#EXT-X-TARGETDURATION:4
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.0
#EXT-X-PART-INF:PART-TARGET=0.5
#EXT-X-MEDIA-SEQUENCE:266
#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example/k?id=7",IV=0x1
#EXT-X-MAP:URI="init.mp4",BYTERANGE="720@0"
#EXT-X-DATERANGE:ID="ad1",START-DATE="2024-05-01T10:00:00Z",X-ASSET-URI="ads/ad1.m3u8"
#EXT-X-DATERANGE:ID="ad2",START-DATE="2024-05-01T10:01:00Z",X-ASSET-LIST="ads/list.json"
#EXTINF:4.0,
fileSequence266.mp4
#EXT-X-PART:DURATION=0.5,URI="filePart267.0.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.5,URI="filePart267.1.mp4?x=1"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="filePart267.2.mp4",BYTERANGE-START=0,BYTERANGE-LENGTH=900
#EXT-X-RENDITION-REPORT:URI="../1M/waitForMSN.php?_HLS_msn=267&_HLS_part=1",LAST-MSN=267,LAST-PART=1
"""


def test_every_uri_bearing_master_tag_is_rewritten_with_its_kind() -> None:
    out, refs = rewrite(MASTER)
    assert [(ref.kind, ref.is_playlist, ref.extension) for ref in refs] == [
        ("steering", False, ".json"),
        ("session-data", False, ".json"),
        ("session-key", False, ".key"),
        ("media", True, ".m3u8"),
        ("media", True, ".m3u8"),
        ("media", True, ".m3u8"),
        ("variant", True, ".m3u8"),
        ("iframe", True, ".m3u8"),
        ("image", True, ".m3u8"),
    ]
    assert refs[0].url == "https://cdn2.example/steer?video=1"
    assert refs[0].attribute == "SERVER-URI"
    assert refs[3].attributes["GROUP-ID"] == "aud" and refs[3].attributes["NAME"] == "Deutsch"
    assert 'URI="skd://key-id"' in out  # FairPlay key ids are not fetched
    assert '#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="CC1",INSTREAM-ID="CC1"\n' in out
    assert_no_upstream_uri_left(out)


def test_every_uri_bearing_media_tag_is_rewritten_with_its_kind() -> None:
    out, refs = rewrite(LL_MEDIA)
    summary = [(ref.kind, ref.attribute, ref.is_playlist, ref.extension) for ref in refs]
    assert summary == [
        ("key", "URI", False, ".key"),
        ("map", "URI", False, ".mp4"),
        ("daterange-asset", "X-ASSET-URI", True, ".m3u8"),
        ("daterange-asset", "X-ASSET-LIST", False, ".json"),
        ("segment", None, False, ".mp4"),
        ("part", "URI", False, ".mp4"),
        ("part", "URI", False, ".mp4"),
        ("preload-hint", "URI", False, ".mp4"),
        ("rendition-report", "URI", True, ".m3u8"),
    ]
    key, init, _, _, segment, part0, part1, hint, report = refs
    assert key.url == "https://keys.example/k?id=7"
    assert init.byterange == ByteRange(offset=0, length=720)
    assert segment.media_sequence == 266
    assert (part0.media_sequence, part0.part_index, part0.duration) == (267, 0, 0.5)
    assert (part1.part_index, part1.url) == (
        1,
        "https://cdn2.example/hls/ep1/filePart267.1.mp4?x=1",
    )
    assert (hint.media_sequence, hint.part_index) == (267, 2)
    assert hint.byterange == ByteRange(offset=0, length=900)
    assert report.url == "https://cdn2.example/hls/1M/waitForMSN.php?_HLS_msn=267&_HLS_part=1"
    assert_no_upstream_uri_left(out)


def assert_no_upstream_uri_left(out: str) -> None:
    for line in out.split("\n"):
        if not line.startswith("#"):
            assert not line.strip() or line.startswith(PROXY), line
            continue
        for name, value in attribute_uris(line).items():
            if name in ("URI", "SERVER-URI", "X-ASSET-URI", "X-ASSET-LIST"):
                assert value.startswith((PROXY, "skd:", "data:")), line


# --- case 6 and 7: keys, quoted and unquoted URI attributes -------------------------------


def test_keys_none_rotation_data_and_skd_are_handled_per_tag() -> None:
    text = (
        "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:10\n"
        "#EXT-X-KEY:METHOD=NONE\n#EXTINF:2,\na.ts\n"
        "#EXT-X-KEY:METHOD=AES-128,URI=k1.bin\n#EXTINF:2,\nb.ts\n"
        '#EXT-X-KEY:METHOD=AES-128,URI="k,2.bin",IV=0x00000000000000000000000000000002\n'
        "#EXTINF:2,\nc.ts\n"
        '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="data:text/plain;base64,AAAA",KEYFORMAT="urn:x"\n'
        '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://abc",KEYFORMAT="com.apple.streamingkeydelivery"\n'
        "#EXTINF:2,\nd.ts\n"
    )
    out, refs = rewrite(text)
    keys = [ref for ref in refs if ref.kind == "key"]
    assert [(k.url, k.position, k.media_sequence) for k in keys] == [
        ("https://cdn2.example/hls/ep1/k1.bin", 0, 11),
        ("https://cdn2.example/hls/ep1/k,2.bin", 1, 12),
    ]
    assert keys[1].attributes["IV"] == "0x00000000000000000000000000000002"
    lines = out.split("\n")
    assert "#EXT-X-KEY:METHOD=NONE" in lines
    assert f'#EXT-X-KEY:METHOD=AES-128,URI="{PROXY}1.key"' in lines  # unquoted became quoted
    assert f'#EXT-X-KEY:METHOD=AES-128,URI="{PROXY}3.key",IV=0x' in out
    assert (
        '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="data:text/plain;base64,AAAA",KEYFORMAT="urn:x"' in lines
    )
    assert 'URI="skd://abc"' in out


def test_a_key_carries_no_byterange_even_in_a_byterange_playlist() -> None:
    # ffmpeg sends the segment's Range when it fetches the key; the proxy must go by kind.
    text = (
        "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=k.bin\n#EXTINF:1,\n#EXT-X-BYTERANGE:10@90\nf.ts\n"
    )
    _, (key, segment) = rewrite(text)
    assert key.byterange is None
    assert segment.byterange == ByteRange(offset=90, length=10)


def test_unquoted_value_ends_at_blank_and_duplicate_uris_all_rewritten() -> None:
    text = '#EXTM3U\n#EXT-X-MAP:URI=a.mp4 BYTERANGE="5@0",URI="b.mp4"\n'
    out, (init,) = rewrite(text)
    assert init.url == "https://cdn2.example/hls/ep1/b.mp4"  # ffmpeg keeps the last one
    assert out.split("\n")[1] == f'#EXT-X-MAP:URI="{PROXY}0.mp4" BYTERANGE="5@0",URI="{PROXY}0.mp4"'


# --- case 8: byte ranges ---------------------------------------------------------------


def test_implicit_byterange_offsets_follow_the_previous_range() -> None:
    text = (
        "#EXTM3U\n"
        "#EXTINF:1,\n#EXT-X-BYTERANGE:1000@0\nall.ts\n"
        "#EXTINF:1,\n#EXT-X-BYTERANGE:1000\nall.ts\n"
        "#EXTINF:1,\n#EXT-X-BYTERANGE:500\nall.ts\n"
        "#EXTINF:1,\n#EXT-X-BYTERANGE:300@9000\nall.ts\n"
        "#EXTINF:1,\n#EXT-X-BYTERANGE:300\nall.ts\n"
        "#EXTINF:1,\nwhole.ts\n"
        "#EXTINF:1,\n#EXT-X-BYTERANGE:64\nother.ts\n"
    )
    out, refs = rewrite(text)
    assert [ref.byterange for ref in refs] == [
        ByteRange(0, 1000),
        ByteRange(1000, 1000),
        ByteRange(2000, 500),
        ByteRange(9000, 300),
        ByteRange(9300, 300),
        None,
        ByteRange(0, 64),  # like ffmpeg: a segment without a range restarts at 0
    ]
    assert refs[1].byterange is not None
    assert refs[1].byterange.http_range() == "bytes=1000-1999"
    assert "#EXT-X-BYTERANGE:1000\n" in out  # the client's Range passes through unchanged


@pytest.mark.parametrize("bad", ["abc", "10@", "@5", "-1@0", "1" * 25])
def test_malformed_byteranges_are_playlist_errors(bad: str) -> None:
    with pytest.raises(PlaylistError, match="byte range"):
        rewrite(f"#EXTM3U\n#EXTINF:1,\n#EXT-X-BYTERANGE:{bad}\ns.ts\n")


# --- case 10: sniffing -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "content_type", "url", "expected"),
    [
        (b"#EXTM3U\n#EXT-X-VERSION:3\n", "text/plain", "https://h.example/play/abc", True),
        (b"#EXTM3U\r\n", "application/octet-stream", "https://h.example/x", True),
        (b"\xef\xbb\xbf \r\n#EXTM3U\n", None, "https://h.example/x", True),
        (b"#EXTM3U", None, "https://h.example/x", True),
        (b"<!DOCTYPE html><title>Error</title>", "application/vnd.apple.mpegurl", "/a.m3u8", False),
        (b"<html>#EXTM3U</html>", "text/html", "https://h.example/a.m3u8", False),
        (b"#EXTM3U8\n", "text/plain", "https://h.example/a", False),
        (b"\x1f\x8b\x08\x00", "application/vnd.apple.mpegurl", "https://h.example/a.m3u8", False),
        (b"\x00\x00\x00\x18ftypmp42", "video/mp4", "https://h.example/a.mp4", False),
        (b"", "application/vnd.apple.mpegurl; charset=utf-8", "https://h.example/a", True),
        (b"", None, "https://h.example/a/index.M3U8?t=1", True),
        (b"", "application/octet-stream", "https://h.example/a", False),
    ],
)
def test_playlists_are_recognised_by_content_not_by_headers(
    head: bytes, content_type: str | None, url: str, expected: bool
) -> None:
    assert looks_like_playlist(head, content_type, url) is expected


def test_a_body_over_the_size_cap_is_refused_before_decoding() -> None:
    body = b"#EXTM3U\n" + b"#" * hls.MAX_PLAYLIST_BYTES
    with pytest.raises(PlaylistError, match="larger than"):
        decode_playlist(body)


# --- case 11: extensions of proxy paths ----------------------------------------------------


@pytest.mark.parametrize(
    ("upstream", "with_map", "expected"),
    [
        ("seg1.jpg", False, ".ts"),
        ("seg1.html", False, ".ts"),
        ("seg1.txt", False, ".ts"),
        ("seg1", False, ".ts"),
        ("seg1.m4s", False, ".ts"),
        ("seg1.ts?token=x.jpg", False, ".ts"),
        ("seg1.aac", False, ".aac"),
        ("seg1.vtt", False, ".vtt"),
        ("seg1.jpg", True, ".mp4"),
        ("seg1", True, ".mp4"),
        ("seg1.m4s", True, ".mp4"),  # ffmpeg 7.1's mov demuxer does not list m4s
        ("seg1.m4a", True, ".m4a"),
        ("seg1.ts", True, ".ts"),
    ],
)
def test_segment_proxy_paths_get_an_extension_ffmpeg_accepts(
    upstream: str, with_map: bool, expected: str
) -> None:
    init = '#EXT-X-MAP:URI="init.php?id=1"\n' if with_map else ""
    _, refs = rewrite(f"#EXTM3U\n{init}#EXTINF:1,\n{upstream}\n")
    assert refs[-1].extension == expected
    if with_map:
        assert refs[0].kind == "map" and refs[0].extension == ".mp4"


def test_image_playlists_keep_image_extensions() -> None:
    text = "#EXTM3U\n#EXT-X-IMAGES-ONLY\n#EXTINF:60,\ntile1.png\n#EXTINF:60,\ntile2\n"
    _, refs = rewrite(text)
    assert [ref.extension for ref in refs] == [".png", ".jpg"]


# --- case 12: live and low-latency playlists ---------------------------------------------


def test_live_playlist_numbers_segments_from_its_sliding_media_sequence() -> None:
    text = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:4711\n" + "".join(
        f"#EXTINF:2,\nlive{n}.ts?h=1\n" for n in range(4711, 4714)
    )
    out, refs = rewrite(text)
    assert [(ref.media_sequence, ref.position) for ref in refs] == [(4711, 0), (4712, 1), (4713, 2)]
    assert refs[2].url == "https://cdn2.example/hls/ep1/live4713.ts?h=1"
    assert "#EXT-X-ENDLIST" not in out


def test_header_only_live_playlist_passes_through_with_nothing_to_wrap() -> None:
    text = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:90\n"
    out, refs = rewrite(text)
    assert (out, refs) == (text, [])
    assert estimate_bandwidth(text) is None
    assert not is_master(text)


def test_media_sequence_after_the_first_segment_does_not_renumber() -> None:
    _, refs = rewrite("#EXTM3U\n#EXTINF:1,\na.ts\n#EXT-X-MEDIA-SEQUENCE:50\n#EXTINF:1,\nb.ts\n")
    assert [ref.media_sequence for ref in refs] == [0, 1]


# --- case 14: never wrapped twice --------------------------------------------------------


def test_already_proxied_uris_are_not_wrapped_again() -> None:
    text = (
        "#EXTM3U\n"
        f'#EXT-X-KEY:METHOD=AES-128,URI="{PROXY}tok1.key"\n'
        f"#EXTINF:1,\n{PROXY}tok2.ts\n"
        "#EXTINF:1,\nfresh.ts\n"
    )
    out, refs = rewrite(text)
    assert [ref.url for ref in refs] == ["https://cdn2.example/hls/ep1/fresh.ts"]
    assert out == text.replace("fresh.ts", f"{PROXY}0.ts")


def test_rewriting_a_rewritten_playlist_changes_nothing() -> None:
    once, _ = rewrite(LL_MEDIA)
    twice, refs = rewrite(once)
    assert twice == once
    assert refs == []


# --- hostile input -----------------------------------------------------------------------


def test_an_overlong_line_is_a_playlist_error() -> None:
    with pytest.raises(PlaylistError, match="longer than"):
        rewrite("#EXTM3U\n#EXTINF:1,\n" + "a" * (hls.MAX_LINE_CHARS + 1) + "\n")


def test_more_uris_than_the_cap_is_a_playlist_error() -> None:
    text = "#EXTM3U\n" + "s.ts\n" * (hls.MAX_URIS + 1)
    with pytest.raises(PlaylistError, match="URIs"):
        rewrite(text)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("#EXT-X-MEDIA-SEQUENCE:" + "9" * 5000, "decimal"),
        ("#EXT-X-MEDIA-SEQUENCE:-3", "decimal"),
        ("http://[::1/s.ts", "unusable URI"),
        ("s.ts\x00http://evil.example/x.ts", "NUL"),
        ("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=p.mp4,BYTERANGE-START=x", "decimal"),
    ],
)
def test_hostile_lines_are_playlist_errors(line: str, message: str) -> None:
    with pytest.raises(PlaylistError, match=message):
        rewrite(f"#EXTM3U\n{line}\n")


@pytest.mark.parametrize("bad", ['x"y', "a\nb", "a\rb", ""])
def test_a_wrap_result_that_could_forge_lines_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="unusable URL"):
        rewrite_playlist("#EXTM3U\n#EXTINF:1,\ns.ts\n", BASE, lambda ref: bad)


def test_a_relative_base_url_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="absolute http"):
        rewrite_playlist("#EXTM3U\n", "/local/index.m3u8", lambda ref: "x")


TAG_LINES = st.sampled_from(
    [
        "#EXTINF:{n},title",
        "#EXTINF:{t}",
        "#EXT-X-BYTERANGE:{n}@{n}",
        "#EXT-X-BYTERANGE:{n}",
        "#EXT-X-BYTERANGE:{t}",
        "#EXT-X-MEDIA-SEQUENCE:{n}",
        "#EXT-X-STREAM-INF:BANDWIDTH={n},CODECS={q}",
        "#EXT-X-KEY:METHOD=AES-128,URI={q}",
        "#EXT-X-KEY:METHOD={t},URI={u}",
        "#EXT-X-MAP:URI={u},BYTERANGE={q}",
        "#EXT-X-MEDIA:TYPE=AUDIO,URI={q}{t}",
        "#EXT-X-I-FRAME-STREAM-INF:{t}URI={u}",
        "#EXT-X-PART:DURATION={t},URI={q}",
        "#EXT-X-PRELOAD-HINT:TYPE={t},URI={u}",
        "#EXT-X-DATERANGE:ID={q},X-ASSET-URI={u},X-ASSET-LIST={q}",
        "#EXT-X-CONTENT-STEERING:SERVER-URI={u}{t}",
        "#EXT-X-SESSION-DATA:DATA-ID={q},URI={u},URI={q}",
        "#EXT-X-MAP:{t}",
        "#{t}",
        "  {u}",
        "{u}",
        "{t}",
        "",
    ]
)
URI_TEXT = st.text(alphabet=st.sampled_from('abc./:?=&%+, "#\t[]@\\\u00fcsdkt'), max_size=24)
ANY_TEXT = st.text(max_size=30)


@st.composite
def playlists(draw: st.DrawFn) -> str:
    lines = []
    for template in draw(st.lists(TAG_LINES, max_size=25)):
        uri = draw(st.one_of(URI_TEXT, st.sampled_from(["data:,x", "skd://k", PROXY + "a.ts"])))
        lines.append(
            template.format(
                n=draw(st.integers(min_value=0, max_value=10**20)),
                t=draw(ANY_TEXT),
                u=uri,
                q=f'"{draw(URI_TEXT)}"',
            )
        )
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return (
        draw(st.sampled_from(["#EXTM3U", "\ufeff#EXTM3U ", "", "x"]))
        + newline
        + newline.join(lines)
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(playlists())
def test_garbage_never_crashes_and_no_unwrapped_uri_survives(text: str) -> None:
    try:
        out, _ = rewrite(text)
    except PlaylistError:
        return
    assert out.startswith("#EXTM3U\n") and out.endswith("\n")
    for line in out.split("\n")[1:]:
        if line.strip(" \t\x0b\x0c") and not line.startswith("#"):
            assert line.startswith((PROXY, "data:", "skd:")), line
        name = line[1:].split(":", 1)[0]
        if name not in URI_TAGS or ":" not in line:
            continue
        attributes = attribute_uris(line)
        if name in ("EXT-X-KEY", "EXT-X-SESSION-KEY") and attributes.get("METHOD") == "NONE":
            continue
        for attribute in ("URI", "SERVER-URI", "X-ASSET-URI", "X-ASSET-LIST"):
            value = attributes.get(attribute, "").strip(" \t\x0b\x0c")
            assert not value or value.lower().startswith((PROXY, "data:", "skd:")), line
    assert rewrite(out)[0] == out  # and nothing is wrapped twice


# --- find_equivalent -------------------------------------------------------------------

OLD_MASTER = """#EXTM3U
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="de",LANGUAGE="de",URI="de.m3u8?t=old"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="ja",LANGUAGE="ja",URI="ja.m3u8?t=old"
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2"
360.m3u8?t=old
#EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1280x720,CODECS="avc1.4d401f,mp4a.40.2"
720.m3u8?t=old
"""
FRESH_MASTER = """#EXTM3U
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="ja",LANGUAGE="ja",URI="ja.m3u8?t=new"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="de",LANGUAGE="de",URI="de.m3u8?t=new"
#EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1280x720,CODECS="avc1.4d401f,mp4a.40.2"
https://edge9.example/v/720?t=new
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2"
https://edge9.example/v/360?t=new
"""
FRESH_BASE = "https://edge9.example/v/master.m3u8?t=new"


def test_variants_and_renditions_are_found_again_by_their_attributes() -> None:
    old = parse_uris(OLD_MASTER, BASE)
    old_720 = next(r for r in old if r.kind == "variant" and "720" in r.url)
    old_de = next(r for r in old if r.kind == "media" and r.attributes["NAME"] == "de")
    found_720 = find_equivalent(old_720, FRESH_MASTER, FRESH_BASE)
    found_de = find_equivalent(old_de.locator, FRESH_MASTER, FRESH_BASE)
    assert found_720 is not None and found_720.url == "https://edge9.example/v/720?t=new"
    assert found_de is not None and found_de.url == "https://edge9.example/v/de.m3u8?t=new"


def test_a_variant_whose_attributes_changed_is_found_by_position() -> None:
    old = parse_uris(OLD_MASTER, BASE)[3]
    fresh = FRESH_MASTER.replace("BANDWIDTH=2500000", "BANDWIDTH=2600000").replace(
        "BANDWIDTH=800000", "BANDWIDTH=900000"
    )
    found = find_equivalent(old, fresh, FRESH_BASE)
    assert found is not None and found.position == 1 and found.url.endswith("/v/360?t=new")


def test_segments_keys_and_maps_are_found_again_after_new_tokens() -> None:
    def media(token: str) -> str:
        return (
            "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:3\n"
            f'#EXT-X-MAP:URI="init.mp4?{token}"\n'
            f'#EXT-X-KEY:METHOD=AES-128,URI="k1?{token}"\n'
            + "".join(f"#EXTINF:2,\ns{n}.m4s?{token}\n" for n in (3, 4))
            + f'#EXT-X-KEY:METHOD=AES-128,URI="k2?{token}"\n'
            + "".join(f"#EXTINF:2,\ns{n}.m4s?{token}\n" for n in (5, 6))
            + "#EXT-X-ENDLIST\n"
        )

    old = parse_uris(media("t=old"), BASE)
    fresh_text = media("t=new")
    for ref in old:
        found = find_equivalent(ref, fresh_text, BASE)
        assert found is not None
        assert found.url == ref.url.replace("t=old", "t=new")
        assert (found.kind, found.position) == (ref.kind, ref.position)


def test_a_key_is_found_as_the_one_in_effect_for_its_segment() -> None:
    # The fresh playlist repeats the same key before every segment: the one that was in
    # effect for segment 12 is the tag just before it.
    old = Locator(kind="key", position=0, media_sequence=12, identity=(("KEYFORMAT", "identity"),))
    fresh = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:10\n" + "".join(
        f"#EXT-X-KEY:METHOD=AES-128,URI=k{n}\n#EXTINF:2,\ns{n}.ts\n" for n in range(10, 15)
    )
    found = find_equivalent(old, fresh, BASE)
    assert found is not None and found.url.endswith("/k12")


def test_a_segment_that_slid_out_of_a_live_window_is_not_found() -> None:
    old = Locator(kind="segment", position=0, media_sequence=100)
    fresh = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:101\n#EXTINF:2,\ns101.ts\n#EXTINF:2,\ns102.ts\n"
    assert find_equivalent(old, fresh, BASE) is None


def test_parts_are_found_by_sequence_and_part_index() -> None:
    old_part = parse_uris(LL_MEDIA, BASE)[6]
    fresh = LL_MEDIA.replace("filePart267.1.mp4?x=1", "https://edge.example/p/267-1.mp4")
    found = find_equivalent(old_part, fresh, BASE)
    assert found is not None and found.url == "https://edge.example/p/267-1.mp4"


def test_locators_survive_a_json_round_trip() -> None:
    for ref in parse_uris(OLD_MASTER, BASE) + parse_uris(LL_MEDIA, BASE):
        assert Locator.from_dict(json.loads(json.dumps(ref.locator.to_dict()))) == ref.locator


@pytest.mark.parametrize(
    "data",
    [
        {"k": "bogus", "p": 0},
        {"k": "segment", "p": -1},
        {"k": "segment", "p": True},
        {"k": "segment", "p": 0, "s": "1"},
        {"k": "variant", "p": 0, "a": [["BANDWIDTH"]]},
    ],
)
def test_locator_from_dict_rejects_what_to_dict_never_writes(data: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="locator"):
        Locator.from_dict(data)


# --- single-variant master and bandwidth -------------------------------------------------


def test_synthesized_master_gives_one_variant_with_the_bitrate() -> None:
    media = "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXTINF:4,\ns.ts\n#EXT-X-ENDLIST\n"
    master = synthesize_master(
        media,
        f"{PROXY}tok.m3u8",
        bandwidth=2_100_000,
        average_bandwidth=1_800_000,
        resolution=(1920, 1080),
        codecs="avc1.640028,mp4a.40.2",
    )
    assert master == (
        "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=2100000,AVERAGE-BANDWIDTH=1800000,"
        'RESOLUTION=1920x1080,CODECS="avc1.640028,mp4a.40.2"\n'
        f"{PROXY}tok.m3u8\n"
    )
    assert is_master(master)
    (variant,) = parse_uris(master, BASE)
    assert variant.kind == "variant" and variant.url == f"{PROXY}tok.m3u8"


def test_synthesized_master_leaves_out_what_is_unknown() -> None:
    master = synthesize_master("#EXTM3U\n#EXTINF:4,\ns.ts\n", "/p/x.m3u8", bandwidth=5)
    assert master == "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=5\n/p/x.m3u8\n"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"bandwidth": 0}, ValueError),
        ({"bandwidth": 1, "codecs": 'a"b'}, ValueError),
        ({"bandwidth": 1, "resolution": (0, 720)}, ValueError),
    ],
)
def test_synthesize_master_refuses_values_that_would_break_the_tag(
    kwargs: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        synthesize_master("#EXTM3U\n", "/p/x.m3u8", **kwargs)  # type: ignore[arg-type]


def test_synthesize_master_refuses_a_master() -> None:
    with pytest.raises(PlaylistError, match="master"):
        synthesize_master(OLD_MASTER, "/p/x.m3u8", bandwidth=1)


def test_bandwidth_comes_from_byteranges_or_measured_sizes() -> None:
    ranged = (
        "#EXTM3U\n#EXTINF:2,\n#EXT-X-BYTERANGE:250000@0\na.ts\n"
        "#EXTINF:4,\n#EXT-X-BYTERANGE:250000\na.ts\n"
    )
    assert estimate_bandwidth(ranged) == hls.BandwidthEstimate(peak=1_000_000, average=666_667)
    plain = (
        "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:2,\na.ts\n#EXTINF:2,\nb.ts\n#EXTINF:2,\nc.ts\n"
    )
    assert estimate_bandwidth(plain) is None
    measured = estimate_bandwidth(plain, {7: 100_000, 9: 300_000})
    assert measured == hls.BandwidthEstimate(peak=1_200_000, average=800_000)


# --- real playlists written by ffmpeg ------------------------------------------------------

FFMPEG = ["ffmpeg", "-v", "error", "-nostdin"]
# 2 s of test picture; mpeg2video is a native encoder that the TS demuxer probes reliably.
SOURCE = ["-f", "lavfi", "-i", "testsrc=duration=2:size=96x64:rate=10", "-c:v", "mpeg2video"]
HLS_OUT = ["-g", "10", "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod"]
FFMPEG_VARIANTS = {
    "ts": ["-hls_segment_filename", "seg%d.ts"],
    "fmp4": [
        "-hls_segment_type",
        "fmp4",
        "-hls_fmp4_init_filename",
        "init.mp4",
        "-hls_segment_filename",
        "seg%d.m4s",
    ],
    "single_file": ["-hls_flags", "single_file"],
    "aes128": ["-hls_key_info_file", "key.info", "-hls_segment_filename", "seg%d.ts"],
}


@pytest.fixture(scope="module")
def ffmpeg_hls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny HLS rendition per muxer mode: name -> directory holding index.m3u8."""
    made = {}
    for name, options in FFMPEG_VARIANTS.items():
        directory = tmp_path_factory.mktemp(name)
        (directory / "enc.key").write_bytes(bytes(range(16)))
        # A relative key URI keeps every fetch local, the upstream one included.
        (directory / "key.info").write_text(f"enc.key\n{directory / 'enc.key'}\n")
        subprocess.run(
            [*FFMPEG, *SOURCE, *HLS_OUT, *options, "index.m3u8"],
            cwd=directory,
            check=True,
            timeout=60,
        )
        made[name] = directory
    return made


@pytest.mark.parametrize("name", list(FFMPEG_VARIANTS))
def test_rewriting_an_ffmpeg_playlist_keeps_every_segment(
    ffmpeg_hls: dict[str, Path], name: str
) -> None:
    text = decode_playlist((ffmpeg_hls[name] / "index.m3u8").read_bytes())
    base = f"https://cdn.example/out/{name}/index.m3u8"
    out, refs = rewrite(text, base)
    upstream_segments = uri_lines(text)
    segments = [ref for ref in refs if ref.kind == "segment"]
    assert len(segments) == text.count("#EXTINF:") == len(upstream_segments) >= 2
    assert [ref.url for ref in segments] == [urljoin(base, uri) for uri in upstream_segments]
    assert [ref.media_sequence for ref in segments] == list(range(len(segments)))
    assert {ref.extension for ref in segments} == {".mp4" if name == "fmp4" else ".ts"}
    assert sum(ref.duration or 0 for ref in segments) == pytest.approx(2.0)
    assert [line for line in out.split("\n") if line.startswith("#") and "URI=" not in line] == [
        line for line in text.split("\n") if line.startswith("#") and "URI=" not in line
    ]
    assert_no_upstream_uri_left(out)
    if name == "fmp4":
        assert [(ref.kind, ref.url) for ref in refs if ref.kind == "map"] == [
            ("map", "https://cdn.example/out/fmp4/init.mp4")
        ]
    if name == "aes128":
        assert [ref.url for ref in refs if ref.kind == "key"] == [urljoin(base, "enc.key")]


def test_ffmpeg_single_file_byteranges_tile_the_file_also_with_implicit_offsets(
    ffmpeg_hls: dict[str, Path],
) -> None:
    directory = ffmpeg_hls["single_file"]
    text = (directory / "index.m3u8").read_text()
    ranges = [ref.byterange for ref in parse_uris(text, BASE)]
    assert all(r is not None and r.length for r in ranges)
    assert [r.offset for r in ranges if r] == [0] + [
        r.offset + (r.length or 0) for r in ranges[:-1] if r
    ]
    assert sum(r.length or 0 for r in ranges if r) == (directory / "index.ts").stat().st_size
    # The same playlist with only the first offset spelled out resolves identically.
    implicit = re.sub(r"(#EXT-X-BYTERANGE:\d+)@(?!0\n)\d+", r"\1", text)
    assert implicit != text
    assert [ref.byterange for ref in parse_uris(implicit, BASE)] == ranges


def test_bandwidth_of_ffmpeg_output_matches_the_bytes_on_disk(ffmpeg_hls: dict[str, Path]) -> None:
    single = ffmpeg_hls["single_file"]
    size = (single / "index.ts").stat().st_size
    estimate = estimate_bandwidth((single / "index.m3u8").read_text())
    assert estimate is not None and estimate.average == math.ceil(size * 8 / 2.0)
    ts = ffmpeg_hls["ts"]
    sizes = {n: (ts / f"seg{n}.ts").stat().st_size for n in (0, 1)}
    estimate = estimate_bandwidth((ts / "index.m3u8").read_text(), sizes)
    assert estimate is not None
    assert estimate.peak == math.ceil(max(sizes.values()) * 8 / 1.0)
    assert estimate.average == math.ceil(sum(sizes.values()) * 8 / 2.0)


@pytest.mark.parametrize("name", list(FFMPEG_VARIANTS))
def test_ffmpeg_decodes_the_rewritten_playlist_to_the_same_frames(
    ffmpeg_hls: dict[str, Path], name: str, tmp_path: Path
) -> None:
    # Stand-in for the proxy: each wrapped URL is a fresh local link, named with the
    # chosen extension, to the file the upstream URI named.
    directory = ffmpeg_hls[name]

    def wrap(ref: UriRef) -> str:
        source = directory / PurePosixPath(urlsplit(ref.url).path).name
        link = tmp_path / f"{len(list(tmp_path.iterdir()))}{ref.extension}"
        link.symlink_to(source)
        return str(link)

    text = decode_playlist((directory / "index.m3u8").read_bytes())
    rewritten = tmp_path / "rewritten.m3u8"
    rewritten.write_text(rewrite_playlist(text, f"https://cdn.example/{name}/index.m3u8", wrap))
    # Locally ffmpeg only opens files with media extensions; over HTTP the .key is fine.
    extra = ["-allowed_extensions", "ALL"] if name == "aes128" else []
    assert framemd5(rewritten, extra) == framemd5(directory / "index.m3u8", extra)


def framemd5(playlist: Path, extra: list[str]) -> str:
    result = subprocess.run(
        [*FFMPEG, *extra, "-i", str(playlist), "-map", "0:v", "-f", "framemd5", "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    frames = [line for line in result.stdout.splitlines() if not line.startswith("#")]
    assert len(frames) == 20  # 2 s at 10 fps: every segment was read
    return result.stdout
