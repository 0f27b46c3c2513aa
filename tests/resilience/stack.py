"""Real processes for the resilience tests: a Redis server of their own, gunicorn
(restartable on the same port), and a plain HTTP client.

Ports come from below the kernel's ephemeral range: a server that is down while
clients keep reconnecting to it must not find its port taken by one of their own
outgoing sockets (or by a TCP self-connect) when it starts again.
"""

from __future__ import annotations

import http.client
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
import redis

from tests.environment import start_redis
from tests.processes import Proc, process_env, wait_until
from tests.strm_helpers import SECRET, use_proxy_config

PRODUCTION_GUNICORN_CONFIG = "anibridge_site/gunicorn.conf.py"
# Production's settings with short upstream timeouts (tests/resilience/gunicorn_test_conf.py).
FAST_TIMEOUTS_GUNICORN_CONFIG = "tests/resilience/gunicorn_test_conf.py"


def stable_port() -> int:
    """A free port outside the ephemeral range, safe to stop and start a server on."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(200):
        port = random.randint(max(1024, low // 2), low - 1)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


class RedisServer:
    """A redis-server on a fixed port that a test may kill and start again.

    No persistence (like tests.environment): a restart loses every key, the worst
    case for queued Celery messages.
    """

    def __init__(self, data_dir: Path) -> None:
        self.port = stable_port()
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = start_redis(self.port, self.data_dir)

    def kill(self) -> None:
        """Stop it the hard way (a crash, an OOM kill, a container restart)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=2)


class WebServer:
    """gunicorn with gevent workers serving the app, stoppable and restartable on one port."""

    def __init__(
        self,
        log_dir: Path,
        env: dict[str, str],
        *,
        workers: int = 1,
        config: str = PRODUCTION_GUNICORN_CONFIG,
    ) -> None:
        self.port = stable_port()
        self.log_dir = log_dir
        self.config = config
        self.env = process_env(
            ANIBRIDGE_HOST="127.0.0.1",
            ANIBRIDGE_PORT=str(self.port),
            WEB_CONCURRENCY=str(workers),
            **env,
        )
        self.proc: Proc | None = None
        self.stopping: list[Proc] = []
        self.logs: list[Path] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        log = self.log_dir / f"gunicorn-{len(self.logs)}.log"
        self.logs.append(log)
        args = [sys.executable, "-m", "gunicorn", "-c", self.config, "anibridge_site.wsgi"]
        proc = self.proc = Proc(args, self.env, log)
        # Until this one has bound the port and forked its workers, an old one that is
        # shutting down may still answer.
        wait_until(
            lambda: self.worker_pids() or proc.popen.poll() is not None,
            timeout,
            "gunicorn to fork its workers",
        )
        wait_until(
            lambda: self._answers() or proc.popen.poll() is not None, timeout, "gunicorn to answer"
        )
        if proc.popen.poll() is not None:
            raise AssertionError("gunicorn exited at start:\n" + proc.output()[-3000:])

    def _answers(self) -> bool:
        try:
            return get(self.base_url + "/api/v2/app/version", timeout=2).status == 200
        except OSError:
            return False

    def signal(self, sig: int) -> Proc:
        """Send `sig` to the master (SIGTERM: graceful stop) or, for SIGKILL, to the whole
        group; returns the process, which may still finish what it serves."""
        proc = self.proc
        assert proc is not None, "gunicorn is not running"
        if sig == signal.SIGKILL:
            proc.kill_group(signal.SIGKILL)
        else:
            os.kill(proc.pid, sig)
        self.stopping.append(proc)
        self.proc = None
        return proc

    def stop(self) -> None:
        """Stop this gunicorn and reap any earlier one still shutting down."""
        if self.proc is not None:
            self.signal(signal.SIGTERM)
        for proc in self.stopping:
            proc.stop()
        self.stopping.clear()

    def output(self) -> str:
        return "".join(log.read_text(errors="replace") for log in self.logs if log.exists())

    def worker_pids(self) -> list[int]:
        """The gunicorn worker processes (children of the master)."""
        if self.proc is None:
            return []
        master = self.proc.pid
        children = Path(f"/proc/{master}/task/{master}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []

    def workers_rss(self) -> int:
        """Resident memory of all gunicorn workers together, in bytes."""
        total = 0
        for pid in self.worker_pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        return total


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


def get(url: str, headers: dict[str, str] | None = None, timeout: float = 20) -> Answer:
    """One GET on a new connection, body read to the end."""
    return request("GET", url, headers=headers, timeout=timeout)


def post(url: str, form: dict[str, str], timeout: float = 20) -> Answer:
    """One form POST on a new connection (what Sonarr sends the qB API)."""
    body = urlencode(form).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return request("POST", url, headers=headers, body=body, timeout=timeout)


def request(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 20,
) -> Answer:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=timeout)
    started = time.monotonic()
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return Answer(
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            data,
            time.monotonic() - started,
        )
    finally:
        conn.close()


def hls_uris(playlist: bytes) -> list[str]:
    """The URI lines of a playlist (the proxy writes them absolute)."""
    return [
        line.strip()
        for line in playlist.decode().splitlines()
        if line.strip() and not line.startswith("#")
    ]


def local_part(url: str) -> str:
    """Path and query of `url`, for a request on an open connection."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@contextmanager
def proxy_web(
    log_dir: Path, monkeypatch: pytest.MonkeyPatch, *, workers: int = 1, **env: str
) -> Iterator[WebServer]:
    """A running WebServer in STRM proxy mode with signed URLs, and this process's
    config to match (so tests can build the URLs the server accepts)."""
    server = WebServer(log_dir, {}, workers=workers)
    server.env.update(
        STRM_PROXY_MODE="proxy",
        STRM_PROXY_AUTH="token",
        STRM_PROXY_SECRET=SECRET,
        STRM_PUBLIC_BASE_URL=server.base_url,
        **env,
    )
    use_proxy_config(monkeypatch, strm_public_base_url=server.base_url)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def fast_proxy_web(
    log_dir: Path, site_env: dict[str, str], *, workers: int = 1
) -> Iterator[WebServer]:
    """A running WebServer in STRM proxy mode with 2 s upstream timeouts
    (FAST_TIMEOUTS_GUNICORN_CONFIG), its sites at `site_env` (FakeWeb.app_env()). The end
    of its log is printed when it stops: pytest shows it for a failed test."""
    web = WebServer(log_dir, {}, workers=workers, config=FAST_TIMEOUTS_GUNICORN_CONFIG)
    web.env.update(
        site_env,
        STRM_PROXY_MODE="proxy",
        STRM_PROXY_AUTH="token",
        STRM_PROXY_SECRET=SECRET,
        STRM_PUBLIC_BASE_URL=web.base_url,
        LOG_LEVEL="INFO",
    )
    web.start()
    try:
        yield web
    finally:
        web.stop()
        print(web.output()[-4000:])
