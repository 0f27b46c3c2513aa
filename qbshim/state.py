"""A ClientTask (and its Job) as qBittorrent 5.1's torrent JSON, the way Sonarr reads it.

Conventions copied from qBittorrent, field by field: a size not known yet is -1 (a
magnet without metadata), an ETA without an estimate is 8640000, 0 means unlimited for
dl_limit/up_limit, availability is -1 unless downloading, root_path is "" for a single
file, magnet_uri is rebuilt from hash, name and size. `priority` (the queue position)
depends on the other torrents, so qbshim.table fills it in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings

from downloads.models import Job
from qbshim.models import ClientTask
from qbshim.paths import public

UNKNOWN_ETA = 8640000  # qBittorrent's "infinity"
UNKNOWN_SIZE = -1


def qb_state(task: ClientTask) -> str:
    job = task.job
    if job is None:
        return "error"
    status = job.status
    if status == Job.Status.COMPLETED:
        return "stoppedUP"
    if status == Job.Status.FAILED:
        return "error"
    if status in (Job.Status.STOPPED, Job.Status.CANCELLED) or task.stopped:
        return "stoppedDL"
    if status == Job.Status.DOWNLOADING:
        return "downloading"
    return "queuedDL"


def content_name(task: ClientTask) -> str:
    """The file (or folder) name relative to save_path, as torrents/files reports it."""
    job = task.job
    if job is not None and job.result_path:
        return Path(job.result_path).name
    return task.name


def expected_size(job: Job | None, done: bool) -> int:
    """The download's size once anything knows it (probe, playlist, Content-Length or
    the finished file), -1 before."""
    if job is None:
        return UNKNOWN_SIZE
    if job.total_bytes and job.total_bytes > 0:
        return int(job.total_bytes)
    if done:
        return int(job.downloaded_bytes)
    return UNKNOWN_SIZE


def magnet_uri(task: ClientTask, size: int) -> str:
    """The magnet as qBittorrent rebuilds it (xt, dn, xl); the original is kept in
    ClientTask.magnet, with the episode fields only AniBridge reads."""
    uri = f"magnet:?xt=urn:btih:{task.hash}"
    if task.name != task.hash:
        uri += "&dn=" + quote(task.name, safe="")
    if size >= 0:
        uri += f"&xl={size}"
    return uri


def _epoch(value: Any) -> int:
    return int(value.timestamp()) if value else -1


def torrent_info(task: ClientTask) -> dict[str, Any]:
    job = task.job
    state = qb_state(task)
    done = state == "stoppedUP"
    size = expected_size(job, done)
    known = size >= 0
    downloaded = size if done else (job.downloaded_bytes if job else 0)
    progress = 1.0 if done else (job.progress if job else 0.0)
    speed = int(job.speed) if job and state == "downloading" else 0
    eta = job.eta if job and state == "downloading" and job.eta is not None else UNKNOWN_ETA
    save_path = public(task.save_path)
    last_activity = job.updated_at if job else task.added_on
    rate_limit = settings.CONFIG.download_rate_limit_bytes_per_sec
    return {
        "hash": task.hash,
        "infohash_v1": task.hash,
        "infohash_v2": "",
        "name": task.name,
        "magnet_uri": magnet_uri(task, size),
        "size": size,
        "total_size": size,
        "progress": round(progress, 4),
        "downloaded": downloaded,
        "downloaded_session": downloaded,
        "amount_left": max(0, size - downloaded) if known else UNKNOWN_SIZE,
        "completed": downloaded,
        "dlspeed": speed,
        "upspeed": 0,
        "uploaded": 0,
        "uploaded_session": 0,
        "eta": eta,
        "state": state,
        "category": task.category,
        "tags": task.tags,
        "save_path": save_path,
        "download_path": "",
        "content_path": public(job.result_path)
        if job and job.result_path
        else f"{save_path.rstrip('/')}/{task.name}",
        "root_path": "",  # one file, no folder: qBittorrent's rootPath() is empty then
        "added_on": _epoch(task.added_on),
        "completion_on": _epoch(task.completion_on or (job.finished_at if job and done else None)),
        "last_activity": _epoch(last_activity),
        "seen_complete": _epoch(job.finished_at) if done and job else -1,
        # Completed items report their seed limit as reached, so Sonarr's "Remove
        # Completed" moves the file and removes the item instead of copying it.
        "ratio": 0,
        "ratio_limit": 0 if done else -2,
        "max_ratio": 0 if done else -1,
        "seeding_time": 0,
        "seeding_time_limit": 0 if done else -2,
        "max_seeding_time": 0 if done else -1,
        "inactive_seeding_time_limit": -2,
        "max_inactive_seeding_time": -1,
        "time_active": 0,
        "num_seeds": 0,
        "num_leechs": 0,
        "num_complete": 0,
        "num_incomplete": 0,
        "popularity": 0,
        "priority": 0,
        "force_start": False,
        "seq_dl": False,
        "f_l_piece_prio": False,
        "super_seeding": False,
        "auto_tmm": False,
        "has_metadata": known,
        "private": False if known else None,
        "comment": "",
        # The hoster holds one whole copy while we download; otherwise not applicable.
        "availability": 1 if state == "downloading" else -1,
        "dl_limit": rate_limit,
        "up_limit": 0,
        "tracker": "",
        "trackers_count": 0,
        "reannounce": 0,
        "anibridge_message": job.message if job else "",
    }
