"""The whole stack as `make run` starts it, and the start-up bootstrap."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis
from django.contrib.auth.models import User

from tests.environment import free_port
from tests.processes import REPO, Proc, process_env, wait_until


def _health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)
    except OSError:
        return 0, {}


@pytest.mark.slow
def test_runstack_starts_redis_web_workers_beat_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port, redis_port = free_port(), free_port()
    env = process_env(
        DATA_DIR=str(tmp_path / "data"),
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",  # nothing listens: runstack starts one
        ANIBRIDGE_PORT=str(port),
        ANIBRIDGE_HOST="127.0.0.1",
        WEB_CONCURRENCY="1",
        MAX_CONCURRENCY="1",
    )
    env.pop("DATABASE_URL")  # the default: SQLite under DATA_DIR, as on a fresh machine
    stack = Proc([sys.executable, "manage.py", "runstack"], env, tmp_path / "stack.log")
    try:
        _status, body = wait_until(lambda: (h := _health(port))[0] == 200 and h, 90, "health 200")
        assert body["database"]["engine"] == "sqlite"
        assert sorted(q for qs in body["workers"]["nodes"].values() for q in qs) == [
            "default",
            "downloads",
        ]
        assert (tmp_path / "data" / "anibridge.sqlite3").exists()
        assert (tmp_path / "data" / "redis").is_dir()
        os.killpg(stack.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        stack.popen.wait(timeout=30)
    finally:
        log = stack.output()
        stack.stop()
    assert "Redis not reachable" in log and "starting redis-server" in log
    for name in ("web", "worker", "downloads", "beat"):
        assert f"{name} started" in log and f"{name} stopped" in log, log[-2000:]
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=redis_port, socket_connect_timeout=0.5).ping()
    leftovers = subprocess.run(
        ["pgrep", "-g", str(stack.pid)], capture_output=True, text=True
    ).stdout
    assert leftovers == ""


@pytest.mark.django_db(transaction=True)
def test_bootstrap_migrates_and_keeps_the_admin_account_in_line_with_the_env(
    tmp_path: Path,
) -> None:
    def bootstrap(password: str) -> subprocess.CompletedProcess[str]:
        env = process_env(ANIBRIDGE_ADMIN_USER="boss", ANIBRIDGE_ADMIN_PASSWORD=password)
        return subprocess.run(
            [sys.executable, "manage.py", "bootstrap"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    first = bootstrap("first-password")
    assert first.returncode == 0, first.stderr
    assert "admin account 'boss' created" in first.stdout
    assert User.objects.get(username="boss").check_password("first-password")
    again = bootstrap("second-password")
    assert "admin account 'boss' updated" in again.stdout
    user = User.objects.get(username="boss")
    assert user.check_password("second-password") and user.is_superuser and user.is_staff
    unchanged = bootstrap("second-password")
    assert "admin account" not in unchanged.stdout
