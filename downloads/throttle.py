"""DOWNLOAD_RATE_LIMIT_BYTES_PER_SEC for a whole job, shared by the threads that fetch it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Bytes that may come at once after a pause: a little, so the limit holds over seconds.
BURST_SECONDS = 0.25


class Throttle:
    """Keeps the bytes taken at or under `rate` per second (0: no limit)."""

    def __init__(
        self,
        rate: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._allowed_at = clock() - BURST_SECONDS  # when the bytes so far are paid for

    @property
    def limited(self) -> bool:
        return self.rate > 0

    def read_size(self, largest: int) -> int:
        """How much to read at once: a quarter second's worth when limited."""
        return largest if not self.limited else max(4096, min(largest, self.rate // 4))

    def take(self, count: int) -> None:
        """Account for `count` bytes just read; sleep until they fit in the limit."""
        if not self.limited or count <= 0:
            return
        with self._lock:
            now = self._clock()
            start = max(self._allowed_at, now - BURST_SECONDS)
            self._allowed_at = start + count / self.rate
            wait = self._allowed_at - now
        if wait > 0:
            self._sleep(wait)
