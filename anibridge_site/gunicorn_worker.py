"""gunicorn's gevent worker with a deadline on each request head, apart from the keep-alive wait.

gunicorn's gevent worker bounds only the whole wait for a request (`keepalive`), from
the end of the previous response (or the accept) to the end of the next head. A
client that trickles a head one byte at a time so holds one of the worker's
connection slots for that long (75 s here); a few thousand such sockets filled every
slot and /health stopped answering. (With `keepalive` 0 gunicorn reads heads outside
this hook, unbounded: keep it above 0.)
Here a connection may stay idle between requests for `keepalive` seconds (ffmpeg
keeps its connection between segments), but once the first byte of a head has
arrived the whole head must follow within HEAD_TIMEOUT, and a new connection must
start its first head within HEAD_TIMEOUT of being accepted. A connection that misses
its deadline is closed without an answer, as gunicorn closes an idle one.

The hook is the worker's timeout_ctx(), the context gunicorn wraps around reading
each head. Bytes already waiting when it is entered start the head's deadline at
once (the parser reads them before any watcher could fire); else a read watcher on
the socket notices the first byte.
"""

from __future__ import annotations

import select
import socket
from types import TracebackType
from typing import Any

from gevent import get_hub, getcurrent
from gevent.monkey import get_original
from gunicorn.workers.ggevent import GeventWorker

# A zero-timeout poll never blocks: gevent's own would set up watchers for nothing.
_poll = get_original("select", "poll")

# Generous for a head of a few KiB over any real link; short next to the keep-alive wait.
HEAD_TIMEOUT = 10.0


class _HeadMissed(BaseException):
    """Thrown into a connection's greenlet when its head is late (BaseException: no
    `except Exception` in the HTTP parser may swallow it)."""


class _HeadDeadline:
    """The context gunicorn enters around reading each request head of one connection:
    an idle wait first (HEAD_TIMEOUT on a new connection, the keep-alive time after a
    response), then HEAD_TIMEOUT from the first byte of the head."""

    def __init__(self, sock: socket.socket, keepalive: float) -> None:
        self._fd = sock.fileno()
        self._keepalive = keepalive
        self._requests = 0
        self._greenlet: Any = None
        self._timer: Any = None
        self._reader: Any = None
        self._missed = _HeadMissed()

    def __enter__(self) -> _HeadDeadline:
        loop = get_hub().loop
        self._greenlet = getcurrent()
        idle = HEAD_TIMEOUT if self._requests == 0 else self._keepalive
        self._requests += 1
        if _has_input(self._fd):
            self._timer = loop.timer(HEAD_TIMEOUT)
        else:
            self._timer = loop.timer(idle)
            self._reader = loop.io(self._fd, 1)  # 1: readable
            self._reader.start(self._head_started)
        self._timer.start(self._expired)
        return self

    def _head_started(self) -> None:
        # From here the head has HEAD_TIMEOUT, however long the connection was idle.
        self._reader.stop()
        self._reader.close()
        self._reader = None
        self._timer.stop()
        self._timer.close()
        self._timer = get_hub().loop.timer(HEAD_TIMEOUT)
        self._timer.start(self._expired)

    def _expired(self) -> None:
        self._greenlet.throw(self._missed)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        for watcher in (self._reader, self._timer):
            if watcher is not None:
                watcher.stop()
                watcher.close()
        self._reader = self._timer = self._greenlet = None
        # Swallowed: gunicorn then finds no request and closes the connection.
        return error is self._missed


def _has_input(fd: int) -> bool:
    poller = _poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class HeadDeadlineWorker(GeventWorker):
    """gunicorn's gevent worker, each connection's heads under a _HeadDeadline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadlines: dict[Any, _HeadDeadline] = {}

    def handle(self, listener: Any, client: socket.socket, addr: Any) -> None:
        current = getcurrent()
        self._deadlines[current] = _HeadDeadline(client, float(self.cfg.keepalive))
        try:
            super().handle(listener, client, addr)
        finally:
            del self._deadlines[current]

    def timeout_ctx(self) -> _HeadDeadline:
        return self._deadlines[getcurrent()]
