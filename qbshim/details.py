"""The JSON of qBittorrent's per-torrent detail calls: properties, files and trackers."""

from __future__ import annotations

from typing import Any

from qbshim.models import ClientTask
from qbshim.state import content_name, torrent_info

# qBittorrent's tracker status codes (TrackerEndpointState): 0 disabled, 2 working.
TRACKER_DISABLED = 0
TRACKER_WORKING = 2
# The pseudo-trackers qBittorrent always lists first, and whether app/preferences
# reports each as enabled (dht true, pex and lsd false).
STICKY_TRACKERS = (("** [DHT] **", True), ("** [PeX] **", False), ("** [LSD] **", False))


def trackers() -> list[dict[str, Any]]:
    """torrents/trackers: the DHT, PeX and LSD rows (status 2 when enabled, as
    qBittorrent 5.1 gives them); our magnets name no real tracker."""
    return [
        {
            "url": url,
            "status": TRACKER_WORKING if enabled else TRACKER_DISABLED,
            "tier": -1,
            "num_peers": 0,
            "num_seeds": 0,
            "num_leeches": 0,
            "num_downloaded": 0,
            "msg": "",
        }
        for url, enabled in STICKY_TRACKERS
    ]


def files(task: ClientTask) -> list[dict[str, Any]]:
    """torrents/files: one file; none before its size is known (no metadata yet)."""
    info = torrent_info(task)
    if not info["has_metadata"]:
        return []
    done = info["state"] == "stoppedUP"
    return [
        {
            "index": 0,
            "name": content_name(task),
            "size": info["size"],
            "progress": info["progress"],
            "priority": 1,
            "is_seed": done,
            "piece_range": [0, 0],
            "availability": 1 if done else info["availability"],
        }
    ]


def properties(task: ClientTask) -> dict[str, Any]:
    info = torrent_info(task)
    known = info["has_metadata"]
    return {
        "hash": task.hash,
        "infohash_v1": task.hash,
        "infohash_v2": "",
        "name": task.name,
        "save_path": info["save_path"],
        "download_path": "",
        "creation_date": info["added_on"],
        "addition_date": info["added_on"],
        "completion_date": info["completion_on"],
        "comment": info["comment"],
        "created_by": "AniBridge",
        "is_private": False,
        "private": info["private"],
        "has_metadata": known,
        "progress": info["progress"],
        "piece_size": info["size"] if known else -1,
        "pieces_have": 1 if info["state"] == "stoppedUP" else 0,
        "pieces_num": 1 if known else -1,
        "total_size": info["total_size"],
        "total_downloaded": info["downloaded"],
        "total_downloaded_session": info["downloaded"],
        "total_uploaded": 0,
        "total_uploaded_session": 0,
        "total_wasted": 0,
        "dl_speed": info["dlspeed"],
        "dl_speed_avg": info["dlspeed"],
        "up_speed": 0,
        "up_speed_avg": 0,
        # Here qBittorrent reports "unlimited" as -1, unlike torrents/info's 0.
        "dl_limit": info["dl_limit"] or -1,
        "up_limit": -1,
        "eta": info["eta"],
        "time_elapsed": 0,
        "seeding_time": 0,
        "share_ratio": 0,
        "nb_connections": 0,
        "nb_connections_limit": 0,
        "peers": 0,
        "peers_total": 0,
        "seeds": 0,
        "seeds_total": 0,
        "reannounce": 0,
        "last_seen": info["seen_complete"],
        "popularity": 0,
    }
