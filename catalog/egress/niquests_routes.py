"""niquests connections through catalog.egress.tunnel, for the `aniworld` package.

niquests (on urllib3-future) opens every connection through its session's resolver,
so a resolver of ours whose `create_connection` calls tunnel.open_connection gives
the package the same proxy decision and address check as our other clients, made for
the host actually contacted (after base-URL rebasing and on every redirect hop).
The resolver is bound to one scheme (http or https): HTTP_PROXY and HTTPS_PROXY
differ, and the resolver only sees host and port. Adapters built here ignore the
`proxies` niquests passes in (the environment is not read: sessions get
`trust_env = False`) and drop their pooled connections when the proxy settings change.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from niquests.adapters import HTTPAdapter
from niquests.models import PreparedRequest, Response
from urllib3_future.contrib.resolver import BaseResolver
from urllib3_future.contrib.resolver.system import SystemResolver

from catalog.egress import ssrf, tunnel
from catalog.egress.sessions import settings_key

PolicySource = Callable[[], ssrf.AddressPolicy]


class CheckedResolver(SystemResolver):
    """Connects through tunnel.open_connection with the policy `policy()` gives."""

    def __init__(self, scheme: str, policy: PolicySource) -> None:
        super().__init__()
        self._scheme = scheme
        self._policy = policy

    def recycle(self) -> BaseResolver:
        return CheckedResolver(self._scheme, self._policy)

    def create_connection(
        self,
        address: tuple[str, int],
        timeout: Any = None,
        source_address: Any = None,
        socket_options: Any = None,
        socket_kind: socket.SocketKind = socket.SOCK_STREAM,
        **_ignored: Any,
    ) -> socket.socket:
        host, port = address
        return tunnel.open_connection(
            self._scheme,
            host.strip("[]"),
            int(port),
            timeout=timeout if isinstance(timeout, (int, float)) else None,
            policy=self._policy(),
            socket_options=_tcp_options(socket_options or ()),
        )


def _tcp_options(options: Any) -> list[tuple[int, int, int]]:
    """urllib3-future's options: (level, name, value[, "tcp"|"udp"]); TCP's apply."""
    return [(opt[0], opt[1], opt[2]) for opt in options if len(opt) == 3 or opt[3].lower() == "tcp"]


class CheckedAdapter(HTTPAdapter):
    """An HTTPAdapter for one scheme whose connections go through CheckedResolver."""

    def __init__(self, scheme: str, policy: PolicySource) -> None:
        super().__init__(resolver=CheckedResolver(scheme, policy), disable_http3=True)
        self._routes: tuple[Any, ...] | None = None

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        routes = settings_key()
        if routes != self._routes:
            self.poolmanager.clear()
            self._routes = routes
        kwargs["proxies"] = {}  # chosen per connection by the resolver
        kwargs["multiplexed"] = False
        return super().send(request, *args, **kwargs)


class SchemeAdapters:
    """One CheckedAdapter per scheme, picked by the URL of each request."""

    def __init__(self, policy: PolicySource) -> None:
        self._by_scheme = {s: CheckedAdapter(s, policy) for s in ("http", "https")}

    def for_url(self, url: str) -> CheckedAdapter:
        return self._by_scheme["https" if url.lower().startswith("https:") else "http"]

    def close(self) -> None:
        for adapter in self._by_scheme.values():
            adapter.close()
