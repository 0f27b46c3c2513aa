"""requests sessions whose connections go through catalog.egress.tunnel.

Site pages and SkyHook are fetched with requests. Its own proxy handling reads the
environment at request time and decides per URL before redirects; ours is made per
connection, for the host actually contacted, from the settings: the session ignores
the environment (`trust_env = False`) and every new connection is opened by
tunnel.open_connection, which checks the address (catalog.egress.ssrf.site_policy:
the allow-list plus the configured base URLs) and tunnels through the proxy if
there is one. A refused address raises ssrf.BlockedTarget out of the request.
"""

from __future__ import annotations

import socket
from typing import Any, cast

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from catalog.egress import ssrf, tunnel


def settings_key() -> tuple[Any, ...]:
    """What a pooled connection's route depends on: when it changes (a test, a
    reload), pooled connections are dropped rather than reused on the old route."""
    cfg = settings.CONFIG
    return (
        cfg.http_proxy,
        cfg.https_proxy,
        cfg.all_proxy,
        cfg.no_proxy,
        cfg.strm_proxy_upstream_allowlist,
        ssrf.site_policy(),
    )


def reason(exc: BaseException) -> str | None:
    """The one-line message of a refused address or failed proxy somewhere in the
    chain of wrappers requests and urllib3 put around it; None if there is none."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (ssrf.BlockedTarget, tunnel.ProxyError)):
            return str(current)
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        todo.extend(a for a in current.args if isinstance(a, BaseException))
        inner = getattr(current, "reason", None)
        if isinstance(inner, BaseException):
            todo.append(inner)
    return None


def failure(what: str, exc: BaseException, hint: str) -> str:
    """One line for a request to `what` that got no answer: refused or not contacted
    (with the reason), or unreachable (with the error's type and `hint`)."""
    if isinstance(exc, ssrf.BlockedTarget):
        return f"{what} not contacted: {exc}"
    found = reason(exc)
    if found is not None:
        return f"{what} is unreachable: {found}"
    return f"{what} is unreachable ({type(exc).__name__}); {hint}"


def _open(conn: HTTPConnection, scheme: str) -> socket.socket:
    try:
        return tunnel.open_connection(
            scheme,
            conn.host.strip("[]"),
            int(conn.port or (443 if scheme == "https" else 80)),
            timeout=conn.timeout if isinstance(conn.timeout, (int, float)) else None,
            policy=ssrf.site_policy(),
            socket_options=cast(list[tuple[int, int, int]], conn.socket_options or []),
        )
    except TimeoutError as exc:
        raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out") from exc
    except OSError as exc:
        raise NewConnectionError(conn, f"Failed to establish a new connection: {exc}") from exc


class _CheckedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _open(self, "http")


class _CheckedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _open(self, "https")


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class CheckedAdapter(HTTPAdapter):
    """Connections through tunnel.open_connection; requests' own proxy logic unused."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._routes: tuple[Any, ...] | None = None
        super().__init__(*args, **kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _CheckedHTTPPool,
            "https": _CheckedHTTPSPool,
        }

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        routes = settings_key()
        # Settings change only in tests and reloads; pools are per session and thread.
        if routes != self._routes:
            self.poolmanager.clear()
            self._routes = routes
        kwargs["proxies"] = {}  # chosen per connection, see the module doc
        return super().send(request, *args, **kwargs)


def checked_session() -> requests.Session:
    """A requests.Session that connects only through catalog.egress.tunnel."""
    session = requests.Session()
    session.trust_env = False
    adapter = CheckedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
