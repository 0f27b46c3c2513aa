"""Every torrent's qB JSON, kept per process and refreshed by change revision.

Database triggers give each ClientTask a `rev` from a shared counter whenever the
task or its job changes. A request reads the counter (one row); when it moved, only
rows with a newer `rev` are read and re-rendered. Sonarr, Radarr and Prowlarr poll
every minute; with thousands of torrents that is the difference between reading one
row and reading them all.

Whole answers are kept too, for the current revision only: a poll that finds nothing
changed gets the bytes the previous poll got, without filtering or joining megabytes.

`priority` is qBittorrent's queue position: 1, 2, ... for unfinished torrents in the
order they were added, 0 for finished ones. It depends on other rows, so it is filled
in here, and a row whose position moved counts as changed at this revision.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.conf import settings

from catalog import memo
from qbshim.models import ChangeCounter, ClientTask, RemovedTask
from qbshim.state import torrent_info
from qbshim.versions import VERSIONS

HISTORY = 32
# Rendered answers kept per process; with 5,000 torrents one answer is about 7 MB.
BODY_BUDGET = 32 * 1024 * 1024


@dataclass(frozen=True)
class Snapshot:
    """The torrents at revision `rev`, in qBittorrent's order (added, then hash)."""

    rev: int
    order: tuple[str, ...] = ()
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    encoded: dict[str, bytes] = field(default_factory=dict)
    revs: dict[str, int] = field(default_factory=dict)
    positions: dict[str, int] = field(default_factory=dict)
    added: dict[str, float] = field(default_factory=dict)  # added_on to the microsecond
    _totals: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    @cached_property
    def tags(self) -> tuple[str, ...]:
        """Every tag some torrent carries, sorted."""
        names = {tag for t in self.items.values() for tag in t["tags"].split(", ") if tag}
        return tuple(sorted(names))

    def total(self, name: str) -> int:
        """The sum of one numeric field over all torrents."""
        if name not in self._totals:
            self._totals[name] = sum(t[name] for t in self.items.values())
        return self._totals[name]


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
        # Answers rendered from the current snapshot, most recently used last.
        self._bodies_of: Snapshot | None = None
        self._bodies: OrderedDict[Hashable, bytes] = OrderedDict()

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

    def body(self, snap: Snapshot, key: Hashable, render: Callable[[], bytes]) -> bytes:
        """`render()`, reused while `snap` is the current snapshot.

        Bodies rendered from an older snapshot are never stored, and a new snapshot
        starts with none, so no answer is older than the revision its request read.
        """
        with self._lock:
            if self._bodies_of is snap and key in self._bodies:
                self._bodies.move_to_end(key)
                return self._bodies[key]
        rendered = render()
        with self._lock:
            if snap is self._snapshot:
                if self._bodies_of is not snap:
                    self._bodies_of, self._bodies = snap, OrderedDict()
                self._bodies[key] = rendered
                self._trim_bodies()
        return rendered

    def _trim_bodies(self) -> None:
        size = sum(len(b) for b in self._bodies.values())
        while size > BODY_BUDGET and len(self._bodies) > 1:
            _, dropped = self._bodies.popitem(last=False)
            size -= len(dropped)

    def clear(self) -> None:
        """Forget everything (tests roll transactions back, so revisions repeat there)."""
        with self._lock:
            self._snapshot = Snapshot(rev=-1)
            self._history.clear()
            self._bodies_of, self._bodies = None, OrderedDict()
        VERSIONS.reset()

    def _refreshed(self, rev: int) -> Snapshot:
        old = self._snapshot
        if old.rev < 0 or rev < old.rev:  # first use, or the counter was reset
            return self._built(rev, ClientTask.objects.select_related("job"), Snapshot(rev=-1))
        # No ORDER BY: the model's ordering would make SQLite walk the added_on index
        # through every row instead of looking up the few changed ones by rev.
        changed = ClientTask.objects.select_related("job").filter(rev__gt=old.rev).order_by()
        removed = set(RemovedTask.objects.filter(rev__gt=old.rev).values_list("hash", flat=True))
        return self._built(rev, changed, old, removed)

    def _built(
        self, rev: int, rows: Iterable[ClientTask], old: Snapshot, removed: Collection[str] = ()
    ) -> Snapshot:
        items, encoded, revs = old.items.copy(), old.encoded.copy(), old.revs.copy()
        added = old.added.copy()
        for h in removed:
            for table in (items, encoded, revs, added):
                table.pop(h, None)
        members_changed = bool(removed)
        queue_changed = False
        rendered: list[str] = []
        for task in rows:
            info = torrent_info(task)
            before = items.get(task.hash)
            members_changed = members_changed or before is None
            queue_changed = queue_changed or (
                before is not None and _finished(before) != _finished(info)
            )
            items[task.hash] = info
            revs[task.hash] = task.rev
            added[task.hash] = task.added_on.timestamp()
            rendered.append(task.hash)
        order = old.order
        if members_changed:
            order = tuple(sorted(items, key=lambda h: (added[h], h)))
        positions = old.positions
        if members_changed or queue_changed:
            positions = _queue_positions(order, items)
            moved = [h for h in order if items[h]["priority"] != positions.get(h, 0)]
        else:
            moved = []
        for h in rendered:
            items[h]["priority"] = positions.get(h, 0)  # a fresh dict: no snapshot has it
            encoded[h] = json.dumps(items[h], separators=(",", ":")).encode()
        for h in moved:
            if items[h]["priority"] != positions.get(h, 0):  # not re-rendered above
                items[h] = {**items[h], "priority": positions.get(h, 0)}
                encoded[h] = json.dumps(items[h], separators=(",", ":")).encode()
                revs[h] = max(revs[h], rev)
        return Snapshot(
            rev=rev,
            order=order,
            items=items,
            encoded=encoded,
            revs=revs,
            positions=positions,
            added=added,
        )


def _finished(item: dict[str, Any]) -> bool:
    return bool(item["state"] == "stoppedUP")


def _queue_positions(order: Sequence[str], items: dict[str, dict[str, Any]]) -> dict[str, int]:
    """qBittorrent's queue: unfinished torrents numbered from 1 in the order added."""
    queue = (h for h in order if not _finished(items[h]))
    return {h: position for position, h in enumerate(queue, start=1)}


def enclosed(opening: bytes, items: Sequence[bytes], closing: bytes) -> bytes:
    """`opening`, the items separated by commas, `closing`: copied once (megabytes)."""
    parts = [opening]
    for i, item in enumerate(items):
        if i:
            parts.append(b",")
        parts.append(item)
    parts.append(closing)
    return b"".join(parts)


TABLE = TorrentTable()
# Tests roll transactions back, so revisions repeat: each starts with an empty table.
memo.also_forget(TABLE.clear)
