"""The `download` job: resolve the episode, fetch it with yt-dlp, move it into place.

Files are written under DOWNLOAD_DIR/.partial/<job id>/ first (a redelivered job
finds its partial data there and yt-dlp continues it), then moved with one rename to
`<save path>/<release name>.<ext>`, so Sonarr never sees half a file.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings

from catalog.egress import proxies
from catalog.streams import NoHosterWorked, ResolvedStream
from downloads.files import partial_dir
from downloads.models import Job
from downloads.tasks import JobContext, JobInterrupted, JobResult, register

log = logging.getLogger(__name__)

MEDIA_SUFFIXES = (".mp4", ".mkv", ".webm", ".ts", ".m4v", ".mov")


class DownloadFailed(Exception):
    """yt-dlp could not fetch a resolved stream."""


def safe_name(job: Job) -> str:
    """The release name as a single path component."""
    name = (
        (job.release_name or str(job.identity())).replace("/", " ").replace("\\", " ").strip(". ")
    )
    return name[:200] or str(job.pk)


def _progress_hook(ctx: JobContext) -> Any:
    def hook(status: dict[str, Any]) -> None:
        if status.get("status") != "downloading":
            ctx.check()
            return
        done = int(status.get("downloaded_bytes") or 0)
        total = status.get("total_bytes") or status.get("total_bytes_estimate")
        fragments = status.get("fragment_count")
        if total:
            progress = min(done / float(total), 0.999)
        elif fragments:
            progress = min((status.get("fragment_index") or 0) / float(fragments), 0.999)
        else:
            progress = 0.0
        ctx.report(
            progress=round(progress, 4),
            downloaded_bytes=done,
            total_bytes=int(total) if total else None,
            speed=float(status.get("speed") or 0.0),
            eta=int(status["eta"]) if status.get("eta") is not None else None,
        )

    return hook


def _ytdlp_options(
    workdir: Path, stem: str, stream: ResolvedStream, ctx: JobContext
) -> dict[str, Any]:
    cfg = settings.CONFIG
    options: dict[str, Any] = {
        "outtmpl": str(workdir / f"{stem}.%(ext)s"),
        "http_headers": dict(stream.headers),
        "proxy": proxies.ytdlp_proxy(stream.url),
        "progress_hooks": [_progress_hook(ctx)],
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "noplaylist": True,
        "continuedl": True,
        "retries": 3,
        "fragment_retries": 5,
        "socket_timeout": 30,
        "concurrent_fragment_downloads": 4,
        "merge_output_format": "mp4",
        "logger": log,
    }
    if cfg.download_rate_limit_bytes_per_sec:
        options["ratelimit"] = cfg.download_rate_limit_bytes_per_sec
    return options


def fetch(stream: ResolvedStream, workdir: Path, stem: str, ctx: JobContext) -> Path:
    """Download `stream` into `workdir`; return the finished file."""
    import yt_dlp

    workdir.mkdir(parents=True, exist_ok=True)
    try:
        with yt_dlp.YoutubeDL(_ytdlp_options(workdir, stem, stream, ctx)) as ydl:
            ydl.download([stream.url])
    except JobInterrupted:
        raise
    except Exception as exc:
        if ctx.interrupted.is_set():
            raise JobInterrupted(ctx.job_id) from exc
        raise DownloadFailed(
            str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else repr(exc)
        ) from exc
    ctx.check()
    finished = [
        p
        for p in workdir.iterdir()
        if p.is_file() and p.suffix in MEDIA_SUFFIXES and p.stem == stem
    ]
    if not finished:
        raise DownloadFailed(f"yt-dlp finished but left no media file in {workdir}")
    return max(finished, key=lambda p: p.stat().st_size)


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
                media = fetch(stream, workdir, stem, ctx)
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
    final = move_into_place(media, save_path, stem)
    shutil.rmtree(workdir, ignore_errors=True)
    size = final.stat().st_size
    return JobResult(
        result_path=str(final),
        message=f"downloaded from {stream.provider}",
        fields={"total_bytes": size, "downloaded_bytes": size, "provider_used": stream.provider},
    )
