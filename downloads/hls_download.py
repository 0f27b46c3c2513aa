"""Download an HLS stream the way the STRM proxy plays it, then remux it into one file.

The playlists are read through catalog.egress (address check per hop, the resolver's
headers, tolerant parsing); the best variant's segments, keys and init sections go
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

import json
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
from catalog.egress.hls import Locator, UriRef
from downloads import storage
from downloads.pieces import copy_body, run_pieces
from downloads.progress import Progress
from downloads.source import DownloadFailed, Source
from downloads.throttle import Throttle

log = logging.getLogger(__name__)

# Pieces fetched at once when no rate limit applies (yt-dlp's old setting). Throttled,
# one at a time: parallel requests would only share the same bytes per second.
PARALLEL_PIECES = 4
PLAN = "plan.json"
LOCAL_PLAYLIST = "local.m3u8"
REMUX_TIMEOUT_SECONDS = 3600


@dataclass(frozen=True)
class Tree:
    """One resolution's playlists: the variant chosen in the master (None without one)
    and its media playlist."""

    variant: UriRef | None
    media: Playlist


@dataclass
class Piece:
    """A resource to fetch: `ref` names its file; `current` is where it is now."""

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
        self._sizes: list[int] = []  # of segments fetched in this run, for the estimate
        self._segments = 0
        self._exact_total: int | None = None

    def started(self) -> bool:
        """Whether an earlier run of the job chose its playlists (and may have pieces)."""
        return (self.workdir / PLAN).exists()

    def run(self, output: Path) -> Path:
        saved = _saved_variant(self.workdir, self.source.provider)
        tree = self._retrying(lambda: self._tree(self._playlist(self.source.url), saved))
        self._save_plan(tree)
        refs = _parse(tree.media)
        try:
            wanted = local_hls.resources(refs)
            local = local_hls.local_playlist(tree.media.text, tree.media.url)
        except (local_hls.UnsupportedStream, hls.PlaylistError) as exc:
            raise DownloadFailed(f"cannot download this stream: {exc}") from exc
        with storage.writing():
            (self.workdir / LOCAL_PLAYLIST).write_text(local)
        self._segments = sum(1 for ref in wanted if ref.kind == "segment")
        pieces = [Piece(ref, ref) for ref in wanted if not self._path(ref).exists()]
        self.progress.set_done(sum(_size(self._path(ref)) for ref in wanted))
        self._estimate(tree, wanted)
        log.info(
            "%s: %d of %d pieces to fetch from %s",
            self.source.identity,
            len(pieces),
            len(wanted),
            fetch.host(tree.media.url),
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
            tree = self._retrying(partial(self._refind, tree, pieces, wanted), failure)
        self.progress.report(force=True, message="remuxing")
        return remux(self.workdir / LOCAL_PLAYLIST, output)

    # --- the playlist tree -------------------------------------------------------------

    def _retrying(self, build: Callable[[], Tree], failure: FetchFailed | None = None) -> Tree:
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

    def _tree(self, entry: Playlist, saved: Locator | None) -> Tree:
        if not hls.is_master(entry.text):
            return Tree(None, entry)
        refs = _parse(entry)
        if saved is not None:
            variant = hls.find_equivalent(saved, entry.text, entry.url)
            if variant is None:
                raise DownloadFailed("the variant this download started with is gone")
        else:
            variant = media_info.best_variant(refs)
        if variant is None:
            raise DownloadFailed(
                f"the master playlist from {fetch.host(entry.url)} lists no variant"
            )
        media = self._playlist(variant.url)
        if hls.is_master(media.text):
            raise DownloadFailed(f"{fetch.host(media.url)}: a master playlist inside a master")
        return Tree(variant, media)

    def _refind(self, old: Tree, pieces: list[Piece], wanted: list[UriRef]) -> Tree:
        """The tree of the fresh resolution, every missing piece pointed at its new URL."""
        saved = old.variant.locator if old.variant is not None else None
        tree = self._tree(self._playlist(self.source.url), saved)
        for piece in pieces:
            piece.current = self._equivalent(piece.ref, tree.media)
        for ref in wanted:  # a key already fetched must still be the key
            if ref.kind == "key" and self._path(ref).exists():
                fresh = fetch.fetch_small(
                    self._equivalent(ref, tree.media).url, self.source.headers
                )
                if fresh != self._path(ref).read_bytes():
                    raise DownloadFailed("the stream's key changed when it was re-resolved")
        return tree

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
        path = self._path(piece.ref)
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
        if piece.ref.kind == "segment":
            self._sizes.append(_size(self._path(piece.ref)))
            if self._exact_total is None and self._segments:
                average = sum(self._sizes) / len(self._sizes)
                self.progress.estimate(round(average * self._segments))

    def _estimate(self, tree: Tree, wanted: list[UriRef]) -> None:
        """The total from the byte ranges when every segment has one, else from the
        variant's bit rate and the duration (refined from real sizes as they come)."""
        segments = [ref for ref in wanted if ref.kind == "segment"]
        lengths = [ref.byterange.length for ref in segments if ref.byterange is not None]
        if segments and len(lengths) == len(segments) and all(lengths):
            self._exact_total = sum(length or 0 for length in lengths)
            self.progress.estimate(self._exact_total)
            return
        if tree.variant is None:
            return
        rate = media_info.variant_info(tree.variant.attributes).bandwidth
        seconds = sum(ref.duration or 0 for ref in segments)
        average = _positive_int(tree.variant.attributes.get("AVERAGE-BANDWIDTH"))
        if (average or rate) and seconds:
            self.progress.estimate(round((average or rate or 0) * seconds / 8))

    def _path(self, ref: UriRef) -> Path:
        return self.workdir / local_hls.local_name(ref)

    def _save_plan(self, tree: Tree) -> None:
        plan = {
            "provider": self.source.provider,
            "variant": tree.variant.locator.to_dict() if tree.variant is not None else None,
        }
        with storage.writing():
            (self.workdir / PLAN).write_text(json.dumps(plan))


def remux(playlist: Path, output: Path) -> Path:
    """One MP4 from a local playlist, the streams copied as they are."""
    partial = output.with_name(output.name + ".part")
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    command += [*local_hls.FFMPEG_INPUT_OPTIONS, "-i", str(playlist)]
    command += ["-map", "0:v?", "-map", "0:a?", "-c", "copy", "-movflags", "+faststart"]
    command += ["-f", "mp4", str(partial)]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=REMUX_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise DownloadFailed(f"ffmpeg took longer than {REMUX_TIMEOUT_SECONDS} s") from exc
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        error = storage.ffmpeg_storage_error(result.stderr)
        if error is not None:
            raise error
        lines = result.stderr.strip().splitlines()
        raise DownloadFailed(f"ffmpeg could not join the segments: {lines[-1] if lines else '?'}")
    with storage.writing():
        partial.replace(output)
    return output


def _saved_variant(workdir: Path, provider: str) -> Locator | None:
    """The variant an earlier run of the job chose, if it fetched from the same hoster."""
    try:
        plan = json.loads((workdir / PLAN).read_text())
        if plan.get("provider") == provider and plan.get("variant"):
            return Locator.from_dict(plan["variant"])
    except (OSError, ValueError, AttributeError):
        pass
    return None


def _parse(playlist: Playlist) -> list[UriRef]:
    try:
        return hls.parse_uris(playlist.text, playlist.url)
    except hls.PlaylistError as exc:
        raise DownloadFailed(f"unusable playlist from {fetch.host(playlist.url)}: {exc}") from exc


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
