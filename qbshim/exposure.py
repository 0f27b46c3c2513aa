"""The start-up warning for a qB API that anyone on the network can use.

Without QBIT_USERNAME/QBIT_PASSWORD (the original's default) every client that reaches
the port may add and delete downloads and, with deleteFiles, their files. Kept free of
Django so gunicorn's master can call it before any app is loaded.
"""

from __future__ import annotations

import ipaddress

from anibridge_site.config import Config


def _loopback_only(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def open_api_warning(cfg: Config) -> str | None:
    """One line for the log when the qB API is open on a reachable address, else None."""
    if cfg.qbit_username or _loopback_only(cfg.host):
        return None
    return (
        f"The qBittorrent API on {cfg.host}:{cfg.port} has no login (QBIT_USERNAME/"
        "QBIT_PASSWORD unset): anyone who can reach this port can add and delete downloads "
        "and their files. Set both, or listen on 127.0.0.1 only (ANIBRIDGE_HOST)."
    )
