"""Per-process memos with expiry, and the one place that forgets all per-process state.

A memo saves a round trip (Redis, the database, a playlist fetch) for seconds or
minutes; losing it only costs that round trip again, so nothing here is shared between
processes. Every app may use it, so it lives in catalog, which depends on no other app.

`forget_all` empties every memo and runs the resets other modules registered with
`also_forget` (state kept while Redis is down, say): tests call it before each test,
since each starts with an empty Redis and must find nothing remembered either.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_memos: weakref.WeakSet[TtlMemo[object, object]] = weakref.WeakSet()
_resets: list[Callable[[], None]] = []


class TtlMemo(Generic[K, V]):
    """Key -> value for `seconds` (or what `put` says), at most `size` keys, the least
    recently used dropped first. Thread-safe."""

    def __init__(self, seconds: float, size: int) -> None:
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._seconds = seconds
        self._size = size
        self._lock = threading.Lock()
        _memos.add(self)  # type: ignore[arg-type]

    def get(self, key: K) -> V | None:
        """The value put for `key`, unless it expired."""
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] < time.monotonic():
                self._items.pop(key, None)
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: K, value: V, seconds: float | None = None) -> None:
        with self._lock:
            self._put(key, value, seconds)

    def put_new(self, key: K, value: V) -> bool:
        """Put `value` unless `key` holds one that has not expired; True when put."""
        with self._lock:
            item = self._items.get(key)
            if item is not None and item[0] >= time.monotonic():
                return False
            self._put(key, value, None)
            return True

    def _put(self, key: K, value: V, seconds: float | None) -> None:
        expires = time.monotonic() + (self._seconds if seconds is None else seconds)
        self._items[key] = (expires, value)
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def forget(self, key: K) -> None:
        with self._lock:
            self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def also_forget(reset: Callable[[], None]) -> Callable[[], None]:
    """Have `forget_all` call `reset` too; returns it, so it works as a decorator."""
    _resets.append(reset)
    return reset


def forget_all() -> None:
    """Empty every memo of this process and run the registered resets."""
    for memo in list(_memos):
        memo.clear()
    for reset in _resets:
        reset()
