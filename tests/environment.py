"""Loaded with `-p tests.environment` before Django settings are read: gives the test
process its own DATA_DIR and its own Redis server, so tests never touch a user's data
or Redis, and every xdist worker is isolated from the others."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    server = shutil.which("redis-server")
    if server is None:
        raise RuntimeError(
            "redis-server is not installed: run `make test` (it installs it) "
            "or apt-get install redis-server"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            server,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(data_dir),
        ],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return proc
        except redis.RedisError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"test redis-server did not start on port {port}") from None
            time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def _setup() -> None:
    root = Path(tempfile.mkdtemp(prefix="anibridge-test-"))
    atexit.register(shutil.rmtree, root, True)
    os.environ["DATA_DIR"] = str(root / "data")
    os.environ["ANIBRIDGE_ENV_FILE"] = str(root / "no.env")  # a developer's .env must not leak in
    os.environ["TEST_REDIS_PORT"] = str(port := free_port())
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    proc = start_redis(port, root / "redis")
    atexit.register(_stop, proc)


_setup()
