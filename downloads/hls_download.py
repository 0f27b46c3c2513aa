"""Download an HLS stream the way the STRM proxy plays it, then remux it into one file.

The playlists are read through catalog.egress (address check per hop, the resolver's
headers, tolerant parsing); the best variant (and its audio rendition, when the audio
comes separately: downloads.hls_tree) has its segments, keys and init sections fetched
into the job's directory under names fixed by sequence number (catalog.local_hls), next
to a local playlist; `ffmpeg -c copy` makes the file from them, so the frames are the
CDN's own and ffmpeg decrypts AES-128 with the local key.

When the CDN stops taking the URL (a token expired: 403/404/410/429/451 or a dropped
connection), the same hoster is re-resolved and every missing piece is found again in
the fresh playlist tree by its locator (media sequence number for segments, as the
proxy's re-find does); finished pieces stay. A job that runs again (redelivered,
stopped and started) finds its finished pieces on disk and fetches only the rest.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from catalog import local_hls, media_info
from catalog.egress import fetch, hls
from catalog.egress.fetch import FetchFailed, Playlist
from catalog.egress.hls import UriRef
from downloads import hls_tree, storage
from downloads.hls_tree import Track
from downloads.pieces import copy_body, run_pieces
from downloads.progress import Progress
from downloads.source import DownloadFailed, Source
from downloads.throttle import Throttle

log = logging.getLogger(__name__)

# Pieces fetched at once when no rate limit applies (yt-dlp's old setting). Throttled,
# one at a time: parallel requests would only share the same bytes per second.
PARALLEL_PIECES = 4
LOCAL_PLAYLIST = "local.m3u8"
REMUX_TIMEOUT_SECONDS = 3600


@dataclass
class Piece:
    """A resource to fetch: `ref` names its file in `track`'s directory; `current` is
    where it is now (after a re-resolve, in the fresh playlist)."""

    track: str
    ref: UriRef
    current: UriRef


class HlsDownload:
    def __init__(
        self, source: Source, workdir: Path, progress: Progress, throttle: Throttle
    ) -> None:
        self.source = source
        self.workdir = workdir
        self.progress = progress
        self.throttle = throttle
        self._sizes: dict[str, list[int]] = {}  # segments fetched in this run, per track
        self._counts: dict[str, int] = {}  # segments per track
        self._exact = False  # every segment has a byte range: the total is known

    def started(self) -> bool:
        """Whether an earlier run of the job chose its playlists (and may have pieces)."""
        return (self.workdir / hls_tree.PLAN).exists()

    def run(self, output: Path) -> Path:
        earlier = hls_tree.saved(self.workdir, self.source.provider)
        tracks = self._retrying(partial(self._tracks, earlier))
        hls_tree.save(self.workdir, self.source.provider, tracks)
        wanted = {track.name: self._prepare(track) for track in tracks}
        pieces = [
            Piece(name, ref, ref)
            for name, refs in wanted.items()
            for ref in refs
            if not self._path(name, ref).exists()
        ]
        self.progress.set_done(
            sum(_size(self._path(name, ref)) for name, refs in wanted.items() for ref in refs)
        )
        self._estimate(tracks, wanted)
        log.info(
            "%s: %d of %d pieces to fetch (%s)",
            self.source.identity,
            len(pieces),
            sum(map(len, wanted.values())),
            ", ".join(f"{t.name} from {fetch.host(t.media.url)}" for t in tracks),
        )
        while pieces:
            failure = run_pieces(
                pieces,
                self._fetch,
                workers=1 if self.throttle.limited else PARALLEL_PIECES,
                progress=self.progress,
                on_done=lambda piece: self._finished(piece, pieces),
            )
            if failure is None:
                break
            tracks = self._retrying(partial(self._refind, tracks, pieces, wanted), failure)
        self.progress.report(force=True, message="remuxing")
        return remux([self.workdir / t.name / LOCAL_PLAYLIST for t in tracks], output)

    # --- the playlist tree -------------------------------------------------------------

    def _retrying(
        self, build: Callable[[], list[Track]], failure: FetchFailed | None = None
    ) -> list[Track]:
        """build(); re-resolving first when `failure` is given, and again whenever build()
        meets a URL the CDN no longer takes (Source bounds how often)."""
        while True:
            if failure is not None:
                self.source.refresh(failure)
            try:
                return build()
            except FetchFailed as exc:
                if not exc.expired:
                    raise DownloadFailed(str(exc)) from exc
                failure = exc

    def _tracks(self, earlier: hls_tree.Chosen | None) -> list[Track]:
        return hls_tree.choose(self._playlist(self.source.url), self._playlist, earlier)

    def _prepare(self, track: Track) -> list[UriRef]:
        """What the track needs fetched; its local playlist written."""
        try:
            wanted = local_hls.resources(hls_tree.parse(track.media))
            local = local_hls.local_playlist(track.media.text, track.media.url)
        except (local_hls.UnsupportedStream, hls.PlaylistError) as exc:
            raise DownloadFailed(f"cannot download this stream: {exc}") from exc
        with storage.writing():
            (self.workdir / track.name).mkdir(exist_ok=True)
            (self.workdir / track.name / LOCAL_PLAYLIST).write_text(local)
        return wanted

    def _refind(
        self, old: list[Track], pieces: list[Piece], wanted: dict[str, list[UriRef]]
    ) -> list[Track]:
        """The tracks of the fresh resolution, every missing piece pointed at its new URL."""
        tracks = self._tracks(hls_tree.chosen(old))
        media = {track.name: track.media for track in tracks}
        for piece in pieces:
            piece.current = self._equivalent(piece.ref, media[piece.track])
        for name, refs in wanted.items():  # a key already fetched must still be the key
            for ref in refs:
                if ref.kind == "key" and self._path(name, ref).exists():
                    url = self._equivalent(ref, media[name]).url
                    if (
                        fetch.fetch_small(url, self.source.headers)
                        != self._path(name, ref).read_bytes()
                    ):
                        raise DownloadFailed("the stream's key changed when it was re-resolved")
        return tracks

    def _equivalent(self, ref: UriRef, media: Playlist) -> UriRef:
        try:
            found = hls.find_equivalent(ref.locator, media.text, media.url)
        except hls.PlaylistError as exc:
            raise DownloadFailed(f"unusable playlist after re-resolving: {exc}") from exc
        if found is None:
            raise DownloadFailed(
                f"the {ref.kind} #{ref.media_sequence or ref.position} is not in the playlist "
                "after re-resolving"
            )
        return found

    def _playlist(self, url: str) -> Playlist:
        return fetch.fetch_playlist(url, self.source.headers)

    # --- pieces ------------------------------------------------------------------------

    def _fetch(self, piece: Piece, stop: threading.Event) -> None:
        path = self._path(piece.track, piece.ref)
        part = path.with_name(path.name + ".part")
        current = piece.current
        if current.kind != "segment":
            data = fetch.fetch_small(current.url, self.source.headers, current.byterange)
            with storage.writing():
                part.write_bytes(data)
                part.replace(path)
            self.progress.add(len(data))
            return
        byterange = current.byterange
        answer = fetch.open_url(
            current.url,
            self.source.headers,
            range_header=byterange.http_range() if byterange else None,
        )
        skip, length = 0, None
        if byterange is not None and answer.status == 200:  # the Range was ignored
            skip, length = byterange.offset, byterange.length
        expected = length if length is not None else answer.content_length()
        written = 0
        try:
            with storage.writing(), part.open("wb") as out:
                written = copy_body(
                    answer,
                    out,
                    throttle=self.throttle,
                    progress=self.progress,
                    stop=stop,
                    skip=skip,
                    length=length,
                )
            if expected is not None and written != expected:
                raise FetchFailed(
                    f"{fetch.host(answer.url)}: segment cut short ({written} of {expected} bytes)",
                    expired=True,
                )
            with storage.writing():
                part.replace(path)
        except BaseException:
            self.progress.add(-written)  # fetched again from the start
            raise

    def _finished(self, piece: Piece, pieces: list[Piece]) -> None:
        pieces.remove(piece)
        self.source.progressed()
        if piece.ref.kind == "segment" and not self._exact:
            sizes = self._sizes.setdefault(piece.track, [])
            sizes.append(_size(self._path(piece.track, piece.ref)))
            if set(self._sizes) == set(self._counts):  # every track has an average
                self.progress.estimate(
                    round(
                        sum(
                            sum(sizes) / len(sizes) * self._counts[name]
                            for name, sizes in self._sizes.items()
                        )
                    )
                )

    def _estimate(self, tracks: list[Track], wanted: dict[str, list[UriRef]]) -> None:
        """The total from the byte ranges when every segment has one, else from the
        variant's bit rate and the duration (refined from real sizes as they come)."""
        segments = {
            name: [ref for ref in refs if ref.kind == "segment"] for name, refs in wanted.items()
        }
        self._counts = {name: len(refs) for name, refs in segments.items() if refs}
        lengths = [
            ref.byterange.length if ref.byterange is not None else None
            for refs in segments.values()
            for ref in refs
        ]
        if lengths and all(lengths):
            self._exact = True
            self.progress.estimate(sum(length or 0 for length in lengths))
            return
        video = next((t for t in tracks if t.name == hls_tree.VIDEO), None)
        if video is None or not video.attributes:
            return
        said = media_info.variant_info(video.attributes)
        average = _positive_int(video.attributes.get("AVERAGE-BANDWIDTH")) or said.bandwidth
        seconds = sum(ref.duration or 0 for ref in segments.get(hls_tree.VIDEO, []))
        if average and seconds:
            self.progress.estimate(round(average * seconds / 8))

    def _path(self, track: str, ref: UriRef) -> Path:
        return self.workdir / track / local_hls.local_name(ref)


def remux(playlists: list[Path], output: Path) -> Path:
    """One MP4 from local playlists (video first, then a separate audio track if any), the
    streams copied as they are."""
    partial_output = output.with_name(output.name + ".part")
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    for playlist in playlists:
        command += [*local_hls.FFMPEG_INPUT_OPTIONS, "-i", str(playlist)]
    audio_from = len(playlists) - 1  # a separate audio track replaces any in the video's
    command += ["-map", "0:v?", "-map", f"{audio_from}:a?", "-c", "copy"]
    command += ["-movflags", "+faststart", "-f", "mp4", str(partial_output)]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=REMUX_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise DownloadFailed(f"ffmpeg took longer than {REMUX_TIMEOUT_SECONDS} s") from exc
    if result.returncode != 0:
        partial_output.unlink(missing_ok=True)
        error = storage.ffmpeg_storage_error(result.stderr)
        if error is not None:
            raise error
        lines = result.stderr.strip().splitlines()
        raise DownloadFailed(f"ffmpeg could not join the segments: {lines[-1] if lines else '?'}")
    with storage.writing():
        partial_output.replace(output)
    return output


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _positive_int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if number > 0 else None
