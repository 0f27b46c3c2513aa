"""Shared by the benchmarks: a private stack (DATA_DIR, Redis, gunicorn, worker) and timing.

Everything runs on 127.0.0.1 and stops when the benchmark ends.
"""

from __future__ import annotations

import atexit
import http.client
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.environment import free_port, start_redis  # noqa: E402


def private_environment() -> Path:
    """A temporary DATA_DIR and Redis for this process, set before Django reads settings."""
    root = Path(tempfile.mkdtemp(prefix="anibridge-bench-"))
    atexit.register(shutil.rmtree, root, True)
    port = free_port()
    redis = start_redis(port, root / "redis")
    atexit.register(redis.terminate)
    os.environ.update(
        DATA_DIR=str(root / "data"),
        REDIS_URL=f"redis://127.0.0.1:{port}/0",
        ANIBRIDGE_ENV_FILE=str(root / "no.env"),
        DJANGO_SETTINGS_MODULE="anibridge_site.settings",
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return root


def start_process(args: list[str], log: Path, **env: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def stop() -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    atexit.register(stop)
    return proc


def start_web(root: Path, workers: int = 2) -> int:
    port = free_port()
    start_process(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "anibridge_site/gunicorn.conf.py",
            "anibridge_site.wsgi",
        ],
        root / "web.log",
        ANIBRIDGE_PORT=str(port),
        ANIBRIDGE_HOST="127.0.0.1",
        WEB_CONCURRENCY=str(workers),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v2/app/version")
            if conn.getresponse().status == 200:
                return port
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start: see " + str(root / "web.log"))


def start_worker(root: Path, *extra: str, concurrency: int = 1) -> None:
    """A Celery worker on the default queue; returns once it announced itself."""
    start_process(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "anibridge_site",
            "worker",
            "-Q",
            "default",
            "-c",
            str(concurrency),
            "-n",
            "bench@%h",
            "--without-gossip",
            "--without-mingle",
            *extra,
        ],
        root / "worker.log",
    )
    from anibridge_site.workers import live_workers

    deadline = time.monotonic() + 60
    while not live_workers():
        if time.monotonic() > deadline:
            raise SystemExit("the Celery worker did not start: see " + str(root / "worker.log"))
        time.sleep(0.2)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def load(port: int, path: str, clients: int, requests_each: int) -> list[float]:
    """Latencies in ms of `clients` keep-alive clients each sending `requests_each` GETs."""
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        for _ in range(requests_each):
            start = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - start) * 1000)
            if response.status != 200:
                errors.append(f"{path}: HTTP {response.status}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"{len(errors)} failed requests, first: {errors[0]}")
    return latencies


def report(name: str, latencies: list[float], elapsed: float | None = None) -> dict[str, float]:
    stats = {
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "mean": statistics.fmean(latencies),
        "n": float(len(latencies)),
    }
    rate = f"  {len(latencies) / elapsed:8.1f} req/s" if elapsed else ""
    print(
        f"{name:<44} p50 {stats['p50']:8.2f} ms  p99 {stats['p99']:8.2f} ms  "
        f"n={len(latencies)}{rate}"
    )
    return stats


def timed(fn: Callable[[], list[float]]) -> tuple[list[float], float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start
