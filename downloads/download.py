"""The `download` job: resolve the episode, fetch its stream through catalog.egress (as
the STRM proxy does), move the file into place.

HLS goes through downloads.hls_download (segments to disk, then `ffmpeg -c copy`),
progressive files through downloads.progressive (Range resume). Both survive an expired
CDN token by re-resolving the same hoster (downloads.source). A hoster whose stream
cannot be downloaded gives way to the next one; a local disk problem does not
(downloads.storage): it fails the job at once, and downloads.tasks retries it later.

Files are written under DOWNLOAD_DIR/.partial/<job id>/ first (a job that runs again
finds its finished pieces there), then moved with one rename to
`<save path>/<release name>.<ext>`, so Sonarr never sees half a file.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from django.conf import settings

from catalog.egress import fetch, hls, upstream
from catalog.egress.fetch import FetchFailed
from catalog.streams import NoHosterWorked
from downloads import storage
from downloads.files import partial_dir
from downloads.hls_download import HlsDownload
from downloads.models import Job
from downloads.progress import Progress
from downloads.progressive import ProgressiveDownload
from downloads.source import DownloadFailed, Source
from downloads.tasks import JobContext, JobInterrupted, JobResult, register
from downloads.throttle import Throttle

log = logging.getLogger(__name__)

# Which hoster the pieces in a job's directory came from.
HOSTER_FILE = "hoster"


def safe_name(job: Job) -> str:
    """The release name as a single path component."""
    name = (
        (job.release_name or str(job.identity())).replace("/", " ").replace("\\", " ").strip(". ")
    )
    return name[:200] or str(job.pk)


def fetch_stream(source: Source, workdir: Path, stem: str, ctx: JobContext) -> Path:
    """Download `source` into `workdir`; the finished file."""
    _keep_only(workdir, source.provider)
    progress = Progress(ctx)
    throttle = Throttle(settings.CONFIG.download_rate_limit_bytes_per_sec)
    hls_run = HlsDownload(source, workdir, progress, throttle)
    progressive = ProgressiveDownload(source, workdir, progress, throttle)
    if not (hls_run.started() or progressive.started()):
        answer, head = _open_entry(source)
        if not hls.looks_like_playlist(head, answer.header("Content-Type"), answer.url):
            return progressive.run(workdir / stem, first=answer)  # reads on from the entry
        answer.abort()
    elif progressive.started():
        return progressive.run(workdir / stem)
    return hls_run.run(workdir / f"{stem}.mp4")


def _keep_only(workdir: Path, provider: str) -> None:
    """Pieces from another hoster are another encode: they cannot be continued."""
    marker = workdir / HOSTER_FILE
    with storage.writing():
        if workdir.exists() and (not marker.exists() or marker.read_text() != provider):
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        marker.write_text(provider)


def _open_entry(source: Source) -> tuple[upstream.Upstream, bytes]:
    """The stream's first answer and the head of its body (a playlist or media, to be
    told apart as the proxy does); re-resolved while the CDN refuses the URL."""
    failure: FetchFailed | None = None
    while True:
        if failure is not None:
            source.refresh(failure)
        try:
            answer = fetch.open_url(source.url, source.headers, range_header="bytes=0-")
            head = answer.read_head(hls.SNIFF_BYTES)
        except FetchFailed as exc:
            if not exc.expired:
                raise DownloadFailed(str(exc)) from exc
            failure = exc
            continue
        except upstream.BodyInterrupted as exc:
            failure = FetchFailed(str(exc), expired=True)
            continue
        if fetch.looks_like_html(head):
            answer.abort()
            raise DownloadFailed(f"{fetch.host(answer.url)} sent an HTML page instead of media")
        return answer, head


def move_into_place(source: Path, save_path: Path, name: str) -> Path:
    save_path.mkdir(parents=True, exist_ok=True)
    target = save_path / f"{name}{source.suffix}"
    source.replace(target)  # one rename: DOWNLOAD_DIR holds both, Sonarr never sees half
    return target


@register(Job.Kind.DOWNLOAD, slotted=True)
def download(job: Job, ctx: JobContext) -> JobResult:
    from catalog.resolve import resolve_stream  # the site packages load only in workers

    identity = job.identity()
    workdir = partial_dir(job.pk)
    stem = safe_name(job)
    failed: list[tuple[str, str]] = []
    try:
        while True:
            stream = resolve_stream(identity, exclude={name for name, _ in failed})
            ctx.report(
                force=True,
                provider_used=stream.provider,
                source_site=stream.site,
                message=f"downloading from {stream.provider}",
            )
            try:
                media = fetch_stream(Source(identity, stream), workdir, stem, ctx)
                break
            except DownloadFailed as exc:
                log.warning(
                    "job %s: %s failed: %s; trying the next hoster", job.pk, stream.provider, exc
                )
                failed.append((stream.provider, str(exc)))
                shutil.rmtree(workdir, ignore_errors=True)
    except NoHosterWorked as exc:
        attempts = failed + exc.attempts
        raise NoHosterWorked(str(identity), attempts) from None
    except JobInterrupted:
        if Job.objects.filter(pk=job.pk, status=Job.Status.CANCELLED).exists():
            shutil.rmtree(workdir, ignore_errors=True)  # stopped jobs keep theirs to resume
        raise
    save_path = Path(job.save_path) if job.save_path else Path(settings.CONFIG.download_dir)
    with storage.writing():
        final = move_into_place(media, save_path, stem)
    shutil.rmtree(workdir, ignore_errors=True)
    size = final.stat().st_size
    return JobResult(
        result_path=str(final),
        message=f"downloaded from {stream.provider}",
        fields={"total_bytes": size, "downloaded_bytes": size, "provider_used": stream.provider},
    )
