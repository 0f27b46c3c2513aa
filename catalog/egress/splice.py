"""Moving a media body from the upstream socket to the client's inside the kernel.

Copying a 2 MiB segment through Python (into a buffer, out of it) cost as much CPU as
all the rest of the request (bench/bench_strm_proxy.py); `os.splice` through a pipe
moves page references instead. Only under gunicorn's gevent workers, whose sockets
are non-blocking underneath: on EAGAIN we wait through gevent, as its own sockets do.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping
from typing import Any

# SPLICE_F_MOVE is a hint; SPLICE_F_NONBLOCK keeps the pipe ends from blocking. The pipe
# keeps its default size (64 KiB): bigger ones saved no CPU measurably, and they count
# against the user's pipe quota for as long as a stream lasts (hours, for a film).
_FLAGS = getattr(os, "SPLICE_F_MOVE", 0) | getattr(os, "SPLICE_F_NONBLOCK", 0)
# Pipes kept for the next body, per worker process: making and closing a pair for each
# request took four system calls, and gevent's os.close defers every close through its
# hub (~2% of a 2 MiB request's CPU, bench/bench_strm_proxy.py). Only empty pipes are kept.
MAX_IDLE_PIPES = 16
_idle_pipes: list[tuple[int, int]] = []
# At most this many spliced bytes wait unsent in the client socket. Without a limit its
# send buffer grows to tcp_wmem's maximum and takes a whole 2 MiB segment at once; the
# kernel then sends most of it when the client's ACKs open the window, as work done in
# the client's context (on loopback: the client's CPU, which then reads at half the rate,
# bench/bench_strm_proxy.py). Limited, the proxy's own splice calls send it. Bytes in
# flight are not limited, so a distant client's throughput is not either.
CLIENT_NOTSENT_LOWAT = 256 * 1024


# The WSGI environ key under which the front end leaves a response body that may splice:
# its `spliced` byte count completes gunicorn's access log (anibridge_site.gunicorn_log).
ENVIRON_BODY = "anibridge.strm.body"


class SourceCut(Exception):
    """The upstream socket ended, failed or stalled before all bytes were moved."""


def client_socket(environ: Mapping[str, Any]) -> socket.socket | None:
    """The client's socket if a body may be spliced into it, else None (then the body
    goes through the WSGI iterator): gunicorn over plain HTTP/1.x, gevent, Linux."""
    sock = environ.get("gunicorn.socket")
    if sock is None or not hasattr(os, "splice") or not _cooperative():
        return None
    if environ.get("SERVER_PROTOCOL") not in ("HTTP/1.0", "HTTP/1.1"):
        return None  # HTTP/2 frames the body: raw bytes on its socket would break it
    if hasattr(sock, "cipher"):
        return None  # TLS: the bytes must go through the SSL object
    return sock


def _cooperative() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("socket"))


def move(source: int, sink: socket.socket, count: int, read_timeout: float) -> None:
    """Move exactly `count` bytes from the socket `source` (a file descriptor) to `sink`.

    SourceCut when the source ends early, fails or sends nothing for `read_timeout`
    seconds; an OSError from writing means the client went away.
    """
    from gevent.socket import wait_read, wait_write

    target = sink.fileno()
    write_timeout = sink.gettimeout()
    limit_unsent(sink)
    reader, writer = _take_pipe()
    empty = False
    try:
        buffered = 0  # in the pipe
        while count or buffered:
            if count:
                try:
                    moved = os.splice(source, writer, count, flags=_FLAGS)
                except BlockingIOError:
                    # Nothing to read, or the pipe is full: only the first needs a wait.
                    if not buffered:
                        _wait(wait_read, source, read_timeout)
                        continue
                except OSError as exc:
                    raise SourceCut(str(exc)) from exc
                else:
                    if moved == 0:
                        raise SourceCut(f"connection closed with {count} bytes to go")
                    count -= moved
                    buffered += moved
            try:
                buffered -= os.splice(reader, target, buffered, flags=_FLAGS)
            except BlockingIOError:
                wait_write(target, timeout=write_timeout)
        empty = True
    finally:
        _give_back_pipe((reader, writer), empty)


def limit_unsent(sink: socket.socket) -> None:
    """At most CLIENT_NOTSENT_LOWAT bytes wait unsent in the client's socket (see above)."""
    if sink.family in (socket.AF_INET, socket.AF_INET6):  # not on a Unix socket
        sink.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, CLIENT_NOTSENT_LOWAT)


def _take_pipe() -> tuple[int, int]:
    try:
        return _idle_pipes.pop()
    except IndexError:
        return os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)


def _give_back_pipe(pipe: tuple[int, int], empty: bool) -> None:
    """Keep an empty pipe for the next body; close one that may hold bytes."""
    if empty and len(_idle_pipes) < MAX_IDLE_PIPES:
        _idle_pipes.append(pipe)
    else:
        for fd in pipe:
            os.close(fd)


def _wait(wait: Any, fd: int, timeout: float) -> None:
    try:
        wait(fd, timeout=timeout)
    except TimeoutError as exc:
        raise SourceCut(f"nothing received for {timeout:.0f} s") from exc
