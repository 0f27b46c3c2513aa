"""Real media for the fake CDN, made once per process with ffmpeg (about a second).

Layout under `MediaSet.root` (the CDN serves these paths after its token):

    mp4/video.mp4                      640x360 progressive MP4, faststart
    mp4/video-180p.mp4                 320x180 progressive MP4
    hls/<kind>/master.m3u8             master playlist: 180p/ and 360p/ variants
    hls/<kind>/<180p|360p>/index.m3u8  VOD media playlist, 2 s segments

with <kind> one of: `ts` (MPEG-TS segments), `aes` (TS, AES-128, relative key URI
`enc.key`), `fmp4` (fMP4 with `EXT-X-MAP:URI="init.mp4"`), `byterange` (one
`index.ts` addressed with `EXT-X-BYTERANGE`), `video-only` (TS without an audio
track). Source: testsrc video + 440 Hz sine.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

DURATION = 6
SEGMENT_SECONDS = 2
FPS = 25
AES_KEY = bytes(range(16))
HLS_KINDS = ("ts", "aes", "fmp4", "byterange", "video-only")
# Bump when the layout or encoding changes: cached directories are keyed by it.
LAYOUT_VERSION = "media-v2"


@dataclass(frozen=True)
class Rendition:
    name: str
    width: int
    height: int


RENDITIONS = (Rendition("180p", 320, 180), Rendition("360p", 640, 360))
PLAYLIST_VERSION = {"ts": 3, "aes": 3, "byterange": 4, "fmp4": 7, "video-only": 3}


@dataclass(frozen=True)
class MediaSet:
    root: Path

    def path(self, resource: str) -> Path | None:
        """The file for a CDN resource path, or None (also for `..` tricks)."""
        parts = PurePosixPath(resource).parts
        if not parts or any(p in ("..", "") or p.startswith("/") for p in parts):
            return None
        candidate = self.root.joinpath(*parts)
        return candidate if candidate.is_file() else None

    @property
    def progressive(self) -> Path:
        return self.root / "mp4" / "video.mp4"

    def source(self, rendition: str) -> Path:
        """The MP4 a rendition was cut from: reference for frame comparisons."""
        return self.progressive if rendition == "360p" else self.root / "mp4" / "video-180p.mp4"


_lock = threading.Lock()
_cache: dict[Path | None, MediaSet] = {}


def generate_media(cache_dir: Path | None = None) -> MediaSet:
    """The media set, generated at most once per process (and once per `cache_dir`,
    which may be shared between processes: the result is moved in atomically)."""
    with _lock:
        if cache_dir in _cache:
            return _cache[cache_dir]
        if cache_dir is None:
            base = Path(tempfile.mkdtemp(prefix="anibridge-fakeweb-media-"))
            atexit.register(shutil.rmtree, base, True)
        else:
            base = cache_dir
        media = _ensure(base / LAYOUT_VERSION)
        _cache[cache_dir] = media
        return media


def _ensure(dest: Path) -> MediaSet:
    if (dest / "complete").is_file():
        return MediaSet(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        _build(work)
        (work / "complete").write_text("ok\n")
        try:
            work.rename(dest)
        except OSError:
            # Another process won the race; its copy is identical.
            if not (dest / "complete").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return MediaSet(dest)


def _ffmpeg(*args: str) -> None:
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({' '.join(cmd)}): {result.stderr.strip()}")


def _build(root: Path) -> None:
    (root / "mp4").mkdir()
    video = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    # A keyframe exactly every segment so every HLS cut starts decodable.
    video += ["-g", str(FPS * SEGMENT_SECONDS), "-keyint_min", str(FPS * SEGMENT_SECONDS)]
    video += ["-sc_threshold", "0"]
    audio = ["-c:a", "aac", "-b:a", "64k", "-ac", "2"]
    mp4 = ["-movflags", "+faststart"]
    _ffmpeg(
        "-f", "lavfi", "-i", f"testsrc=size=640x360:rate={FPS}:duration={DURATION}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={DURATION}",
        "-filter_complex", "[0:v]split=2[hi][lo0];[lo0]scale=320:180[lo]",
        "-map", "[hi]", "-map", "1:a", *video, *audio, *mp4, str(root / "mp4" / "video.mp4"),
        "-map", "[lo]", "-map", "1:a", *video, *audio, *mp4, str(root / "mp4" / "video-180p.mp4"),
    )  # fmt: skip
    jobs = [(kind, r) for kind in HLS_KINDS for r in RENDITIONS]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for future in [pool.submit(_segment, root, kind, r) for kind, r in jobs]:
            future.result()
    for kind in HLS_KINDS:
        _write_master(root / "hls" / kind, kind)


def _segment(root: Path, kind: str, rendition: Rendition) -> None:
    out = root / "hls" / kind / rendition.name
    out.mkdir(parents=True)
    source = root / "mp4" / ("video.mp4" if rendition.name == "360p" else "video-180p.mp4")
    args = ["-i", str(source), "-c", "copy", "-f", "hls", "-hls_time", str(SEGMENT_SECONDS)]
    if kind == "video-only":
        args.insert(2, "-an")
    args += ["-hls_playlist_type", "vod"]
    if kind == "fmp4":
        args += ["-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4"]
        args += ["-hls_segment_filename", str(out / "seg%d.m4s")]
    elif kind == "byterange":
        args += ["-hls_flags", "single_file"]
    else:
        args += ["-hls_segment_filename", str(out / "seg%d.ts")]
    if kind == "aes":
        (out / "enc.key").write_bytes(AES_KEY)
        # The first line is the URI written into the playlist: relative on purpose.
        (out / "keyinfo").write_text(f"enc.key\n{out / 'enc.key'}\n")
        args += ["-hls_key_info_file", str(out / "keyinfo")]
    _ffmpeg(*args, str(out / "index.m3u8"))
    (out / "keyinfo").unlink(missing_ok=True)


def _write_master(kind_dir: Path, kind: str) -> None:
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{PLAYLIST_VERSION[kind]}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for r in RENDITIONS:
        media = [p for p in (kind_dir / r.name).iterdir() if p.suffix in (".ts", ".m4s", ".mp4")]
        total_bits = sum(p.stat().st_size for p in media) * 8
        average = total_bits // DURATION
        peak = max(p.stat().st_size for p in media) * 8 // SEGMENT_SECONDS
        peak = max(peak, average)
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average},"
            f"RESOLUTION={r.width}x{r.height},FRAME-RATE={FPS}.000"
        )
        lines.append(f"{r.name}/index.m3u8")
    (kind_dir / "master.m3u8").write_text("\n".join(lines) + "\n")
