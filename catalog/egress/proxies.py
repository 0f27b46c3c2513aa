"""Which proxy a connection goes through: HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY.

One decision for every client (our HTTP/1.1 client, requests, niquests, libcurl), made
for the host actually contacted: after a site's base URL replaced the canonical host,
and again on every redirect hop. The variables are read once in anibridge_site.config
(the lower-case name wins over the upper-case one, as in curl and requests); an https
target uses HTTPS_PROXY, an http target HTTP_PROXY, either falls back to ALL_PROXY.

NO_PROXY is a comma-separated list, as curl and requests read it: `*` (no proxy at
all), host names matching themselves and their subdomains (`example.com`,
`.example.com`, `*.example.com`), IP addresses and networks (`10.0.0.0/8`), each
optionally with `:port`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from django.conf import settings

_DEFAULT_PORTS = {"http": 80, "https": 443}
_PROXY_PORTS = {"http": 8080, "socks5": 1080, "socks5h": 1080}


@dataclass(frozen=True)
class Proxy:
    """A parsed proxy URL. `url` is the configured text (credentials included)."""

    url: str
    scheme: str  # http, socks5 or socks5h
    host: str
    port: int
    username: str = ""
    password: str = ""

    @property
    def remote_dns(self) -> bool:
        """Whether the proxy resolves target names (HTTP CONNECT and socks5h send names)."""
        return self.scheme in ("http", "socks5h")

    @property
    def shown(self) -> str:
        """The URL without credentials, for messages and logs."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


@lru_cache(maxsize=16)
def parse_proxy(url: str) -> Proxy:
    """A Proxy from a URL anibridge_site.config accepted."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return Proxy(
        url=url,
        scheme=scheme,
        host=(parts.hostname or "").lower(),
        port=parts.port or _PROXY_PORTS[scheme],
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )


def proxy_for_url(url: str) -> Proxy | None:
    """The proxy for a request to `url`, None to connect directly."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return proxy_for(scheme, parts.hostname or "", parts.port or _DEFAULT_PORTS.get(scheme, 80))


def proxy_for(scheme: str, host: str, port: int) -> Proxy | None:
    """The proxy for a connection to `host`:`port` carrying `scheme` (http or https)."""
    cfg = settings.CONFIG
    chosen = (cfg.https_proxy if scheme == "https" else cfg.http_proxy) or cfg.all_proxy
    if not chosen or bypassed(host, port, cfg.no_proxy):
        return None
    return parse_proxy(chosen)


def configured_proxies() -> tuple[Proxy, ...]:
    """Every proxy the settings name (for the address check: they are always allowed)."""
    cfg = settings.CONFIG
    urls = dict.fromkeys(u for u in (cfg.http_proxy, cfg.https_proxy, cfg.all_proxy) if u)
    return tuple(parse_proxy(u) for u in urls)


def bypassed(host: str, port: int, no_proxy: tuple[str, ...]) -> bool:
    """Whether NO_PROXY says to connect to `host`:`port` directly."""
    name = host.lower().strip("[]").rstrip(".")
    address = _address(name)
    for raw in no_proxy:
        entry, entry_port = _split_port(raw.strip().lower())
        if entry == "*":
            return True
        if not entry or (entry_port is not None and entry_port != port):
            continue
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            domain = entry.lstrip("*").lstrip(".").rstrip(".")
            if domain and (name == domain or name.endswith("." + domain)):
                return True
            continue
        if address is not None and address in network:
            return True
    return False


def _split_port(entry: str) -> tuple[str, int | None]:
    """`host:port`, `[v6]:port`, or an entry without a port (a bare IPv6 address)."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return host, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, int(port) if port.isdigit() else None
    return entry, None


def _address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return None
