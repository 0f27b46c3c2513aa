"""Fetching a download's pieces: each upstream body copied into a local file (throttled,
counted, stoppable, a cut connection told apart from a full disk), several at a time
while the job's thread reports progress."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import IO, TypeVar

from catalog.egress import upstream
from catalog.egress.fetch import FetchFailed
from downloads import storage
from downloads.progress import Progress
from downloads.throttle import Throttle

T = TypeVar("T")
# How often the job's progress is written while pieces come in (JobContext limits it too).
REPORT_SECONDS = 0.5


class Stopped(Exception):
    """The job was stopped or another piece failed: this one gives up quietly."""


def copy_body(
    answer: upstream.Upstream,
    out: IO[bytes],
    *,
    throttle: Throttle,
    progress: Progress,
    stop: threading.Event,
    skip: int = 0,
    length: int | None = None,
) -> int:
    """Write the body (without its first `skip` bytes, at most `length` bytes) to `out`;
    the number of bytes written. FetchFailed (expired) when the connection is cut."""
    written = 0
    try:
        for chunk in answer.chunks():
            if stop.is_set():
                answer.abort()
                raise Stopped
            throttle.take(len(chunk))
            if skip:
                dropped = min(skip, len(chunk))
                skip -= dropped
                chunk = chunk[dropped:]
            if length is not None:
                chunk = chunk[: length - written]
            if chunk:
                with storage.writing():
                    out.write(chunk)
                written += len(chunk)
                progress.add(len(chunk))
            if length is not None and written >= length:
                answer.abort()  # upstream ignored the range: the rest is not ours
                break
    except upstream.BodyInterrupted as exc:
        raise FetchFailed(str(exc), expired=True) from exc
    return written


def run_pieces(
    items: Sequence[T],
    fetch_one: Callable[[T, threading.Event], None],
    *,
    workers: int,
    progress: Progress,
    on_done: Callable[[T], None],
) -> FetchFailed | None:
    """Fetch `items`, `workers` at a time, reporting progress from this thread meanwhile.

    Returns the first failure worth a re-resolve (once one happened, no further item
    starts; the caller re-resolves and calls again with what is left), None when all
    came through. Any other failure is raised once the running fetches stopped.
    """
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="download")
    futures = {pool.submit(_unless_stopped, fetch_one, item, stop): item for item in items}
    expired: FetchFailed | None = None
    try:
        running = set(futures)
        while running:
            done, running = wait(running, timeout=REPORT_SECONDS, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    future.result()
                except Stopped:
                    continue
                except FetchFailed as exc:
                    if not exc.expired:
                        raise
                    expired = expired or exc
                    stop.set()
                    continue
                on_done(futures[future])
            progress.report()
    finally:
        stop.set()  # running fetches give up at their next chunk
        pool.shutdown(wait=True, cancel_futures=True)
    return expired


def _unless_stopped(
    fetch_one: Callable[[T, threading.Event], None], item: T, stop: threading.Event
) -> None:
    if stop.is_set():
        raise Stopped
    fetch_one(item, stop)
