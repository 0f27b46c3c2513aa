"""sync/maindata with real `rid` deltas.

The rid is the change counter the database triggers keep (qbshim.table) plus one, so
it is never 0. A client that sends rid N gets the torrents whose revision is >= N, the
ones removed since (RemovedTask, written by a trigger) and category/tag changes (the
small category/tag state of each rid is kept in Redis). An unknown rid (0, expired,
lost with a Redis restart) gets a full update.
"""

from __future__ import annotations

import json
import logging
import shutil
from typing import Any

from django.core.cache import cache

from qbshim.models import Category, RemovedTask
from qbshim.paths import download_root, public
from qbshim.table import TABLE, Snapshot

log = logging.getLogger(__name__)

SNAPSHOT_TTL = 30 * 60


def server_state(snap: Snapshot) -> dict[str, Any]:
    try:
        free = shutil.disk_usage(download_root()).free
    except OSError:
        free = 0
    return {
        "connection_status": "connected",
        "dht_nodes": 0,
        "dl_info_data": snap.total("downloaded"),
        "dl_info_speed": snap.total("dlspeed"),
        "dl_rate_limit": 0,
        "up_info_data": 0,
        "up_info_speed": 0,
        "up_rate_limit": 0,
        "free_space_on_disk": free,
        "queueing": True,
        "use_alt_speed_limits": False,
        "refresh_interval": 1500,
    }


def categories() -> dict[str, dict[str, str]]:
    return {
        c.name: {"name": c.name, "savePath": public(c.save_path) if c.save_path else ""}
        for c in Category.objects.all()
    }


def _remember(snap: Snapshot, cats: dict[str, Any], tags: list[str]) -> None:
    """Store what this answer's rid looked like, for the client's next delta."""
    try:
        cache.set(
            f"qb:maindata:{snap.rev + 1}",
            {"categories": cats, "tags": tags},
            SNAPSHOT_TTL,
        )
    except Exception as exc:  # Redis down: every answer becomes a full update
        log.warning("sync/maindata cannot store its snapshot in Redis: %s", exc)


def _previous(rid: int) -> dict[str, Any] | None:
    try:
        value = cache.get(f"qb:maindata:{rid}")
    except Exception as exc:
        log.warning("sync/maindata cannot read snapshot %d from Redis: %s", rid, exc)
        return None
    return value if isinstance(value, dict) else None


def _changed(snap: Snapshot, rid: int) -> dict[str, dict[str, Any]]:
    """Torrents changed since `rid`: only their changed fields when this process still
    has that snapshot, else whole objects (clients merge either)."""
    before = TABLE.at(rid - 1)
    changed: dict[str, dict[str, Any]] = {}
    for h in snap.order:
        if snap.revs[h] < rid:
            continue
        old = before.items.get(h) if before is not None else None
        new = snap.items[h]
        fields = new if old is None else {k: v for k, v in new.items() if old.get(k) != v}
        if fields:
            changed[h] = fields
    return changed


def encode(body: dict[str, Any], snap: Snapshot) -> list[bytes]:
    """A maindata answer's JSON, in parts. A full update's torrents are the same bytes
    for every request at this revision: rendered once, and not copied per request."""
    head = json.dumps(body, separators=(",", ":")).encode()
    if not body.get("full_update"):
        return [head]
    torrents = TABLE.body(snap, "maindata-torrents", lambda: _torrents_object(snap))
    return [head[:-1], b',"torrents":', torrents, b"}"]


def _torrents_object(snap: Snapshot) -> bytes:
    """{hash: torrent, ...} from each torrent's pre-rendered JSON, copied once."""
    parts = [b"{"]
    for i, h in enumerate(snap.order):
        parts += (b'%s"%s":' % (b"," if i else b"", h.encode()), snap.encoded[h])
    parts.append(b"}")
    return b"".join(parts)


def maindata(rid: int) -> tuple[dict[str, Any], Snapshot]:
    """The answer (a full update's torrents are added by encode()) and its snapshot."""
    snap = TABLE.snapshot()
    cats = categories()
    tags = list(snap.tags)
    new_rid = snap.rev + 1
    previous = _previous(rid) if 0 < rid <= new_rid else None
    _remember(snap, cats, tags)
    state = server_state(snap)
    if previous is None:
        return {
            "rid": new_rid,
            "full_update": True,
            "categories": cats,
            "tags": tags,
            "server_state": state,
        }, snap
    body: dict[str, Any] = {"rid": new_rid, "server_state": state}
    changed = _changed(snap, rid)
    if changed:
        body["torrents"] = changed
    removed = sorted(
        set(RemovedTask.objects.filter(rev__gte=rid).values_list("hash", flat=True))
        - set(snap.items)
    )
    if removed:
        body["torrents_removed"] = removed
    new_cats = {k: v for k, v in cats.items() if previous["categories"].get(k) != v}
    if new_cats:
        body["categories"] = new_cats
    gone = sorted(set(previous["categories"]) - set(cats))
    if gone:
        body["categories_removed"] = gone
    if set(tags) - set(previous["tags"]):
        body["tags"] = sorted(set(tags) - set(previous["tags"]))
    if set(previous["tags"]) - set(tags):
        body["tags_removed"] = sorted(set(previous["tags"]) - set(tags))
    return body, snap


def current_server_state() -> dict[str, Any]:
    return server_state(TABLE.snapshot())
