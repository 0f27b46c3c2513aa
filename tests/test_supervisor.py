"""anibridge_site/supervisor.py with small shell processes: restarts, backoff, state, stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from anibridge_site import supervisor
from anibridge_site.supervisor import Spec, backoff, describe_exit, parse_specs
from tests.processes import REPO, wait_until


def test_backoff_doubles_from_one_second_up_to_thirty() -> None:
    assert [backoff(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 30, 30, 30]


def test_exit_descriptions_name_the_signal() -> None:
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(3) == "exit code 3"


def test_specs_are_name_equals_command() -> None:
    assert parse_specs(["web=gunicorn -c x.py app", "w = celery worker"]) == [
        Spec("web", "gunicorn -c x.py app"),
        Spec("w", "celery worker"),
    ]
    with pytest.raises(SystemExit, match="is not NAME=COMMAND"):
        parse_specs(["no command"])


def run_in_subprocess(tmp_path: Path, *processes: str) -> subprocess.Popen[bytes]:
    """The supervisor as runstack starts it: its own script, its own process."""
    return subprocess.Popen(
        [
            sys.executable,
            "-P",
            str(Path(supervisor.__file__)),
            "--state",
            str(tmp_path / "state.json"),
            "--cwd",
            str(tmp_path),
            *processes,
        ],
        stdout=(tmp_path / "out.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def read_state(tmp_path: Path) -> dict:
    try:
        return json.loads((tmp_path / "state.json").read_text())
    except (OSError, ValueError):
        return {}


def test_a_process_that_exits_is_restarted_with_backoff_and_the_others_keep_running(
    tmp_path: Path,
) -> None:
    proc = run_in_subprocess(tmp_path, "steady=sleep 60", "broken=echo up; exit 3")
    try:
        first = wait_until(lambda: read_state(tmp_path).get("processes"), 10, "state file")
        steady_pid = first["steady"]["pid"]
        # Exits at once every time: restarts after 1 s, then 2 s, then 4 s.
        state = wait_until(
            lambda: (s := read_state(tmp_path)) and s["processes"]["broken"]["restarts"] >= 3 and s,
            15,
            "three restarts",
        )
        assert state["processes"]["broken"]["last_exit"] == "exit code 3"
        assert state["processes"]["steady"] == {
            "pid": steady_pid,
            "running": True,
            "restarts": 0,
            "last_exit": "",
            "last_restart": None,
        }
        os.kill(steady_pid, 0)  # still the same process
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    log = (tmp_path / "out.log").read_text()
    assert "broken | up" in log
    assert "broken | exited (exit code 3) after 0s; restart #1 in 1s" in log
    assert "broken | exited (exit code 3) after 0s; restart #2 in 2s" in log
    assert "broken | restarted (pid " in log and "restart #2)" in log
    assert "steady | stopped (killed by SIGTERM)" in log
    assert not (tmp_path / "state.json").exists()  # no stale state for /health
    with pytest.raises(ProcessLookupError):
        os.kill(steady_pid, 0)


def test_what_a_killed_process_started_dies_with_it_before_the_restart(tmp_path: Path) -> None:
    # The leader starts a child (as the gunicorn master starts workers), then we kill it.
    proc = run_in_subprocess(tmp_path, "leader=sleep 300 & echo child $!; wait")
    try:
        leader = wait_until(
            lambda: read_state(tmp_path).get("processes", {}).get("leader", {}).get("pid"),
            10,
            "leader",
        )
        child = int(
            wait_until(
                lambda: next(
                    (
                        line.split()[-1]
                        for line in (tmp_path / "out.log").read_text().splitlines()
                        if "| child " in line
                    ),
                    None,
                ),
                10,
                "the child's pid",
            )
        )
        os.kill(leader, signal.SIGKILL)
        wait_until(lambda: not _alive(child), 5, "the orphan to be killed")
        state = wait_until(
            lambda: (
                (s := read_state(tmp_path)["processes"]["leader"])["restarts"] == 1
                and s["running"]
                and s
            ),
            10,
            "the restart",
        )
        assert state["pid"] != leader and state["last_exit"] == "killed by SIGKILL"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_stop_sends_sigterm_then_sigkill_to_a_process_that_ignores_it(tmp_path: Path) -> None:
    proc = run_in_subprocess(
        tmp_path, "--stop-seconds", "1", "stubborn=trap '' TERM; echo ready; sleep 60"
    )
    wait_until(lambda: "stubborn | ready" in (tmp_path / "out.log").read_text(), 10, "ready")
    started = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    assert time.monotonic() - started < 10
    log = (tmp_path / "out.log").read_text()
    assert "stubborn | stopping (SIGTERM)" in log
    assert "stubborn | did not stop in 1s: SIGKILL" in log
    assert "stubborn | stopped (killed by SIGKILL)" in log


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return status != "Z"


def test_health_reads_the_running_supervisors_state_only(tmp_path: Path) -> None:
    path = supervisor.state_path(tmp_path)
    path.write_text(json.dumps({"pid": os.getpid(), "processes": {"web": {"restarts": 2}}}))
    assert supervisor.read_state(tmp_path) == {
        "pid": os.getpid(),
        "processes": {"web": {"restarts": 2}},
    }
    dead = subprocess.run(["true"], check=True)  # a pid that no longer runs
    path.write_text(json.dumps({"pid": 2**22 + 17, "processes": {}}))
    assert dead.returncode == 0 and supervisor.read_state(tmp_path) is None


def test_the_supervisor_script_loads_neither_django_nor_celery() -> None:
    # It lives as long as the stack: a plain interpreter, not the app.
    code = (
        f"import runpy, sys; runpy.run_path({str(Path(supervisor.__file__))!r}); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'django', 'celery', 'anibridge_site', 'redis'}))"
    )
    out = subprocess.run(
        [sys.executable, "-P", "-c", code], cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
