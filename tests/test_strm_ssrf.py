"""STRM-PROXY.md case 15: the proxy contacts no local/private address unless allow-listed,
checks every redirect hop and the address it actually connects to, and limits redirects.

Address classes beyond loopback are unit tests of the check only: no test sends a
packet off this machine (the network guard would fail it).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from catalog.egress import ssrf, upstream
from catalog.egress.ssrf import AddressPolicy, BlockedTarget, is_public_address
from catalog.identity import EpisodeIdentity
from strm.stream_urls import stream_url
from tests.fakeweb.server import Request, Response, redirect
from tests.strm_helpers import Listener, Origin, get, store_resolution, use_proxy_config

IDENTITY = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "VOE")


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.0.0.2",
        "::1",
        "0.0.0.0",
        "::",
        "10.1.2.3",
        "172.16.5.4",
        "192.168.1.10",
        "169.254.169.254",  # AWS/GCP/Azure metadata
        "169.254.1.1",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",  # AWS metadata over IPv6
        "100.64.0.1",  # carrier-grade NAT
        "100.100.100.200",  # Alibaba Cloud metadata
        "224.0.0.1",
        "239.255.255.250",
        "ff02::1",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",  # documentation
        "198.18.0.1",  # benchmarking
        "::ffff:127.0.0.1",  # v4-mapped
        "::ffff:10.0.0.1",
        "2002:7f00:1::",  # 6to4 around 127.0.0.1
        "2002:a00:1::",  # 6to4 around 10.0.0.1
        "64:ff9b::a00:1",  # NAT64 around 10.0.0.1
        "::127.0.0.1",  # IPv4-compatible (deprecated)
        "2001:db8::1",  # documentation
    ],
)
def test_local_private_and_special_addresses_are_refused(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))
    assert not AddressPolicy().allows("cdn.example", ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700::1111", "64:ff9b::808:808"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


def test_allowlist_takes_host_names_suffixes_addresses_and_networks() -> None:
    policy = AddressPolicy.from_allowlist(
        ["jellyfin-cdn", "*.lan", ".home.arpa", "127.0.0.1", "192.168.1.0/24", "[::1]"]
    )
    local = ipaddress.ip_address("10.9.9.9")
    assert policy.allows("jellyfin-cdn", local)
    assert policy.allows("JELLYFIN-CDN.", local)
    assert policy.allows("media.lan", local)
    assert policy.allows("box.home.arpa", local)
    assert not policy.allows("lan", local)
    assert not policy.allows("evil-lan", local)
    assert policy.allows("anything", ipaddress.ip_address("127.0.0.1"))
    assert policy.allows("anything", ipaddress.ip_address("192.168.1.77"))
    assert policy.allows("anything", ipaddress.ip_address("::1"))
    assert not policy.allows("anything", ipaddress.ip_address("127.0.0.2"))
    assert not policy.allows("anything", ipaddress.ip_address("192.168.2.1"))


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://cdn.example/a.ts",
        "gopher://127.0.0.1:6379/_FLUSHALL",
        "data:text/plain,hi",
        "http:///no-host",
        "http://cdn.example:99999/a.ts",
    ],
)
def test_only_http_and_https_urls_with_a_host_are_fetched(url: str) -> None:
    with pytest.raises(BlockedTarget):
        ssrf.check_url(url)


# --- the address actually connected to -----------------------------------------------------


@pytest.fixture
def listeners() -> Iterator[tuple[Listener, Listener]]:
    first = Listener("127.0.0.1")
    second = Listener("127.0.0.2", first.port)
    yield first, second
    first.close()
    second.close()


def fake_dns(monkeypatch: pytest.MonkeyPatch, *answers: str) -> list[str]:
    """Each name lookup gets the next answer (a DNS server that rebinds); returns the log."""
    asked: list[str] = []
    queue = list(answers)

    def getaddrinfo(host: str, port: int, family: int) -> list[tuple[Any, ...]]:
        asked.append(host)
        address = queue.pop(0)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(ssrf, "getaddrinfo", getaddrinfo)
    return asked


def test_connection_goes_to_the_checked_answer_even_if_dns_changes_before_connect(
    monkeypatch: pytest.MonkeyPatch, listeners: tuple[Listener, Listener]
) -> None:
    allowed, other = listeners
    asked = fake_dns(monkeypatch, "127.0.0.1", "127.0.0.2")
    policy = AddressPolicy.from_allowlist(["127.0.0.1"])
    sock = ssrf.connect_checked("rebind.test", allowed.port, timeout=2, policy=policy)
    assert sock.getpeername()[0] == "127.0.0.1"
    sock.close()
    assert asked == ["rebind.test"]  # resolved once: no second answer to be fooled by
    with pytest.raises(BlockedTarget, match=r"127\.0\.0\.2"):
        ssrf.connect_checked("rebind.test", allowed.port, timeout=2, policy=policy)
    assert other.accepted == 0


def test_a_name_resolving_to_a_refused_address_is_never_connected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_dns(monkeypatch, "10.0.0.7")
    with pytest.raises(BlockedTarget, match=r"10\.0\.0\.7.*STRM_PROXY_UPSTREAM_ALLOWLIST"):
        ssrf.connect_checked("intranet.test", 80, timeout=2, policy=AddressPolicy())


# --- redirects, through the pool and through the view ------------------------------------------


@pytest.fixture
def origin() -> Iterator[Origin]:
    server = Origin()
    server.start()
    yield server
    server.stop()


@pytest.mark.django_db
@pytest.mark.parametrize("target", ["127.0.0.2", "[::1]"])
def test_redirect_to_a_loopback_alias_is_refused(
    monkeypatch: pytest.MonkeyPatch,
    origin: Origin,
    listeners: tuple[Listener, Listener],
    target: str,
) -> None:
    use_proxy_config(monkeypatch, strm_proxy_upstream_allowlist=("127.0.0.1",))
    _, other = listeners
    location = f"http://{target}:{other.port}/video.mp4"
    url = origin.route("/go", lambda _r: redirect(location))
    with pytest.raises(BlockedTarget):
        upstream.open_url(url, {})
    store_resolution(IDENTITY, url)
    status, _, body = get(Client(), stream_url(IDENTITY))
    assert status == 502 and b"STRM_PROXY_UPSTREAM_ALLOWLIST" in body
    assert other.accepted == 0


@pytest.mark.django_db
def test_entry_target_itself_is_checked(monkeypatch: pytest.MonkeyPatch, origin: Origin) -> None:
    use_proxy_config(monkeypatch, strm_proxy_upstream_allowlist=())
    store_resolution(IDENTITY, origin.serve("/v.mp4", b"\0" * 100, "video/mp4"))
    status, _, body = get(Client(), stream_url(IDENTITY))
    assert status == 502 and b"127.0.0.1" in body
    assert origin.traffic.total("origin") == 0


def redirect_to(location: str) -> Callable[[Request], Response]:
    return lambda _request: redirect(location)


@pytest.mark.django_db
def test_redirect_chain_longer_than_the_limit_is_refused(
    monkeypatch: pytest.MonkeyPatch, origin: Origin
) -> None:
    use_proxy_config(monkeypatch)
    hops = upstream.MAX_REDIRECTS
    for n in range(hops + 1):
        origin.route(f"/r/{n}", redirect_to(f"/r/{n - 1}"))
    origin.serve("/r/-1", b"\0" * 10, "video/mp4")
    # Exactly the limit is fine; one more is not.
    assert upstream.open_url(origin.url(f"/r/{hops - 1}"), {}).status == 200
    with pytest.raises(upstream.TooManyRedirects):
        upstream.open_url(origin.url(f"/r/{hops}"), {})
    store_resolution(IDENTITY, origin.url(f"/r/{hops}"))
    status, _, body = get(Client(), stream_url(IDENTITY))
    assert status == 502 and b"redirects" in body


def test_cookies_stay_with_the_host_they_were_given_for(
    monkeypatch: pytest.MonkeyPatch, origin: Origin
) -> None:
    use_proxy_config(monkeypatch)
    other = Origin()
    other.start()
    try:
        final = other.serve("/v.mp4", b"\0" * 10, "video/mp4")
        same_host = origin.route("/a", lambda _r: redirect("/b"))
        origin.route("/b", lambda _r: redirect(final))
        headers = {"Cookie": "session=1", "Referer": "https://voe.sx/"}
        assert upstream.open_url(same_host, headers).status == 200
        seen = origin.traffic.requests("origin")
        assert [r.headers.get("cookie") for r in seen] == ["session=1", "session=1"]
        last = other.traffic.requests("origin")[-1].headers
        assert "cookie" not in last and last["referer"] == "https://voe.sx/"
    finally:
        other.stop()
