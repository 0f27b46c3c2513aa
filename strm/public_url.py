"""The base URL a client reached us at, for the URIs of the playlists we serve it.

Behind a TLS reverse proxy the browser asks `https://anibridge.example/strm/...` while
gunicorn sees plain HTTP from the proxy. The playlist's URIs must use the client's
scheme and host: an `http://` URI in a playlist loaded by an `https://` page is mixed
content and the browser refuses it. Only a proxy listed in `ANIBRIDGE_TRUSTED_PROXIES` may
say so (`X-Forwarded-Proto`, `X-Forwarded-Host`); from anyone else these headers are
ignored, or any client could point the URIs we hand out at a host of its choosing.
Without them the URIs use `STRM_PUBLIC_BASE_URL` as always.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

# A host name or IPv4 address, or a bracketed IPv6 address, with an optional port.
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?"
)


def request_base(environ: Mapping[str, Any]) -> str | None:
    """`scheme://host[/path]` as a trusted reverse proxy says the client asked for it, or
    None (use the configured STRM_PUBLIC_BASE_URL). `environ`: WSGI's or request.META."""
    if not _trusted(environ.get("REMOTE_ADDR", "")):
        return None
    proto = _last(environ.get("HTTP_X_FORWARDED_PROTO"))
    host = _last(environ.get("HTTP_X_FORWARDED_HOST"))
    if proto is None and host is None:
        return None
    configured = urlsplit(settings.CONFIG.strm_public_base_url)
    scheme = (proto or configured.scheme or "http").lower()
    host = host or environ.get("HTTP_HOST") or configured.netloc
    if scheme not in ("http", "https") or not host or not _HOST.fullmatch(host):
        return None
    return f"{scheme}://{host}{configured.path.rstrip('/')}"


def _trusted(address: str) -> bool:
    networks = settings.CONFIG.trusted_proxies
    if not networks:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:  # a Unix socket: no address to check
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def _last(value: str | None) -> str | None:
    """The last of a list of values, or None: the one our trusted peer wrote (a proxy that
    appends keeps what the client sent in front of it)."""
    if not value:
        return None
    last = value.rsplit(",", 1)[-1].strip()
    return last or None
