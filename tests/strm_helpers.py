"""Shared by the tests/test_strm_*.py suites: proxy settings, an origin with hand-made
answers, and the URL plumbing between a rewritten playlist and the proxy's two front
ends (the Django views through the test client, strm.views.serve through WsgiClient)."""

from __future__ import annotations

import dataclasses
import http.client
import re
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client, RequestFactory

# Imported here, not when first used: it runs django.setup(), which configures logging
# anew and would take caplog's handler away in the middle of a test.
from anibridge_site.wsgi import application
from catalog.identity import EpisodeIdentity
from strm.models import StrmUrlMapping
from tests.environment import free_port
from tests.fakeweb.server import FakeServer, Request, Response, Traffic
from tests.processes import Proc, process_env, wait_until

SECRET = "strm-test-secret"
BASE = "http://testserver"
PROXY_URI = re.compile(r"(?:https?://[^/\s\"]+)?/strm/proxy/[^\s\"]+")

Handler = Callable[[Request], Response]


def accept_in_background(listener: socket.socket, handle: Callable[[socket.socket], None]) -> None:
    """`handle` each connection to `listener`, in a daemon thread, until it is closed."""

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            handle(conn)

    threading.Thread(target=accept, daemon=True).start()


class Listener:
    """Counts TCP connections to one loopback address: a refused target must get none."""

    def __init__(self, host: str, port: int = 0) -> None:
        self.sock = socket.create_server((host, port))
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        accept_in_background(self.sock, self._accepted)

    def _accepted(self, conn: socket.socket) -> None:
        self.accepted += 1
        conn.close()

    def url(self, path: str = "/x.ts") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def close(self) -> None:
        self.sock.close()


def use_proxy_config(monkeypatch: pytest.MonkeyPatch, **changes: object) -> None:
    """settings.CONFIG as in production proxy mode, plus `changes` (undone after the test)."""
    values: dict[str, Any] = {
        "strm_proxy_mode": "proxy",
        "strm_public_base_url": BASE,
        "strm_proxy_auth": "token",
        "strm_proxy_secret": SECRET,
        "strm_proxy_upstream_allowlist": ("127.0.0.1",),
        "strm_proxy_cache_ttl_seconds": 0,
    }
    values.update(changes)
    monkeypatch.setattr(settings, "CONFIG", dataclasses.replace(settings.CONFIG, **values))


class Origin(FakeServer):
    """An upstream with per-path handlers (fault knobs and counters from FakeServer)."""

    def __init__(self, traffic: Traffic | None = None) -> None:
        super().__init__("origin", traffic or Traffic())
        self.routes: dict[str, Handler] = {}

    def route(self, path: str, handler: Handler) -> str:
        self.routes[path] = handler
        return self.url(path)

    def serve(self, path: str, body: bytes, content_type: str, **headers: str) -> str:
        return self.route(path, lambda _r: Response(200, body, content_type, dict(headers)))

    def handle(self, request: Request) -> Response:
        handler = self.routes.get(request.path)
        if handler is None:
            return Response(404, b"no such path", "text/plain")
        return handler(request)


def store_resolution(
    identity: EpisodeIdentity, url: str, headers: dict[str, str] | None = None
) -> StrmUrlMapping:
    """What a resolve would have left behind: the proxy reads it before resolving."""
    from django.utils import timezone

    mapping, _ = StrmUrlMapping.objects.update_or_create(
        site=identity.site,
        slug=identity.slug,
        season=identity.season,
        episode=identity.episode,
        language=identity.language,
        provider=identity.provider or "",
        defaults={
            "resolved_url": url,
            "resolved_headers": headers or {},
            "provider_used": identity.provider or "VOE",
            "resolved_at": timezone.now(),
        },
    )
    return mapping


def proxy_uris(playlist: str) -> list[str]:
    """Every proxied URI in a rewritten playlist, in order (lines and URI attributes)."""
    return PROXY_URI.findall(playlist)


