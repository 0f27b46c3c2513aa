"""Pure parts of reading and downloading HLS: the local playlist ffmpeg remuxes from, what
is fetched for it, what a master and ffprobe say about a stream, the download rate
limit and how local disk errors read."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from catalog import local_hls, media_info
from catalog.egress import hls
from downloads import storage
from downloads.throttle import Throttle

BASE = "https://cdn.example/t/tok/hls/index.m3u8"

BYTERANGE_FMP4 = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:5
#EXT-X-MAP:URI="init.mp4",BYTERANGE="720@0"
#EXTINF:2.0,
#EXT-X-BYTERANGE:1000@720
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T10:00:00.000Z
media.mp4
#EXTINF:2.0,
#EXT-X-BYTERANGE:1000
media.mp4
#EXT-X-ENDLIST
"""

AES = """#EXTM3U
#EXT-X-TARGETDURATION:2
#EXT-X-KEY:METHOD=AES-128,URI="k1.bin",IV=0x0102
#EXTINF:2,
a.jpg
#EXT-X-KEY:METHOD=AES-128,URI="../keys/k2.bin"
#EXTINF:2,
b
#EXTINF:2,
c.ts
"""


def test_local_playlist_points_at_local_files_without_byte_ranges() -> None:
    local = local_hls.local_playlist(BYTERANGE_FMP4, BASE)
    assert local.splitlines() == [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-TARGETDURATION:2",
        "#EXT-X-MEDIA-SEQUENCE:5",
        '#EXT-X-MAP:URI="map0000.mp4"',
        "#EXTINF:2.0,",
        "#EXT-X-PROGRAM-DATE-TIME:2024-05-01T10:00:00.000Z",
        "seg00000005.mp4",
        "#EXTINF:2.0,",
        "seg00000006.mp4",
        "#EXT-X-ENDLIST",
    ]
    wanted = local_hls.resources(hls.parse_uris(BYTERANGE_FMP4, BASE))
    assert [(ref.kind, local_hls.local_name(ref), ref.byterange) for ref in wanted] == [
        ("map", "map0000.mp4", hls.ByteRange(0, 720)),
        ("segment", "seg00000005.mp4", hls.ByteRange(720, 1000)),
        ("segment", "seg00000006.mp4", hls.ByteRange(1720, 1000)),
    ]


def test_keys_stay_with_their_segments_and_odd_extensions_become_ones_ffmpeg_takes() -> None:
    local = local_hls.local_playlist(AES, BASE)
    assert '#EXT-X-KEY:METHOD=AES-128,URI="key0000.key",IV=0x0102' in local
    assert '#EXT-X-KEY:METHOD=AES-128,URI="key0001.key"' in local
    assert [line for line in local.splitlines() if not line.startswith("#")] == [
        "seg00000000.ts",
        "seg00000001.ts",
        "seg00000002.ts",
    ]
    assert local.endswith("#EXT-X-ENDLIST\n")  # a playlist without one is not waited on
    urls = [ref.url for ref in local_hls.resources(hls.parse_uris(AES, BASE))]
    assert urls[:2] == [
        "https://cdn.example/t/tok/hls/k1.bin",
        "https://cdn.example/t/tok/hls/a.jpg",
    ]
    assert "https://cdn.example/t/tok/keys/k2.bin" in urls


def test_the_first_segment_alone_with_what_it_needs() -> None:
    local = local_hls.local_playlist(AES, BASE, segments=1)
    assert local.splitlines()[-3:] == ["#EXTINF:2,", "seg00000000.ts", "#EXT-X-ENDLIST"]
    assert "key0001" not in local
    wanted = local_hls.resources(hls.parse_uris(AES, BASE), segments=1)
    assert [local_hls.local_name(ref) for ref in wanted] == ["key0000.key", "seg00000000.ts"]


@pytest.mark.parametrize(
    "key",
    [
        'METHOD=SAMPLE-AES,URI="skd://x"',
        'METHOD=AES-128,URI="k",KEYFORMAT="com.apple.streamingkeydelivery"',
    ],
)
def test_encryption_we_cannot_undo_is_refused(key: str) -> None:
    text = f"#EXTM3U\n#EXT-X-KEY:{key}\n#EXTINF:2,\na.ts\n"
    refs = hls.parse_uris(text, BASE)
    if any(ref.kind == "key" for ref in refs):
        with pytest.raises(local_hls.UnsupportedStream, match="only AES-128"):
            local_hls.resources(refs)
    else:  # skd: is no URI to fetch: nothing to decrypt with either
        assert [ref.kind for ref in local_hls.resources(refs)] == ["segment"]


