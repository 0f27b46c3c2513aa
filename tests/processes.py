"""Start real AniBridge processes (Celery worker, the whole stack) for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from django.db import connection

from tests.netguard import netguard_env

REPO = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """A URL for the database the current test uses (the test database)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def process_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DATABASE_URL=database_url(), PYTHONUNBUFFERED="1")
    env.update(netguard_env())
    env.update(extra)
    return env


def wait_until(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class Proc:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self._log = log.open("wb")
        self.popen = subprocess.Popen(
            args,
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 15) -> None:
        if self.popen.poll() is None:
            self.kill_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill_group(signal.SIGKILL)
                self.popen.wait(timeout=5)
        # Pool children may outlive a killed parent for a moment: reap the group.
        self.kill_group(signal.SIGKILL)
        self._log.close()


def node_is_up(node: str, redis_url: str | None = None) -> bool:
    """Whether worker `node` announced itself (in this process's Redis, or `redis_url`'s)."""
    if redis_url is not None:
        import redis

        from anibridge_site.workers import PRESENCE_PREFIX

        client = redis.Redis.from_url(redis_url, socket_connect_timeout=1)
        try:
            return any(client.scan_iter(match=f"{PRESENCE_PREFIX}{node}@*", count=100))
        finally:
            client.close()
    from anibridge_site.workers import live_workers

    return any(name.startswith(node + "@") for name in live_workers())


@contextmanager
def celery_worker(
    tmp_path: Path,
    queues: str = "default,downloads",
    concurrency: int = 2,
    name: str = "test",
    env: dict[str, str] | None = None,
    wrapper: tuple[str, ...] = (),
) -> Iterator[Proc]:
    """A worker started with `env` added to this process's; waits until it announced itself
    (in the Redis that env's REDIS_URL names, when it names one). `wrapper`: a command
    that runs the worker's command line (which it gets as its arguments)."""
    node = f"{name}-{uuid.uuid4().hex[:8]}"
    redis_url = (env or {}).get("REDIS_URL")
    args = [
        *wrapper,
        sys.executable,
        "-m",
        "celery",
        "-A",
        "anibridge_site",
        "worker",
        "-Q",
        queues,
        "-n",
        f"{node}@%h",
        "-c",
        str(concurrency),
        "-P",
        "prefork",
        "--include",
        "tests.worker_tasks",
        "-l",
        "INFO",
        "--without-gossip",
        "--without-mingle",
    ]
    proc = Proc(
        args, process_env(**(env or {})), tmp_path / f"worker-{name}-{time.monotonic_ns()}.log"
    )
    try:
        wait_until(
            lambda: node_is_up(node, redis_url) or proc.popen.poll() is not None,
            60,
            f"worker {node}",
        )
        if proc.popen.poll() is not None:
            raise AssertionError("celery worker exited at start:\n" + proc.output()[-3000:])
        yield proc
    finally:
        proc.stop()
