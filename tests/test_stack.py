"""The whole stack as `make run` starts it, and the start-up bootstrap."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from functools import partial
from pathlib import Path

import pytest
import redis
from django.contrib.auth.models import User

from anibridge_site.workers import PRESENCE_PREFIX
from tests.environment import free_port
from tests.processes import REPO, Proc, process_env, wait_until
from tests.resilience.stack import stable_port


def _health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)
    except OSError:
        return 0, {}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _stack_env(tmp_path: Path, port: int, redis_port: int) -> dict[str, str]:
    env = process_env(
        DATA_DIR=str(tmp_path / "data"),
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",  # nothing listens: runstack starts one
        ANIBRIDGE_PORT=str(port),
        ANIBRIDGE_HOST="127.0.0.1",
        MAX_CONCURRENCY="1",
    )
    env.pop("DATABASE_URL")  # the default: SQLite under DATA_DIR, as on a fresh machine
    return env


@pytest.mark.slow
def test_runstack_starts_redis_web_worker_and_scheduler_and_stops_on_ctrl_c(
    tmp_path: Path,
) -> None:
    port, redis_port = free_port(), free_port()
    stack = Proc(
        [sys.executable, "manage.py", "runstack"],
        _stack_env(tmp_path, port, redis_port),
        tmp_path / "stack.log",
    )
    try:
        _status, body = wait_until(lambda: (h := _health(port))[0] == 200 and h, 90, "health 200")
        assert body["database"]["engine"] == "sqlite"
        assert sorted(q for qs in body["workers"]["nodes"].values() for q in qs) == [
            "default",
            "downloads",
        ]
        assert {name: p["restarts"] for name, p in body["processes"].items()} == {
            "redis": 0,
            "web": 0,
            "worker": 0,
        }
        pids = [p["pid"] for p in _state(tmp_path)["processes"].values()]
        assert (tmp_path / "data" / "anibridge.sqlite3").exists()
        assert (tmp_path / "data" / "redis").is_dir()
        # The scheduler runs inside the worker and keeps its schedule under DATA_DIR.
        wait_until(
            lambda: list((tmp_path / "data").glob("celerybeat-schedule*")), 30, "beat schedule"
        )
        os.killpg(stack.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        stack.popen.wait(timeout=40)
    finally:
        log = stack.output()
        stack.stop()
    assert "Redis not reachable" in log and "starting redis-server" in log
    for name in ("redis", "web", "worker"):
        assert re.search(rf"{name} +\| started \(pid", log), log[-2000:]
        assert re.search(rf"{name} +\| stopped", log), log[-2000:]
    assert "beat: scheduler running inside this worker" in log
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=redis_port, socket_connect_timeout=0.5).ping()
    assert [pid for pid in pids if _alive(pid)] == []
    assert stack.popen.returncode == 0


def _state(tmp_path: Path) -> dict:
    [path] = (tmp_path / "data").glob("supervisor-*.json")
    return json.loads(path.read_text())


@pytest.mark.slow
def test_a_killed_process_comes_back_within_10_s_and_the_others_keep_answering(
    tmp_path: Path,
) -> None:
    # Ports below the ephemeral range: web and Redis start again on theirs.
    port, redis_port = stable_port(), stable_port()
    stack = Proc(
        [sys.executable, "manage.py", "runstack"],
        _stack_env(tmp_path, port, redis_port),
        tmp_path / "stack.log",
    )
    client = redis.Redis(port=redis_port, socket_connect_timeout=0.5, socket_timeout=2)
    try:
        wait_until(lambda: _health(port)[0] == 200, 90, "health 200")
        for round_number, victim in enumerate(("worker", "web", "redis"), 1):
            before = {n: p["pid"] for n, p in _state(tmp_path)["processes"].items()}
            os.kill(before[victim], signal.SIGKILL)
            killed_at = time.monotonic()
            others = [n for n in before if n != victim]
            # The others keep running and answering while the victim is down.
            if victim != "web":
                assert _health(port)[0] in (200, 503)
            if victim != "redis":
                assert client.ping()
            back = wait_until(
                partial(_is_back, tmp_path, port, redis_port, victim, before), 10, victim
            )
            took = time.monotonic() - killed_at
            now = _state(tmp_path)["processes"]
            assert {n: now[n]["pid"] for n in others} == {n: before[n] for n in others}
            assert took < 10, f"{victim} took {took:.1f}s"
            _status, body = wait_until(
                lambda: (h := _health(port))[0] == 200 and h, 30, "health after " + victim
            )
            assert body["processes"][victim]["restarts"] == 1
            assert body["processes"][victim]["last_exit"] == "killed by SIGKILL"
            assert back and round_number == sum(p["restarts"] for p in body["processes"].values())
    finally:
        log = stack.output()
        stack.stop()
    for victim in ("worker", "web", "redis"):
        assert re.search(rf"{victim} +\| exited \(killed by SIGKILL\) after \d+s; restart #1", log)
        assert re.search(rf"{victim} +\| restarted \(pid \d+, restart #1\)", log)


def _is_back(
    tmp_path: Path, port: int, redis_port: int, victim: str, before: dict[str, int]
) -> bool:
    """The victim runs again under a new pid and does its job."""
    info = _state(tmp_path)["processes"][victim]
    if not info["running"] or info["pid"] == before[victim]:
        return False
    if victim == "web":
        return _health(port)[0] in (200, 503)
    if victim == "redis":
        return _health(port)[1].get("redis", {}).get("ok", False)
    # The worker announced itself again, from its new process.
    client = redis.Redis(port=redis_port, socket_connect_timeout=0.5)
    keys = list(client.scan_iter(match=PRESENCE_PREFIX + "*"))
    nodes = [json.loads(raw) for raw in client.mget(keys) if raw is not None] if keys else []
    return any(node.get("pid") == info["pid"] for node in nodes)


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