def local_path(url: str) -> str:
    """A proxy URL as the Django test client wants it (path + query, no host)."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclasses.dataclass
class WsgiResponse:
    status_code: int
    headers: dict[str, str]
    content: bytes
    streaming = False


class WsgiClient:
    """Requests through anibridge_site.wsgi.application, as gunicorn passes them on
    (without a socket to splice into): the proxy URLs' plain WSGI front end."""

    def get(self, path: str, headers: dict[str, str] | None = None) -> WsgiResponse:
        return self._call("GET", path, headers or {})

    def head(self, path: str, headers: dict[str, str] | None = None) -> WsgiResponse:
        return self._call("HEAD", path, headers or {})

    def post(self, path: str, headers: dict[str, str] | None = None) -> WsgiResponse:
        return self._call("POST", path, headers or {})

    @staticmethod
    def _call(method: str, path: str, headers: dict[str, str]) -> WsgiResponse:
        environ = RequestFactory().generic(method, path, headers=headers).environ
        started: list[tuple[str, list[tuple[str, str]]]] = []
        body = application(environ, lambda status, items: started.append((status, items)))
        try:
            content = b"".join(body)
        finally:
            getattr(body, "close", lambda: None)()
        status, items = started[0]
        return WsgiResponse(int(status.split()[0]), dict(items), content)


ProxyClient = Client | WsgiClient


def get(client: ProxyClient, url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """GET through a test client; streaming bodies are read to the end."""
    return _call(client.get, url, headers)


def head(client: ProxyClient, url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    return _call(client.head, url, headers)


def _call(
    method: Callable[..., object], url: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    response = method(local_path(url), headers=headers)
    status = int(response.status_code)  # type: ignore[attr-defined]
    if getattr(response, "streaming", False):
        # Reading to the end closes the response (the test client wraps the iterator).
        body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    else:
        body = bytes(response.content)  # type: ignore[attr-defined]
    return status, dict(response.headers), body  # type: ignore[attr-defined]


@contextmanager
def proxy_server(log: Path, public_host: str = "127.0.0.1", **env: str) -> Iterator[str]:
    """gunicorn with 2 gevent workers (production settings, tests/strm_gunicorn_conf.py)
    serving the app in proxy mode on a free port, `env` added; yields its base URL.
    `public_host`: the host of its STRM_PUBLIC_BASE_URL (it listens on 127.0.0.1)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings_env = {
        "ANIBRIDGE_HOST": "127.0.0.1",
        "ANIBRIDGE_PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "LOG_LEVEL": "INFO",
        "STRM_PROXY_MODE": "proxy",
        "STRM_PUBLIC_BASE_URL": f"http://{public_host}:{port}",
        "STRM_PROXY_AUTH": "token",
        "STRM_PROXY_SECRET": SECRET,
        "STRM_PROXY_UPSTREAM_ALLOWLIST": "127.0.0.1",
    }
    args = [sys.executable, "-m", "gunicorn", "-c", "tests/strm_gunicorn_conf.py"]
    proc = Proc([*args, "anibridge_site.wsgi"], process_env(**{**settings_env, **env}), log)
    try:
        # Connecting before gunicorn listens could self-connect to the ephemeral port.
        booted = lambda: "Booting worker" in proc.output() or proc.popen.poll() is not None  # noqa: E731
        wait_until(booted, 30, "gunicorn to listen")
        wait_until(lambda: _answers(port) or proc.popen.poll() is not None, 30, "gunicorn")
        if proc.popen.poll() is not None:
            raise AssertionError("gunicorn exited at start:\n" + proc.output()[-3000:])
        yield base
    finally:
        proc.stop()
        print(proc.output()[-6000:])  # shown by pytest when a test of the module failed


def _answers(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/strm/stream")
        return conn.getresponse().status == 400
    except OSError:
        return False
