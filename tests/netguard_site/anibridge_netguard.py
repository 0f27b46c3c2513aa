"""Refuse every socket connection that would leave this machine (stdlib only).

Patches `socket.socket.connect`, `connect_ex`, `sendto` and `sendmsg` (which also
covers `socket.create_connection`, ssl, asyncio and everything built on them): a
TCP/UDP destination outside 127.0.0.0/8 and ::1 is refused before the real call,
so no packet is sent. Unix sockets and other families pass. Name resolution itself
(`getaddrinfo`) is not blocked; connecting to the result is. Native code that
opens its own sockets (libcurl in curl_cffi, ffmpeg) is out of reach.

Used by tests/netguard.py (the pytest plugin) and by sitecustomize.py for
subprocesses (`ANIBRIDGE_NETGUARD_LOG=<file>`: one line per violation).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

LOG_ENV = "ANIBRIDGE_NETGUARD_LOG"

Handler = Callable[[str], None]


class NetworkGuardViolation(ConnectionRefusedError):
    """A connection outside loopback was attempted (and refused before sending)."""


_lock = threading.Lock()
_handler: Handler | None = None
_originals: dict[str, Any] = {}


def is_loopback(host: str) -> bool:
    """True for a loopback IP literal, or a name that resolves only to loopback."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return False
        return bool(infos) and all(is_loopback(str(info[4][0])) for info in infos)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def check(sock: socket.socket, address: Any, action: str) -> None:
    """Raise NetworkGuardViolation (after reporting it) if `address` leaves loopback."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    if not isinstance(address, tuple) or not address:
        return
    host = str(address[0])
    if is_loopback(host):
        return
    port = address[1] if len(address) > 1 else "?"
    kind = "UDP" if sock.type == socket.SOCK_DGRAM else "TCP"
    message = f"netguard: {kind} {action} to {host}:{port} refused: tests may only use loopback"
    handler = _handler
    if handler is not None:
        handler(message)
    raise NetworkGuardViolation(errno.ECONNREFUSED, message)


def _guarded_connect(self: socket.socket, address: Any) -> None:
    check(self, address, "connect")
    return _originals["connect"](self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    check(self, address, "connect")
    return _originals["connect_ex"](self, address)


def _guarded_sendto(self: socket.socket, data: Any, *args: Any) -> int:
    # sendto(data, address) or sendto(data, flags, address)
    if args:
        check(self, args[-1], "sendto")
    return _originals["sendto"](self, data, *args)


def _guarded_sendmsg(self: socket.socket, buffers: Any, *args: Any) -> int:
    # sendmsg(buffers[, ancdata[, flags[, address]]])
    if len(args) >= 3 and args[2] is not None:
        check(self, args[2], "sendmsg")
    return _originals["sendmsg"](self, buffers, *args)


_GUARDS: dict[str, Any] = {
    "connect": _guarded_connect,
    "connect_ex": _guarded_connect_ex,
    "sendto": _guarded_sendto,
    "sendmsg": _guarded_sendmsg,
}


def install(handler: Handler | None = None) -> None:
    """Guard the process (idempotent); `handler` receives each violation message and
    replaces the previous handler."""
    global _handler
    with _lock:
        _handler = handler
        if _originals:
            return
        for name, guard in _GUARDS.items():
            _originals[name] = getattr(socket.socket, name)
            setattr(socket.socket, name, guard)


def uninstall() -> None:
    global _handler
    with _lock:
        for name, original in _originals.items():
            setattr(socket.socket, name, original)
        _originals.clear()
        _handler = None


def installed() -> bool:
    return bool(_originals)


def set_handler(handler: Handler | None) -> Handler | None:
    """Swap the violation handler; returns the previous one."""
    global _handler
    with _lock:
        previous, _handler = _handler, handler
        return previous


def append_to_log(path: str) -> Handler:
    def write(message: str) -> None:
        line = f"pid={os.getpid()} {message}\n".encode()
        # O_APPEND keeps concurrent writers from interleaving short lines.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    return write


def install_from_env() -> None:
    """What sitecustomize runs: guard this process if ANIBRIDGE_NETGUARD_LOG is set."""
    path = os.environ.get(LOG_ENV)
    if path:
        install(append_to_log(path))
