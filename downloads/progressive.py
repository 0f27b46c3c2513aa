"""Download a progressive file (an MP4 from Vidoza or Doodstream) through catalog.egress,
continuing with a Range request wherever it stopped: a cut connection, an expired token
(then re-resolved from the same hoster), a job that runs again."""

from __future__ import annotations

import logging
import posixpath
import threading
from pathlib import Path
from urllib.parse import urlsplit

from catalog.egress import fetch, upstream
from catalog.egress.fetch import FetchFailed
from downloads import storage
from downloads.pieces import copy_body, run_pieces
from downloads.progress import Progress
from downloads.source import DownloadFailed, Source
from downloads.throttle import Throttle

log = logging.getLogger(__name__)

PARTIAL = "media.part"
# Container by its first bytes; the URL's extension where they say nothing we know.
_MAGIC = (
    *((4, box, ".mp4") for box in (b"ftyp", b"moov", b"mdat", b"free")),  # ISO media boxes
    (0, b"\x1aE\xdf\xa3", ".mkv"),
    (0, b"FLV", ".flv"),
)
_KNOWN_SUFFIXES = (".mp4", ".mkv", ".webm", ".ts", ".m4v", ".mov", ".flv")


class ProgressiveDownload:
    def __init__(
        self, source: Source, workdir: Path, progress: Progress, throttle: Throttle
    ) -> None:
        self.source = source
        self.partial = workdir / PARTIAL
        self.progress = progress
        self.throttle = throttle
        self.total: int | None = None
        self._first: upstream.Upstream | None = None

    def started(self) -> bool:
        """Whether an earlier run of the job left a partial file."""
        return self.partial.exists()

    def run(self, output_stem: Path, first: upstream.Upstream | None = None) -> Path:
        """The finished file, named `output_stem` + the container's extension. `first`:
        the answer to `bytes=0-` already open (its head read), where a new file starts."""
        self._first = first
        failure: FetchFailed | None = None
        self.progress.set_done(_size(self.partial))
        while True:
            have = _size(self.partial)
            if self.total is not None and have >= self.total:
                break
            if failure is not None:
                self.source.refresh(failure)
            try:
                failure = run_pieces(
                    [have], self._fetch_from, workers=1, progress=self.progress, on_done=_nothing
                )
            except FetchFailed as exc:
                raise DownloadFailed(str(exc)) from exc
            progressed = _size(self.partial) > have
            if progressed:
                self.source.progressed()
                if failure is not None and failure.status is None:
                    failure = None  # a dropped connection: the same URL once more
            elif failure is None and self.total is not None and have < self.total:
                raise DownloadFailed(f"the file ended after {have} of {self.total} bytes")
            if failure is None and self.total is None:
                break  # the server did not say how big: what came is all there is
        output = output_stem.with_name(output_stem.name + _extension(self.partial, self.source.url))
        with storage.writing():
            self.partial.replace(output)
        return output

    def _fetch_from(self, have: int, stop: threading.Event) -> None:
        answer, self._first = self._first, None
        try:
            if answer is None or have:
                if answer is not None:
                    answer.abort()
                answer = fetch.open_url(
                    self.source.url, self.source.headers, range_header=f"bytes={have}-"
                )
        except FetchFailed as exc:
            if exc.status == 416 and have > 0:  # we have it all and did not know the size
                self.total = have
                return
            raise
        first, total = _position(answer)
        if first != have and not (answer.status == 200 and first == 0):
            answer.abort()
            raise DownloadFailed(f"{fetch.host(answer.url)} answered bytes {first}- for {have}-")
        if first == 0 and have > 0:
            log.info("%s ignored the Range: starting over", fetch.host(answer.url))
            self.progress.set_done(0)
        self.total = total
        self.progress.estimate(total)
        if first == 0:
            _check_media(answer)
        mode = "ab" if first else "wb"
        with storage.writing(), self.partial.open(mode) as out:
            copy_body(answer, out, throttle=self.throttle, progress=self.progress, stop=stop)


def _nothing(_: object) -> None:
    pass


def _position(answer: upstream.Upstream) -> tuple[int, int | None]:
    """(first byte, total size or None) of an answer to a Range request."""
    if answer.status == 206:
        found = fetch.content_range(answer)
        if found is None:
            answer.abort()
            raise DownloadFailed(f"{fetch.host(answer.url)} answered 206 without a Content-Range")
        return found[0], found[2]
    return 0, answer.content_length()


def _check_media(answer: upstream.Upstream) -> None:
    head = answer.read_head(1024)
    if fetch.looks_like_html(head):
        answer.abort()
        raise DownloadFailed(f"{fetch.host(answer.url)} sent an HTML page instead of media")


def _extension(partial: Path, url: str) -> str:
    with partial.open("rb") as media:
        head = media.read(16)
    for offset, magic, extension in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return extension
    if head[:1] == b"\x47":
        return ".ts"
    suffix = posixpath.splitext(urlsplit(url).path)[1].lower()
    return suffix if suffix in _KNOWN_SUFFIXES else ".mp4"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
