"""Which upstream addresses the proxy may connect to (no SSRF into the LAN).

Only http(s). A host name is resolved once per connection and the connection goes
to one of the checked addresses, so a DNS answer that changes between check and
connect (rebinding) cannot steer it elsewhere; the peer is checked again after
connect. Refused unless allow-listed: loopback, private, link-local, multicast,
reserved, unspecified, shared (CGNAT) and cloud metadata addresses, also when
wrapped in IPv6 (v4-mapped, 6to4, NAT64).

STRM_PROXY_UPSTREAM_ALLOWLIST entries are host names (`cdn.lan`), domain suffixes
(`.lan` or `*.lan`), IP addresses or networks (`192.168.1.0/24`). A listed host
name may resolve to anything; a listed address or network is allowed whatever name
led to it. Site pages, hoster pages and SkyHook (`site_policy`) may also reach the
configured base URLs' host and port wherever they are (a mirror or a fake on the LAN).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from urllib3.util.connection import allowed_gai_family

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Not covered by ipaddress' flags: cloud metadata services on otherwise global addresses.
_METADATA = frozenset(
    {
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    }
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Special-purpose networks that Python before 3.12.4 counts as global: IETF protocol
# assignments (192.0.0.8 and most of the /24 are not globally reachable; the two
# anycast services in it are no CDN) and the deprecated IPv6 site-local range.
_NOT_GLOBAL = (ipaddress.ip_network("192.0.0.0/24"), ipaddress.ip_network("fec0::/10"))


class BlockedTarget(Exception):
    """The proxy refused to contact an upstream address; str() says which and why."""


@dataclass(frozen=True)
class AddressPolicy:
    """The allow-list, parsed: exact hosts, domain suffixes and address networks."""

    hosts: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = ()
    # (host, port) pairs allowed whatever they resolve to: configured base URLs.
    endpoints: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def from_allowlist(cls, entries: Iterable[str]) -> AddressPolicy:
        hosts: set[str] = set()
        suffixes: list[str] = []
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip().lower().strip("[]")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            if entry.startswith(("*.", ".")):
                suffixes.append("." + entry.lstrip("*."))
            else:
                hosts.add(entry.rstrip("."))
        return cls(frozenset(hosts), tuple(suffixes), tuple(networks))

    def host_listed(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        return name in self.hosts or any(name.endswith(suffix) for suffix in self.suffixes)

    def endpoint_listed(self, host: str, port: int) -> bool:
        return (host.lower().strip("[]").rstrip("."), port) in self.endpoints

    def allows(self, host: str, address: IPAddress) -> bool:
        """Whether a connection to `address`, reached through `host`, may be made."""
        if self.host_listed(host) or any(address in net for net in self.networks):
            return True
        return is_public_address(address)


def is_public_address(address: IPAddress) -> bool:
    """True only for a globally routable unicast address that is no metadata service."""
    for candidate in _embedded(address):
        if (
            not candidate.is_global
            or candidate.is_multicast
            or candidate.is_reserved
            or candidate.is_loopback
            or candidate.is_link_local
            or candidate.is_private
            or candidate.is_unspecified
            or candidate in _METADATA
            or any(candidate in network for network in _NOT_GLOBAL)
        ):
            return False
    return True


def _embedded(address: IPAddress) -> list[IPAddress]:
    """The addresses that decide: the address and every IPv4 address it tunnels to."""
    if not isinstance(address, ipaddress.IPv6Address):
        return [address]
    if address in _NAT64:
        # The well-known NAT64 prefix is reserved but routable on IPv6-only networks:
        # the IPv4 address inside is where the connection really goes.
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    found: list[IPAddress] = [address]
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    return found


def parse_address(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id


@lru_cache(maxsize=4)
def _policy(entries: tuple[str, ...]) -> AddressPolicy:
    return AddressPolicy.from_allowlist(entries)


def current_policy() -> AddressPolicy:
    return _policy(settings.CONFIG.strm_proxy_upstream_allowlist)


@lru_cache(maxsize=4)
def _site_policy(entries: tuple[str, ...], base_urls: tuple[str, ...]) -> AddressPolicy:
    endpoints = set()
    for url in base_urls:
        parts = urlsplit(url)
        if parts.hostname:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            endpoints.add((parts.hostname.lower().rstrip("."), port))
    allowlist = AddressPolicy.from_allowlist(entries)
    return AddressPolicy(
        allowlist.hosts, allowlist.suffixes, allowlist.networks, frozenset(endpoints)
    )


def site_policy() -> AddressPolicy:
    """For site pages, hoster pages and SkyHook: the allow-list plus the configured
    site, SkyHook and public-IP-check URLs (base and title index URLs), wherever
    they point."""
    cfg = settings.CONFIG
    urls = (
        cfg.aniworld_base_url,
        cfg.aniworld_alphabet_url,
        cfg.sto_base_url,
        cfg.sto_alphabet_url,
        cfg.megakino_base_url,
        cfg.skyhook_base_url,
        cfg.public_ip_check_url,
    )
    return _site_policy(cfg.strm_proxy_upstream_allowlist, urls)


def literal_address(host: str) -> IPAddress | None:
    """The address a host written as one means, in every form a resolver accepts
    (`127.1`, `2130706433`, `0x7f.0.0.1`, `[::1]`); None for a name."""
    text = host.strip("[]")
    try:
        return parse_address(text)
    except ValueError:
        pass
    if text and all(c in "0123456789abcdefxABCDEFX." for c in text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def check_url(url: str) -> str:
    """The URL's host if its scheme and form are acceptable; BlockedTarget otherwise."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise BlockedTarget(f"unusable upstream URL {url[:200]!r}") from None
    if parts.scheme not in ("http", "https"):
        raise BlockedTarget(f"upstream scheme {parts.scheme!r} refused: only http and https")
    if not host:
        raise BlockedTarget(f"upstream URL without a host: {url[:200]!r}")
    return host


