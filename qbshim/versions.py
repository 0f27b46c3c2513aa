"""Recent versions of each torrent's JSON in Redis, so any web process can tell which
fields changed since a client's sync/maindata rid, also when another process served it.

Each process keeps the snapshots it built itself (qbshim.table), which covers a client
that keeps polling the same process. A client whose rid came from another process (a
new connection, another gunicorn worker) needs the torrent as that process sent it:
the version with the highest revision at or below the rid's revision. Versions are
published when a process answers sync/maindata, so a setup that only polls
torrents/info (Sonarr, Radarr) never writes them. Without Redis, or for a version
that expired, the delta carries the whole torrent, which clients merge just the same.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qbshim.table import Snapshot

log = logging.getLogger(__name__)

PREFIX = "anibridge:qb:versions:"
KEEP = 16  # versions per torrent: a client more than 16 changes behind gets the whole torrent
TTL = 30 * 60  # longer than a rid is remembered (qbshim.sync), for rows that rarely change


# One call stores a batch: per row ZADD, trim to KEEP, refresh the TTL. A process's
# first publish has every torrent (5,000 rows, ~7 MB); one command per row was ~1 s of
# client-side packing, this is one command per CHUNK rows.
_PUBLISH = """
local keep, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 3, #ARGV, 3 do
  local key = KEYS[1] .. ARGV[i]
  redis.call('ZADD', key, ARGV[i + 1], ARGV[i + 2])
  redis.call('ZREMRANGEBYRANK', key, 0, -keep - 1)
  redis.call('EXPIRE', key, ttl)
end
return 0
"""
CHUNK = 500


class VersionStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._published = -1  # rows with a revision above this are not in Redis yet

    def reset(self) -> None:
        with self._lock:
            self._published = -1

    def publish(self, snap: Snapshot) -> None:
        """Put every row changed since the last publish into Redis."""
        from anibridge_site.redis_client import get_redis

        with self._lock:
            if self._published == snap.rev:
                return  # the usual poll: nothing changed since the last one
            since = self._published if self._published <= snap.rev else -1
            self._published = snap.rev  # also when Redis fails: never retry 5,000 rows per poll
        fresh = [h for h in snap.order if snap.revs[h] > since]
        if not fresh:
            return
        try:
            script = get_redis().register_script(_PUBLISH)
            for start in range(0, len(fresh), CHUNK):
                args: list[Any] = [KEEP, TTL]
                for h in fresh[start : start + CHUNK]:
                    args += (h, snap.revs[h], snap.encoded[h])
                script(keys=[PREFIX], args=args)
        except Exception as exc:  # Redis down: deltas from other processes send whole torrents
            log.warning("sync/maindata cannot keep torrent versions in Redis: %s", exc)

    def at(self, hashes: Iterable[str], rev: int) -> dict[str, tuple[int, dict[str, Any]]]:
        """{hash: (its revision, the torrent)} as of revision `rev`, for those known."""
        from anibridge_site.redis_client import get_redis

        wanted = list(hashes)
        if not wanted:
            return {}
        try:
            pipe = get_redis().pipeline(transaction=False)
            for h in wanted:
                pipe.zrevrangebyscore(PREFIX + h, rev, "-inf", start=0, num=1, withscores=True)
            answers = pipe.execute()
        except Exception as exc:
            log.warning("sync/maindata cannot read torrent versions from Redis: %s", exc)
            return {}
        found = {}
        for h, answer in zip(wanted, answers, strict=True):
            if answer:
                member, score = answer[0]
                found[h] = (int(score), json.loads(member))
        return found


VERSIONS = VersionStore()
