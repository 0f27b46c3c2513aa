"""sync/maindata with real `rid` deltas.

Every answer is stored as a snapshot under a new rid (a Redis counter, shared by all
web processes). A client that sends a rid we still hold gets only what changed since;
any other rid (0, expired, lost with a Redis restart) gets a full update.
"""

from __future__ import annotations

import logging
import shutil
from typing import Any

from django.core.cache import cache

from qbshim.models import Category, ClientTask
from qbshim.paths import download_root, public
from qbshim.state import torrent_info

log = logging.getLogger(__name__)

SNAPSHOT_TTL = 15 * 60
_RID_KEY = "qb:maindata:rid"


def server_state(torrents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    speed = sum(t["dlspeed"] for t in torrents.values())
    downloaded = sum(t["downloaded"] for t in torrents.values())
    try:
        free = shutil.disk_usage(download_root()).free
    except OSError:
        free = 0
    return {
        "connection_status": "connected",
        "dht_nodes": 0,
        "dl_info_data": downloaded,
        "dl_info_speed": speed,
        "dl_rate_limit": 0,
        "up_info_data": 0,
        "up_info_speed": 0,
        "up_rate_limit": 0,
        "free_space_on_disk": free,
        "queueing": True,
        "use_alt_speed_limits": False,
        "refresh_interval": 1500,
    }


def current_server_state() -> dict[str, Any]:
    return server_state({t.hash: torrent_info(t) for t in ClientTask.objects.select_related("job")})


def _current() -> dict[str, Any]:
    torrents = {t.hash: torrent_info(t) for t in ClientTask.objects.select_related("job")}
    categories = {
        c.name: {"name": c.name, "savePath": public(c.save_path) if c.save_path else ""}
        for c in Category.objects.all()
    }
    tags = sorted({tag for t in torrents.values() for tag in t["tags"].split(", ") if tag})
    return {
        "torrents": torrents,
        "categories": categories,
        "tags": tags,
        "server_state": server_state(torrents),
    }


def _diff_map(
    old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    changed: dict[str, dict[str, Any]] = {}
    for key, value in new.items():
        before = old.get(key)
        if before is None:
            changed[key] = value
            continue
        fields = {k: v for k, v in value.items() if before.get(k) != v}
        if fields:
            changed[key] = fields
    return changed


def maindata(rid: int) -> dict[str, Any]:
    current = _current()
    previous = None
    new_rid = 0
    try:
        previous = cache.get(f"qb:maindata:{rid}") if rid > 0 else None
        new_rid = _next_rid()
        cache.set(f"qb:maindata:{new_rid}", current, SNAPSHOT_TTL)
    except Exception as exc:  # Redis down: a full update every time still works
        log.warning("sync/maindata without Redis, answering with a full update: %s", exc)
        previous, new_rid = None, 0
    if previous is None:
        return {"rid": new_rid, "full_update": True, **current}
    body: dict[str, Any] = {"rid": new_rid}
    torrents = _diff_map(previous["torrents"], current["torrents"])
    if torrents:
        body["torrents"] = torrents
    removed = sorted(set(previous["torrents"]) - set(current["torrents"]))
    if removed:
        body["torrents_removed"] = removed
    categories = _diff_map(previous["categories"], current["categories"])
    if categories:
        body["categories"] = categories
    gone = sorted(set(previous["categories"]) - set(current["categories"]))
    if gone:
        body["categories_removed"] = gone
    if current["tags"] != previous["tags"]:
        body["tags"] = sorted(set(current["tags"]) - set(previous["tags"]))
        if set(previous["tags"]) - set(current["tags"]):
            body["tags_removed"] = sorted(set(previous["tags"]) - set(current["tags"]))
    state = {
        k: v for k, v in current["server_state"].items() if previous["server_state"].get(k) != v
    }
    if state:
        body["server_state"] = state
    return body


def _next_rid() -> int:
    cache.add(_RID_KEY, 0, timeout=None)
    return int(cache.incr(_RID_KEY))
