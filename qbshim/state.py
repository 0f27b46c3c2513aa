"""A ClientTask (and its Job) as qBittorrent's torrent JSON, the way Sonarr reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from downloads.models import Job
from qbshim.models import ClientTask
from qbshim.paths import public

UNKNOWN_ETA = 8640000  # qBittorrent's "infinity"


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


def _epoch(value: Any) -> int:
    return int(value.timestamp()) if value else -1


def torrent_info(task: ClientTask) -> dict[str, Any]:
    job = task.job
    state = qb_state(task)
    done = state == "stoppedUP"
    progress = 1.0 if done else (job.progress if job else 0.0)
    total = (job.total_bytes or job.downloaded_bytes) if job else 0
    downloaded = total if done else (job.downloaded_bytes if job else 0)
    speed = int(job.speed) if job and state == "downloading" else 0
    eta = (
        0
        if done
        else (job.eta if job and job.eta is not None and state == "downloading" else UNKNOWN_ETA)
    )
    save_path = public(task.save_path)
    last_activity = job.updated_at if job else task.added_on
    return {
        "hash": task.hash,
        "infohash_v1": task.hash,
        "infohash_v2": "",
        "name": task.name,
        "magnet_uri": task.magnet,
        "size": total or 0,
        "total_size": total or 0,
        "progress": round(progress, 4),
        "downloaded": downloaded or 0,
        "downloaded_session": downloaded or 0,
        "amount_left": max(0, (total or 0) - (downloaded or 0)),
        "completed": downloaded or 0,
        "dlspeed": speed,
        "upspeed": 0,
        "uploaded": 0,
        "eta": eta,
        "state": state,
        "category": task.category,
        "tags": task.tags,
        "save_path": save_path,
        "download_path": "",
        "content_path": public(job.result_path)
        if job and job.result_path
        else f"{save_path.rstrip('/')}/{task.name}",
        "root_path": public(job.result_path) if job and job.result_path else "",
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
        "priority": 0,
        "force_start": False,
        "seq_dl": False,
        "f_l_piece_prio": False,
        "super_seeding": False,
        "auto_tmm": False,
        "private": False,
        "availability": 1 if done else -1,
        "dl_limit": -1,
        "up_limit": -1,
        "tracker": "",
        "trackers_count": 0,
        "reannounce": 0,
        "anibridge_message": job.message if job else "",
    }