def getaddrinfo(host: str, port: int, family: int) -> list[tuple[Any, ...]]:
    """Name resolution, one call per connection (tests replace it to fake DNS)."""
    return socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)


def connect_checked(
    host: str,
    port: int,
    *,
    timeout: float | None,
    policy: AddressPolicy,
    socket_options: Iterable[tuple[int, int, int]] = (),
) -> socket.socket:
    """A TCP connection to an allowed address of `host`; BlockedTarget if there is none.

    Resolves once and connects to the addresses it checked, never to a second answer.
    """
    allowed = resolve_checked(host, port, policy)
    error: OSError | None = None
    for family, sockaddr in allowed:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            for option in socket_options:
                sock.setsockopt(*option)
            sock.settimeout(timeout)
            sock.connect(sockaddr)
            _check_peer(policy, host, sock)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
        except BlockedTarget:
            sock.close()
            raise
    assert error is not None
    raise error


def resolve_checked(host: str, port: int, policy: AddressPolicy) -> list[tuple[Any, ...]]:
    """(family, sockaddr) of each allowed address of `host`; BlockedTarget if none is."""
    answers = [(info[0], info[4]) for info in getaddrinfo(host, port, allowed_gai_family())]
    allowed = [
        (family, sockaddr) for family, sockaddr in answers if _allowed(policy, host, sockaddr)
    ]
    if not allowed:
        found = ", ".join(sorted({str(sockaddr[0]) for _, sockaddr in answers})) or "nothing"
        raise BlockedTarget(
            f"upstream {host} resolves to {found}: a local/private address AniBridge does "
            "not contact (add it to STRM_PROXY_UPSTREAM_ALLOWLIST if it is yours)"
        )
    return allowed


def _allowed(policy: AddressPolicy, host: str, sockaddr: tuple[Any, ...]) -> bool:
    if policy.endpoint_listed(host, int(sockaddr[1])):
        return True
    try:
        return policy.allows(host, parse_address(str(sockaddr[0])))
    except ValueError:
        return False


def _check_peer(policy: AddressPolicy, host: str, sock: socket.socket) -> None:
    peer = sock.getpeername()
    if not _allowed(policy, host, peer):
        raise BlockedTarget(f"upstream {host} connected to refused address {peer[0]}")
