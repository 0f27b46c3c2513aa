"""Open a TCP connection to an upstream, directly or through the configured proxy.

Every client of ours connects here (catalog.egress.connections, the requests and
niquests sessions of catalog.egress.sessions), so all of them share one proxy
decision (catalog.egress.proxies) and one address check (catalog.egress.ssrf).

Through a proxy the socket comes back tunnelled to the target: HTTP CONNECT (also for
http targets, so a proxy sees no request line and every client speaks the same
HTTP/1.1 as directly), SOCKS5 (RFC 1928, login per RFC 1929). The address check
then means:
- an address written in the URL (any form: `127.1`, `[::ffff:7f00:1]`) is checked
  before the proxy is asked, and so are names that are loopback by definition
  (`localhost`, `*.localhost`);
- `socks5://` resolves the name here, checks the answers and asks the proxy for the
  checked address, so the connected address is the checked one;
- `socks5h://` and `http://` proxies are asked for the name: they resolve it, and
  AniBridge does not resolve it locally (that would leak the name to the local DNS
  the proxy is there to avoid), so what a name resolves to behind the proxy is the
  proxy's to police. The proxy itself is a configured endpoint and always allowed.
"""

from __future__ import annotations

import base64
import socket
import struct
from collections.abc import Iterable

from catalog.egress import proxies, ssrf
from catalog.egress.proxies import Proxy

# A CONNECT answer is a status line and a few headers; more is not a proxy we know.
MAX_CONNECT_HEAD = 16 * 1024

_SOCKS_REPLIES = {
    1: "general SOCKS server failure",
    2: "connection not allowed by ruleset",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}


class ProxyError(ConnectionError):
    """The proxy could not be reached or would not open the tunnel; str() is one line."""


def open_connection(
    scheme: str,
    host: str,
    port: int,
    *,
    timeout: float | None,
    policy: ssrf.AddressPolicy,
    socket_options: Iterable[tuple[int, int, int]] = (),
) -> socket.socket:
    """A socket connected to `host`:`port` (directly or tunnelled through the proxy the
    settings choose for `scheme`); ssrf.BlockedTarget when the target is refused."""
    proxy = proxies.proxy_for(scheme, host, port)
    if proxy is None:
        return ssrf.connect_checked(
            host, port, timeout=timeout, policy=policy, socket_options=socket_options
        )
    target = checked_target(host, port, proxy, policy)
    sock = _connect_to_proxy(proxy, timeout, socket_options)
    try:
        if proxy.scheme == "http":
            _http_connect(sock, proxy, target, port)
        else:
            _socks5_connect(sock, proxy, target, port)
    except BaseException:
        sock.close()
        raise
    return sock


def checked_target(host: str, port: int, proxy: Proxy, policy: ssrf.AddressPolicy) -> str:
    """What to ask `proxy` to connect to, after the checks the module doc lists."""
    name = host.strip("[]").lower().rstrip(".")
    listed = policy.endpoint_listed(name, port) or policy.host_listed(name)
    address = ssrf.literal_address(name)
    if address is not None:
        if not listed and not policy.allows(name, address):
            raise ssrf.BlockedTarget(
                f"upstream {host} is {address}: a local/private address AniBridge does not "
                "contact (add it to STRM_PROXY_UPSTREAM_ALLOWLIST if it is yours)"
            )
        return str(address)
    if not listed and (name == "localhost" or name.endswith(".localhost")):
        raise ssrf.BlockedTarget(
            f"upstream {host} is loopback by name: AniBridge does not contact it"
        )
    if proxy.remote_dns:
        return name
    return str(ssrf.resolve_checked(name, port, policy)[0][1][0])


