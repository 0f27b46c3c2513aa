"""Kept-alive HTTP(S) connections to upstreams, made only where strm.ssrf allows.

http.client with a small pool of our own, not urllib3: urllib3's layers over
http.client cost ~0.15 ms CPU per request under gevent (bench/bench_strm_proxy.py),
a tenth of what serving a 2 MiB segment costs in all. No retries, as before with
urllib3 (retries=False): a failed request is strm.proxy's to re-resolve and retry.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
from collections import OrderedDict
from functools import lru_cache

from strm import ssrf

# As urllib3's PoolManager(num_pools=64, maxsize=64) kept them.
MAX_HOSTS = 64
MAX_IDLE_PER_HOST = 64

Key = tuple[str, str, int]  # scheme, host, port

_idle: OrderedDict[Key, list[Connection]] = OrderedDict()
_lock = threading.Lock()


class Connection(http.client.HTTPConnection):
    """One upstream connection; (re)connects only to an address strm.ssrf allows."""

    def __init__(self, key: Key, connect_timeout: float, read_timeout: float) -> None:
        super().__init__(key[1], key[2], timeout=read_timeout)
        self.key = key
        self.tls = key[0] == "https"
        self.default_port = 443 if self.tls else 80  # no port in the Host header then
        self._connect_timeout = connect_timeout

    def connect(self) -> None:
        sock = ssrf.connect_checked(
            self.host,
            self.port,
            timeout=self._connect_timeout,
            policy=ssrf.current_policy(),
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )
        sock.settimeout(self.timeout)
        if self.tls:
            try:
                sock = _tls_context().wrap_socket(sock, server_hostname=self.host)
            except BaseException:
                sock.close()
                raise
        self.sock = sock


def take(key: Key, connect_timeout: float, read_timeout: float) -> Connection:
    """An idle connection to `key` that the server kept open, else a new one (it
    connects when the first request is sent)."""
    while True:
        with _lock:
            idle = _idle.get(key)
            conn = idle.pop() if idle else None
        if conn is None:
            return Connection(key, connect_timeout, read_timeout)
        if conn.sock is not None and not _readable(conn.sock):
            conn.timeout = read_timeout
            conn.sock.settimeout(read_timeout)
            return conn
        conn.close()


def give_back(conn: Connection) -> None:
    """Keep a connection whose last response was read to its end, for the next request."""
    if conn.sock is None:  # the server said it closes the connection
        return
    closing: list[Connection] = []
    with _lock:
        idle = _idle.setdefault(conn.key, [])
        _idle.move_to_end(conn.key)
        if len(idle) < MAX_IDLE_PER_HOST:
            idle.append(conn)
        else:
            closing.append(conn)
        while len(_idle) > MAX_HOSTS:
            closing.extend(_idle.popitem(last=False)[1])
    for extra in closing:
        extra.close()


def _readable(sock: socket.socket) -> bool:
    """Whether an idle connection has something to read: the server closed it (or
    sent bytes nobody asked for); either way it cannot carry another request."""
    poller = _original_poll()()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))


@lru_cache(maxsize=1)
def _original_poll() -> type:
    # gevent's select.poll sets up watchers even for a zero timeout (urllib3's own check
    # cost ~2% of a request); the original cannot block with a zero timeout.
    from gevent.monkey import get_original

    return get_original("select", "poll")


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    # Made on first use: after gevent patched the ssl module in a web worker.
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])  # as http.client and urllib3 offer
    return context
