"""The proxy's own upstream client (catalog.egress) through HTTP CONNECT and SOCKS5
proxies on loopback, to HTTP and HTTPS origins, and the address check through them."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from catalog.egress import connections, ssrf, upstream
from tests.fakeweb.proxies import Carried, HttpProxy, Socks5Proxy
from tests.fakeweb.server import FakeServer, Request, Response, Traffic
from tests.fakeweb.tls import TlsOrigin
from tests.tls_helpers import Certificates, make_certificates

BODY = b"segment bytes " * 1000

Configure = Callable[..., None]


class PlainOrigin(FakeServer):
    def handle(self, request: Request) -> Response:
        return Response(200, BODY, "video/mp2t")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(Path(tmp_path_factory.mktemp("tls")))


@pytest.fixture(scope="module")
def origins(certificate: Certificates) -> Iterator[dict[str, FakeServer]]:
    traffic = Traffic()
    servers: dict[str, FakeServer] = {
        "http": PlainOrigin("plain", traffic),
        "https": TlsOrigin(certificate.cert, certificate.key, BODY, traffic),
    }
    for server in servers.values():
        server.start()
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def trust_test_ca(certificate: Certificates, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # OpenSSL's default verify paths follow SSL_CERT_FILE; the client's context is
    # made once per process, so it is made again around the test.
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.ca))
    connections._tls_context.cache_clear()
    yield
    connections._tls_context.cache_clear()


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Configure]:
    def apply(**fields: Any) -> None:
        values = {"strm_proxy_upstream_allowlist": ("127.0.0.1",), **fields}
        monkeypatch.setattr(settings, "CONFIG", dataclasses.replace(settings.CONFIG, **values))

    yield apply
    # Pooled connections made under the test's proxy settings must not outlive them.
    with connections._lock:
        idle = [c for conns in connections._idle.values() for c in conns]
        connections._idle.clear()
    for conn in idle:
        conn.close()


def _get(url: str) -> bytes:
    answer = upstream.open_url(url, {})
    try:
        return b"".join(answer.chunks())
    finally:
        answer.release()


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("proxy_cls", [HttpProxy, Socks5Proxy])
def test_upstream_goes_through_the_configured_proxy(
    scheme: str,
    proxy_cls: type[HttpProxy] | type[Socks5Proxy],
    origins: dict[str, FakeServer],
    configure: Configure,
    trust_test_ca: None,
) -> None:
    origin = origins[scheme]
    with proxy_cls(login=("anibridge", "s3cret")) as proxy:
        configure(http_proxy=proxy.url, https_proxy=proxy.url)
        assert _get(origin.url("/seg1.ts")) == BODY
        assert _get(origin.url("/seg2.ts")) == BODY  # kept alive: one tunnel
        kind = "CONNECT" if proxy_cls is HttpProxy else "SOCKS5"
        assert proxy.carried() == [Carried(kind, f"127.0.0.1:{origin.port}")]


def test_socks5h_sends_the_name_and_socks5_the_checked_address(
    origins: dict[str, FakeServer], configure: Configure
) -> None:
    origin = origins["http"]
    with Socks5Proxy() as proxy:
        configure(
            all_proxy=proxy.url_for("socks5h"),
            strm_proxy_upstream_allowlist=("localhost", "127.0.0.1"),
        )
        assert _get(f"http://localhost:{origin.port}/a.ts") == BODY
        configure(
            all_proxy=proxy.url_for("socks5"),
            strm_proxy_upstream_allowlist=("localhost", "127.0.0.1"),
        )
        assert _get(f"http://localhost:{origin.port}/b.ts") == BODY
        assert proxy.targets() == [f"localhost:{origin.port}", f"127.0.0.1:{origin.port}"]


def test_no_proxy_covering_the_host_connects_directly(
    origins: dict[str, FakeServer], configure: Configure
) -> None:
    origin = origins["http"]
    with HttpProxy() as proxy:
        configure(all_proxy=proxy.url, no_proxy=("127.0.0.1",))
        assert _get(origin.url("/c.ts")) == BODY
        assert proxy.carried() == []


@pytest.mark.parametrize("host", ["127.0.0.2", "2130706434", "127.2", "[::ffff:127.0.0.2]"])
@pytest.mark.parametrize("scheme", ["http", "socks5h"])
def test_a_refused_address_is_never_asked_of_the_proxy(
    host: str, scheme: str, configure: Configure
) -> None:
    proxy_cls = HttpProxy if scheme == "http" else Socks5Proxy
    with proxy_cls() as proxy:
        configure(all_proxy=proxy.url_for(scheme), strm_proxy_upstream_allowlist=())
        with pytest.raises(ssrf.BlockedTarget, match=r"127\.0\.0\.2"):
            upstream.open_url(f"http://{host}:8080/seg.ts", {})
        assert proxy.carried() == []


def test_socks5_checks_what_the_name_resolves_to_here(
    configure: Configure, monkeypatch: pytest.MonkeyPatch
) -> None:
    def resolve(host: str, port: int, family: int) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))]

    monkeypatch.setattr(ssrf, "getaddrinfo", resolve)
    with Socks5Proxy() as proxy:
        configure(all_proxy=proxy.url_for("socks5"), strm_proxy_upstream_allowlist=())
        with pytest.raises(ssrf.BlockedTarget, match=r"cdn\.test resolves to 10\.1\.2\.3"):
            upstream.open_url("http://cdn.test/seg.ts", {})
        assert proxy.carried() == []


def test_proxy_down_is_one_clear_line(configure: Configure) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    configure(all_proxy=f"http://127.0.0.1:{port}")
    with pytest.raises(upstream.Unreachable) as caught:
        upstream.open_url("http://127.0.0.1:9/seg.ts", {})
    message = str(caught.value)
    assert f"proxy http://127.0.0.1:{port} is unreachable" in message
    assert "\n" not in message


def test_wrong_proxy_login_says_so(origins: dict[str, FakeServer], configure: Configure) -> None:
    with HttpProxy(login=("anibridge", "right")) as proxy:
        configure(all_proxy=f"http://anibridge:wrong@127.0.0.1:{proxy.port}")
        with pytest.raises(upstream.Unreachable, match=r"HTTP 407.*login"):
            upstream.open_url(origins["http"].url("/d.ts"), {})
    with Socks5Proxy(login=("anibridge", "right")) as proxy:
        configure(all_proxy=f"socks5h://anibridge:wrong@127.0.0.1:{proxy.port}")
        with pytest.raises(upstream.Unreachable, match="refused the login"):
            upstream.open_url(origins["http"].url("/e.ts"), {})