def test_a_master_is_no_local_playlist() -> None:
    with pytest.raises(local_hls.UnsupportedStream):
        local_hls.local_playlist("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n", BASE)


# --- what a master says ----------------------------------------------------------------------


def test_best_variant_by_lines_then_bit_rate_and_what_it_says() -> None:
    master = (
        "#EXTM3U\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=1280x720\nhd.m3u8\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=2000000,RESOLUTION=1920x1080,CODECS="mp4a.40.2,avc1.640028"\n'
        "fhd-low.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=4000000,AVERAGE-BANDWIDTH=3000000,RESOLUTION=1920x1080\n"
        "fhd.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=9000000\nnoresolution.m3u8\n"
    )
    best = media_info.best_variant(hls.parse_uris(master, BASE))
    assert best is not None and best.url.endswith("/fhd.m3u8")
    info = media_info.variant_info(best.attributes)
    assert (info.width, info.height, info.bandwidth, info.codecs) == (1920, 1080, 4000000, "")
    assert not info.complete
    other = media_info.variant_info(
        {"RESOLUTION": "1920x1080", "BANDWIDTH": "2000000", "CODECS": "mp4a.40.2,avc1.640028"}
    )
    assert other.complete and other.vcodec == "avc1.640028"


@pytest.mark.parametrize(
    ("stream", "codec"),
    [
        (
            {"codec_type": "video", "codec_name": "h264", "profile": "High", "level": 40},
            "avc1.640028",
        ),
        (
            {"codec_type": "video", "codec_name": "h264", "profile": "Main", "level": 31},
            "avc1.4d401f",
        ),
        (
            {
                "codec_type": "video",
                "codec_name": "h264",
                "profile": "Constrained Baseline",
                "level": 30,
            },
            "avc1.42e01e",
        ),
        (
            {"codec_type": "video", "codec_name": "hevc", "profile": "Main", "level": 120},
            "hvc1.1.6.L120.B0",
        ),
        ({"codec_type": "audio", "codec_name": "aac", "profile": "HE-AAC"}, "mp4a.40.5"),
        ({"codec_type": "audio", "codec_name": "ac3"}, "ac-3"),
    ],
)
def test_ffprobe_streams_become_hls_codec_strings(stream: dict[str, object], codec: str) -> None:
    info = media_info.probed_info({"streams": [stream]})
    assert info.codecs == codec


def test_a_codec_without_a_known_string_leaves_codecs_empty_not_half_known() -> None:
    info = media_info.probed_info(
        {
            "streams": [
                {"codec_type": "video", "codec_name": "av1", "width": 1920, "height": 1080},
                {"codec_type": "audio", "codec_name": "aac", "profile": "LC"},
            ],
            "format": {"duration": "1420.5"},
        }
    )
    assert (info.width, info.height, info.codecs, info.vcodec) == (1920, 1080, "", "av1")
    assert info.duration == 1420.5


# --- the rate limit --------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_throttle_keeps_to_the_rate_after_a_short_burst() -> None:
    clock = Clock()
    throttle = Throttle(40_000, clock=clock, sleep=clock.sleep)
    for _ in range(20):
        throttle.take(10_000)  # read instantly: 200 kB
    # 200 kB at 40 kB/s: 5 s, less the quarter second of burst allowed at the start.
    assert sum(clock.slept) == pytest.approx(5.0 - 0.25)
    assert throttle.read_size(512 * 1024) == 10_000  # a quarter second's worth


def test_no_limit_means_no_waiting() -> None:
    clock = Clock()
    throttle = Throttle(0, clock=clock, sleep=clock.sleep)
    throttle.take(10**9)
    assert clock.slept == [] and throttle.read_size(512 * 1024) == 512 * 1024


# --- local disk errors -----------------------------------------------------------------------


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_reads_as_no_space_with_the_free_space(code: int, tmp_path: Path) -> None:
    with pytest.raises(storage.LocalStorageError) as raised, storage.writing():
        raise OSError(code, "full")
    assert str(raised.value).startswith("No space left on DOWNLOAD_DIR (")
    assert str(raised.value).endswith(" MB free")


def test_other_local_errors_say_what_happened_and_network_errors_pass() -> None:
    refused = pytest.raises(
        storage.LocalStorageError, match=r"Cannot write to DOWNLOAD_DIR .*: Read"
    )
    with refused, storage.writing():
        raise OSError(errno.EROFS, "Read-only file system")
    with pytest.raises(ConnectionResetError), storage.writing():
        raise ConnectionResetError(errno.ECONNRESET, "reset")
    assert storage.ffmpeg_storage_error("av_interleaved_write_frame(): No space left on device")
    assert storage.ffmpeg_storage_error("Invalid data found when processing input") is None
