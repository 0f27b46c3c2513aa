"""What the browser playback test needs around AniBridge: the page server (a second
origin: tests/browser/player.html + hls.js from node_modules, results POSTed back),
headless Chromium, and Caddy with the recipe's site body (docker/caddy/anibridge.caddy);
the test CA is tests/tls_helpers.py's.

Chromium is told to stay on loopback: no background services, no QUIC, every host
name unresolvable but HTTPS_HOST (127.0.0.1), and to trust the test CA by the SPKI
hashes of its certificates. The HTTPS case needs a host name: browsers count
http://127.0.0.1 as secure, so an https:// page could load from it anyway, while an
http:// URI on any other host is mixed content and refused.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.environment import free_port
from tests.processes import REPO, Proc, wait_until
from tests.tls_helpers import Certificates

PLAYER = REPO / "tests" / "browser" / "player.html"
HLS_JS = REPO / "node_modules" / "hls.js" / "dist" / "hls.min.js"
CADDY_SITE = REPO / "docker" / "caddy" / "anibridge.caddy"
HTTPS_HOST = "anibridge.test"  # resolved to 127.0.0.1 by Chromium only


# --- the page server ---------------------------------------------------------------------


class Results:
    """What the pages reported, by case name."""

    def __init__(self) -> None:
        self.by_name: dict[str, dict[str, Any]] = {}
        self._changed = threading.Condition()

    def add(self, result: dict[str, Any]) -> None:
        with self._changed:
            self.by_name[str(result.get("name"))] = result
            self._changed.notify_all()

    def wait_for(self, names: set[str], timeout: float) -> dict[str, dict[str, Any]]:
        with self._changed:
            self._changed.wait_for(lambda: names <= set(self.by_name), timeout)
            return {n: self.by_name[n] for n in names if n in self.by_name}


class PageServer:
    """The player page's origin: http://127.0.0.1:<port>, or https:// with `certs`."""

    def __init__(self, results: Results, certs: Certificates | None = None) -> None:
        handler = type("Handler", (_PageHandler,), {"results": results})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.scheme = "http"
        if certs is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certs.cert, certs.key)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def page_url(self, cases: list[dict[str, Any]]) -> str:
        port = self.server.server_address[1]
        return f"{self.scheme}://127.0.0.1:{port}/player.html?cases={quote(json.dumps(cases))}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _PageHandler(BaseHTTPRequestHandler):
    results: Results
    files = {"/player.html": (PLAYER, "text/html"), "/hls.js": (HLS_JS, "text/javascript")}

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path not in self.files:
            self._send(404, b"not here", "text/plain")
            return
        file, content_type = self.files[path]
        self._send(200, file.read_bytes(), content_type)

    def do_POST(self) -> None:
        if self.path != "/result":
            self._send(404, b"not here", "text/plain")
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.results.add(json.loads(body))
        self._send(204, b"", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


# --- Chromium ----------------------------------------------------------------------------


def chromium_binary() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:  # a failure, never a skip: `make test` installs it
        raise AssertionError(
            "chromium is not installed: run `make test` (scripts/system-deps.sh installs it)"
        )
    return found


def chromium_args(profile: Path, certs: Certificates) -> list[str]:
    return [
        chromium_binary(),
        "--headless=new",
        "--no-sandbox",  # as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-domain-reliability",
        "--disable-breakpad",
        "--disable-quic",
        "--disable-features=MediaRouter,OptimizationHints,Translate,InterestFeedContentSuggestions",
        f"--host-resolver-rules=MAP {HTTPS_HOST} 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--autoplay-policy=no-user-gesture-required",
        "--mute-audio",
        f"--ignore-certificate-errors-spki-list={','.join(certs.spki_hashes)}",
        f"--user-data-dir={profile}",
    ]


@contextmanager
def chromium(url: str, profile: Path, certs: Certificates, log: Path) -> Iterator[Proc]:
    """Headless Chromium showing `url` until the block ends."""
    if not HLS_JS.is_file():
        raise AssertionError(f"{HLS_JS} is missing: run `make test` (it runs `npm ci`)")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(profile)}
    proc = Proc([*chromium_args(profile, certs), url], env, log)
    try:
        yield proc
    finally:
        proc.stop(timeout=5)


# --- Caddy -------------------------------------------------------------------------------


@contextmanager
def caddy(upstream: str, certs: Certificates, workdir: Path) -> Iterator[str]:
    """Caddy on a free loopback port serving docker/caddy/anibridge.caddy over HTTPS with
    the test certificate, in front of `upstream` (host:port); yields its base URL
    (https://HTTPS_HOST:<port>)."""
    binary = shutil.which("caddy")
    if binary is None:
        raise AssertionError("caddy is not installed: run `make test` (system-deps installs it)")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "Caddyfile"
    config.write_text(
        "{\n"
        "\tadmin off\n"
        "\tauto_https disable_redirects\n"
        f"\thttp_port {free_port()}\n"
        f"\thttps_port {port}\n"
        f"\tstorage file_system {workdir / 'data'}\n"
        "\tservers {\n\t\tprotocols h1 h2\n\t}\n"
        "}\n"
        f"https://{HTTPS_HOST}:{port} {{\n"
        "\tbind 127.0.0.1\n"
        f"\ttls {certs.cert} {certs.key}\n"
        f"\timport {CADDY_SITE}\n"
        "}\n"
    )
    env = {
        "HOME": str(workdir),
        "XDG_DATA_HOME": str(workdir),
        "XDG_CONFIG_HOME": str(workdir),
        "ANIBRIDGE_UPSTREAM": upstream,
    }
    proc = Proc(
        [binary, "run", "--config", str(config), "--adapter", "caddyfile"],
        env,
        workdir / "caddy.log",
    )
    try:
        wait_until(
            lambda: (
                "serving initial configuration" in proc.output() or proc.popen.poll() is not None
            ),
            20,
            "caddy to start",
        )
        if proc.popen.poll() is not None:
            raise AssertionError("caddy exited at start:\n" + proc.output()[-3000:])
        yield f"https://{HTTPS_HOST}:{port}"
    finally:
        proc.stop(timeout=5)
