"""Every torrent's qB JSON, kept per process and refreshed by change revision.

Database triggers give each ClientTask a `rev` from a shared counter whenever the
task or its job changes. A request reads the counter (one row); when it moved, only
rows with a newer `rev` are read and re-rendered. Sonarr, Radarr and Prowlarr poll
every minute; with thousands of torrents that is the difference between reading one
row and reading them all.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from qbshim.models import ChangeCounter, ClientTask, RemovedTask
from qbshim.state import torrent_info

HISTORY = 32


@dataclass(frozen=True)
class Snapshot:
    """The torrents at revision `rev`, in qBittorrent's order (added, then hash)."""

    rev: int
    order: tuple[str, ...] = ()
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    encoded: dict[str, bytes] = field(default_factory=dict)
    revs: dict[str, int] = field(default_factory=dict)


def current_revision() -> int:
    value = ChangeCounter.objects.filter(pk=1).values_list("value", flat=True).first()
    return int(value or 0)


class TorrentTable:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot = Snapshot(rev=-1)
        self._config: object = None
        # Recent snapshots share their unchanged rows, so keeping a few is cheap; they
        # let sync/maindata send only the fields that changed, as qBittorrent does.
        self._history: OrderedDict[int, Snapshot] = OrderedDict()

    def snapshot(self) -> Snapshot:
        with self._lock:
            if settings.CONFIG is not self._config:  # paths in the JSON depend on it
                self._snapshot, self._config = Snapshot(rev=-1), settings.CONFIG
            rev = current_revision()
            if rev != self._snapshot.rev:
                self._snapshot = self._refreshed(rev)
                self._history[rev] = self._snapshot
                while len(self._history) > HISTORY:
                    self._history.popitem(last=False)
            return self._snapshot

    def at(self, rev: int) -> Snapshot | None:
        """An earlier snapshot this process still holds, if any."""
        with self._lock:
            return self._history.get(rev)

    def clear(self) -> None:
        """Forget everything (tests roll transactions back, so revisions repeat there)."""
        with self._lock:
            self._snapshot = Snapshot(rev=-1)
            self._history.clear()

    def _refreshed(self, rev: int) -> Snapshot:
        old = self._snapshot
        if old.rev < 0 or rev < old.rev:  # first use, or the counter was reset
            return self._built(rev, ClientTask.objects.select_related("job"), Snapshot(rev=-1))
        changed = ClientTask.objects.select_related("job").filter(rev__gt=old.rev)
        removed = set(RemovedTask.objects.filter(rev__gt=old.rev).values_list("hash", flat=True))
        return self._built(rev, changed, old, removed)

    def _built(
        self, rev: int, rows: Iterable[ClientTask], old: Snapshot, removed: Collection[str] = ()
    ) -> Snapshot:
        items = {h: v for h, v in old.items.items() if h not in removed}
        encoded = {h: v for h, v in old.encoded.items() if h not in removed}
        revs = {h: v for h, v in old.revs.items() if h not in removed}
        members_changed = bool(removed)
        for task in rows:
            info = torrent_info(task)
            members_changed = members_changed or task.hash not in items
            items[task.hash] = info
            encoded[task.hash] = json.dumps(info, separators=(",", ":")).encode()
            revs[task.hash] = task.rev
        order = old.order
        if members_changed:
            order = tuple(sorted(items, key=lambda h: (items[h]["added_on"], h)))
        return Snapshot(rev=rev, order=order, items=items, encoded=encoded, revs=revs)


TABLE = TorrentTable()
