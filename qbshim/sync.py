"""sync/maindata as qBittorrent 5.1 answers it, shared by every web process.

Every answer gets a new `rid` (a counter in Redis). What the client was sent under that
rid (the table revision, categories, tags, server_state; about 1 KB) is kept in Redis
for 5 minutes, which bounds the memory a fast poller can take. A client that sends the
rid back gets a delta: the torrents changed since, with only their changed fields
(qbshim.versions when another process built that revision), the removed ones
(RemovedTask), and only the changed categories, tags and server_state keys. rid 0, an
unknown or expired rid, or one given out while Redis was down gets a full update. Redis
hands out even rids; without Redis a process hands out odd ones, which can never match
a stored answer.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from typing import Any

from qbshim.models import Category, RemovedTask
from qbshim.paths import download_root, public
from qbshim.table import TABLE, Snapshot
from qbshim.versions import VERSIONS

log = logging.getLogger(__name__)

RID_COUNTER = "anibridge:qb:maindata:rid"
ANSWER = "anibridge:qb:maindata:answer:"
ANSWER_TTL = 5 * 60


def server_state(snap: Snapshot) -> dict[str, Any]:
    """The keys qBittorrent 5.1 sends; what has no meaning here has its idle value."""
    try:
        free = shutil.disk_usage(download_root()).free
    except OSError:
        free = 0
    downloaded = snap.total("downloaded")
    return {
        "alltime_dl": downloaded,
        "alltime_ul": 0,
        "average_time_queue": 0,
        "connection_status": "connected",
        "dht_nodes": 0,
        "dl_info_data": downloaded,
        "dl_info_speed": snap.total("dlspeed"),
        "dl_rate_limit": 0,
        "free_space_on_disk": free,
        "global_ratio": "-",  # qBittorrent's text when nothing was uploaded
        "last_external_address_v4": "",
        "last_external_address_v6": "",
        "queued_io_jobs": 0,
        "queueing": True,
        "read_cache_hits": "0",
        "read_cache_overload": "0",
        "refresh_interval": 1500,
        "total_buffers_size": 0,
        "total_peer_connections": 0,
        "total_queued_size": 0,
        "total_wasted_session": 0,
        "up_info_data": 0,
        "up_info_speed": 0,
        "up_rate_limit": 0,
        "use_alt_speed_limits": False,
        "use_subcategories": False,
        "write_cache_overload": "0",
    }


def categories() -> dict[str, dict[str, str]]:
    return {
        c.name: {"name": c.name, "savePath": public(c.save_path) if c.save_path else ""}
        for c in Category.objects.all()
    }


class _Rids:
    """Odd rids for answers given while Redis is down, rising within this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 1

    def seen(self, rid: int) -> None:
        with self._lock:
            self._last = max(self._last, rid + 1)

    def fallback(self) -> int:
        with self._lock:
            self._last += 2
            return self._last


_RIDS = _Rids()


def _redis() -> Any:
    from anibridge_site.redis_client import get_redis

    return get_redis()


# One round trip per answer: take the next rid, store this answer under it, and read
# the answer the client's rid stands for (when it is one Redis handed out).
_EXCHANGE = """
local rid = redis.call('INCRBY', KEYS[1], 2)
redis.call('SET', KEYS[2] .. rid, ARGV[2], 'EX', ARGV[3])
local previous = false
if ARGV[1] ~= '' then previous = redis.call('GET', KEYS[2] .. ARGV[1]) end
return {rid, previous}
"""


def _exchange(rid: int, answer: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
    """(this answer's rid, what the client's `rid` was sent) — (odd rid, None) without Redis."""
    # 0: a full update asked for; odd: handed out without Redis, never stored.
    wanted = str(rid) if rid > 0 and rid % 2 == 0 else ""
    try:
        script = _redis().register_script(_EXCHANGE)
        new_rid, raw = script(
            keys=[RID_COUNTER, ANSWER], args=[wanted, json.dumps(answer), ANSWER_TTL]
        )
    except Exception as exc:  # Redis down: this answer cannot be the base of a delta
        log.warning("sync/maindata cannot reach Redis for its rid: %s", exc)
        return _RIDS.fallback(), None
    _RIDS.seen(int(new_rid))
    return int(new_rid), (json.loads(raw) if raw else None)


def _fields(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """What the client must merge to get from `old` to `new` (qBittorrent's processMap)."""
    if old is None:
        return new
    return {k: v for k, v in new.items() if k not in old or old[k] != v}


def _bases(snap: Snapshot, hashes: list[str], rev: int) -> dict[str, dict[str, Any]]:
    """The changed torrents as the client has them (at revision `rev`), where known."""
    before = TABLE.at(rev)
    if before is not None:  # this process built that revision itself
        return {h: before.items[h] for h in hashes if h in before.items}
    found = VERSIONS.at(hashes, rev)
    # A version older than a removal is of a torrent the client was told is gone.
    removals = RemovedTask.objects.filter(hash__in=list(found), rev__lte=rev)
    for h, removed_at in removals.values_list("hash", "rev"):
        if h in found and found[h][0] < removed_at:
            del found[h]
    return {h: item for h, (_, item) in found.items()}


def _changed(snap: Snapshot, rev: int) -> dict[str, dict[str, Any]]:
    hashes = [h for h in snap.order if snap.revs[h] > rev]
    bases = _bases(snap, hashes, rev)
    changed = {}
    for h in hashes:
        fields = _fields(bases.get(h), snap.items[h])
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
    VERSIONS.publish(snap)
    cats = categories()
    tags = list(snap.tags)
    state = server_state(snap)
    answer = {"rev": snap.rev, "categories": cats, "tags": tags, "server_state": state}
    new_rid, previous = _exchange(rid, answer)
    if previous is not None and previous["rev"] > snap.rev:
        previous = None  # the revision counter went back (database restored): start over
    if previous is None:
        return {
            "rid": new_rid,
            "full_update": True,
            "categories": cats,
            "tags": tags,
            "trackers": {},  # our magnets name no tracker; DHT is not listed here either
            "server_state": state,
        }, snap
    return _delta(new_rid, previous, snap, cats, tags, state), snap


def _delta(
    rid: int,
    previous: dict[str, Any],
    snap: Snapshot,
    cats: dict[str, dict[str, str]],
    tags: list[str],
    state: dict[str, Any],
) -> dict[str, Any]:
    body: dict[str, Any] = {"rid": rid}
    base = previous["rev"]
    changed = _changed(snap, base)
    if changed:
        body["torrents"] = changed
    removed = sorted(
        set(RemovedTask.objects.filter(rev__gt=base).values_list("hash", flat=True))
        - set(snap.items)
    )
    if removed:
        body["torrents_removed"] = removed
    old_cats = previous["categories"]
    new_cats = {k: _fields(old_cats.get(k), v) for k, v in cats.items() if old_cats.get(k) != v}
    if new_cats:
        body["categories"] = new_cats
    gone = sorted(set(old_cats) - set(cats))
    if gone:
        body["categories_removed"] = gone
    if set(tags) - set(previous["tags"]):
        body["tags"] = sorted(set(tags) - set(previous["tags"]))
    if set(previous["tags"]) - set(tags):
        body["tags_removed"] = sorted(set(previous["tags"]) - set(tags))
    server = _fields(previous["server_state"], state)
    if server:
        body["server_state"] = server
    return body


def current_server_state() -> dict[str, Any]:
    return server_state(TABLE.snapshot())
