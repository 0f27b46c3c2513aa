"""A download's progress as the qB API shows it: bytes done, the total (an estimate until
it is known), speed and time left, reported through the job's JobContext."""

from __future__ import annotations

import threading
import time

from downloads.tasks import JobContext

# Speed is a moving average over about this many seconds.
SPEED_WINDOW_SECONDS = 5.0


class Progress:
    """Counted from the fetching threads (`add`), reported from the job's thread (`report`)."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.done = 0  # bytes on disk, of finished and running pieces
        self.total: int | None = None
        self._lock = threading.Lock()
        self._samples: list[tuple[float, int]] = [(time.monotonic(), 0)]

    def add(self, count: int) -> None:
        with self._lock:
            self.done += count

    def set_done(self, count: int) -> None:
        with self._lock:
            self.done = count
            self._samples = [(time.monotonic(), count)]

    def estimate(self, total: int | None) -> None:
        """A better idea of the total size (None: no idea yet)."""
        if total:
            self.total = total

    def speed(self) -> float:
        now = time.monotonic()
        with self._lock:
            self._samples.append((now, self.done))
            while len(self._samples) > 2 and now - self._samples[1][0] > SPEED_WINDOW_SECONDS:
                self._samples.pop(0)
            (then, before), (_, latest) = self._samples[0], self._samples[-1]
        return (latest - before) / (now - then) if now > then else 0.0

    def report(self, force: bool = False, **fields: object) -> None:
        """Store the numbers (rate-limited by the JobContext); JobInterrupted to stop."""
        speed = self.speed()
        total = max(self.total, self.done) if self.total else None
        fraction = min(self.done / total, 0.999) if total else 0.0
        left = (total - self.done) / speed if total and speed > 0 else None
        self.ctx.report(
            force=force,
            progress=round(fraction, 4),
            downloaded_bytes=self.done,
            total_bytes=total,
            speed=round(speed, 1),
            eta=None if left is None else int(left),
            **fields,
        )