def _connect_to_proxy(
    proxy: Proxy, timeout: float | None, socket_options: Iterable[tuple[int, int, int]]
) -> socket.socket:
    try:
        sock = socket.create_connection((proxy.host, proxy.port), timeout=timeout)
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ProxyError(
            f"proxy {proxy.shown} is unreachable ({reason}); check that it runs, "
            "or HTTP_PROXY/HTTPS_PROXY/ALL_PROXY/NO_PROXY"
        ) from None
    try:
        for option in socket_options:
            sock.setsockopt(*option)
    except OSError:
        sock.close()
        raise
    return sock


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _http_connect(sock: socket.socket, proxy: Proxy, host: str, port: int) -> None:
    authority = _authority(
        host.encode("idna").decode("ascii") if not host.isascii() else host, port
    )
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
    if proxy.username or proxy.password:
        token = base64.b64encode(f"{proxy.username}:{proxy.password}".encode()).decode("ascii")
        lines.append(f"Proxy-Authorization: Basic {token}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    head = b""
    while b"\r\n\r\n" not in head:
        # Byte by byte would be slow; the proxy sends nothing after the head until the
        # client speaks, so a bigger recv cannot swallow the target's bytes.
        chunk = sock.recv(4096)
        if not chunk:
            raise ProxyError(
                f"proxy {proxy.shown} closed the connection during CONNECT {authority}"
            )
        head += chunk
        if len(head) > MAX_CONNECT_HEAD:
            raise ProxyError(f"proxy {proxy.shown} sent an oversized answer to CONNECT")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ProxyError(f"proxy {proxy.shown} answered CONNECT with {status_line[:80]!r}")
    if not head.endswith(b"\r\n\r\n"):
        raise ProxyError(f"proxy {proxy.shown} sent bytes after its CONNECT answer")
    status = int(parts[1])
    if not 200 <= status < 300:
        hint = "; check the login in the proxy URL" if status == 407 else ""
        raise ProxyError(
            f"proxy {proxy.shown} refused CONNECT {authority}: HTTP {status} "
            f"{parts[2] if len(parts) > 2 else ''}".rstrip()
            + hint
        )


def _socks5_connect(sock: socket.socket, proxy: Proxy, host: str, port: int) -> None:
    login = bool(proxy.username or proxy.password)
    sock.sendall(b"\x05\x02\x00\x02" if login else b"\x05\x01\x00")
    version, method = _recv_exact(sock, 2, proxy)
    if version != 5:
        raise ProxyError(f"proxy {proxy.shown} does not speak SOCKS5")
    if method == 2 and login:
        user, password = proxy.username.encode(), proxy.password.encode()
        sock.sendall(bytes([1, len(user)]) + user + bytes([len(password)]) + password)
        if _recv_exact(sock, 2, proxy)[1] != 0:
            raise ProxyError(f"proxy {proxy.shown} refused the login in the proxy URL")
    elif method != 0:
        need = "a login (user:password@ in the proxy URL)" if method == 2 else "an unknown login"
        raise ProxyError(f"proxy {proxy.shown} wants {need}")
    sock.sendall(b"\x05\x01\x00" + _socks_address(host) + struct.pack("!H", port))
    _version, reply, _reserved, kind = _recv_exact(sock, 4, proxy)
    if reply != 0:
        reason = _SOCKS_REPLIES.get(reply, f"error {reply}")
        raise ProxyError(
            f"proxy {proxy.shown} could not connect to {_authority(host, port)}: {reason}"
        )
    # The address the proxy bound for us: read and dropped.
    size = {1: 4, 4: 16}.get(kind)
    if size is None:
        size = _recv_exact(sock, 1, proxy)[0]
    _recv_exact(sock, size + 2, proxy)


def _socks_address(host: str) -> bytes:
    try:
        return b"\x01" + socket.inet_pton(socket.AF_INET, host)
    except OSError:
        pass
    try:
        return b"\x04" + socket.inet_pton(socket.AF_INET6, host)
    except OSError:
        pass
    name = host.encode("idna")
    if len(name) > 255:
        raise ProxyError(f"host name too long for SOCKS5: {host[:80]}")
    return b"\x03" + bytes([len(name)]) + name


def _recv_exact(sock: socket.socket, size: int, proxy: Proxy) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ProxyError(
                f"proxy {proxy.shown} closed the connection during the SOCKS5 handshake"
            )
        data += chunk
    return data
