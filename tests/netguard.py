"""pytest plugin: a test that tries to reach anything beyond loopback fails, loudly.

In this process every TCP/UDP connection outside 127.0.0.0/8 and ::1 is refused
before a packet is sent (see netguard_site/anibridge_netguard.py) and recorded: the
test phase during which it happened is reported as failed, even if the code under
test swallowed the error. Python subprocesses are guarded through
netguard_site/sitecustomize.py: the plugin exports PYTHONPATH and
ANIBRIDGE_NETGUARD_LOG into os.environ, so children inherit the guard, and the run
fails at the end if that log file is not empty. `netguard_env()` gives the two
variables for a subprocess started with a hand-built environment.

A test that provokes a violation on purpose wraps it in `expect_violations()`.
"""

from __future__ import annotations

import atexit
import os
import sys
import tempfile
import threading
import traceback
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SITE_DIR = Path(__file__).resolve().parent / "netguard_site"
if str(SITE_DIR) not in sys.path:
    sys.path.append(str(SITE_DIR))

import anibridge_netguard as core  # noqa: E402
from anibridge_netguard import LOG_ENV, NetworkGuardViolation, is_loopback  # noqa: E402

__all__ = [
    "LOG_ENV",
    "NetworkGuardViolation",
    "expect_violations",
    "is_loopback",
    "netguard_env",
]

_lock = threading.Lock()
_violations: list[str] = []
_session_problems: list[str] = []


def _record(message: str) -> None:
    # Where the code under test connected, without pytest's and the guard's frames.
    frames = [
        f
        for f in traceback.extract_stack()[:-2]
        if "/_pytest/" not in f.filename and "/pluggy/" not in f.filename
    ]
    stack = "".join(traceback.format_list(frames[-8:]))
    with _lock:
        _violations.append(f"{message}\n{stack}")


def _take() -> list[str]:
    with _lock:
        taken = list(_violations)
        _violations.clear()
    return taken


def _log_path() -> str:
    path = os.environ.get(LOG_ENV)
    if not path:
        fd, path = tempfile.mkstemp(prefix="anibridge-netguard-", suffix=".log")
        os.close(fd)
        os.environ[LOG_ENV] = path
        # Only the process that made the log removes it; xdist workers inherit it.
        atexit.register(_remove, path)
    return path


def _remove(path: str) -> None:
    Path(path).unlink(missing_ok=True)


def _pythonpath(existing: str | None) -> str:
    entries = [p for p in (existing or "").split(os.pathsep) if p and p != str(SITE_DIR)]
    return os.pathsep.join([str(SITE_DIR), *entries])


def netguard_env(log_file: Path | None = None) -> dict[str, str]:
    """PYTHONPATH and ANIBRIDGE_NETGUARD_LOG for a guarded Python subprocess; merge
    into its environment. Violations go to `log_file`, by default the session's log
    (which fails the run)."""
    return {
        "PYTHONPATH": _pythonpath(os.environ.get("PYTHONPATH")),
        LOG_ENV: str(log_file) if log_file is not None else _log_path(),
    }


@contextmanager
def expect_violations() -> Iterator[list[str]]:
    """Collect violations in the block instead of failing the test."""
    caught: list[str] = []
    previous = core.set_handler(caught.append)
    try:
        yield caught
    finally:
        core.set_handler(previous)


def pytest_configure(config: pytest.Config) -> None:
    os.environ.update(netguard_env())
    core.install(_record)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    taken = _take()
    if taken:
        text = "tried to connect beyond loopback:\n" + "\n".join(taken)
        if report.outcome == "failed":
            report.sections.append(("netguard", text))
        else:
            report.outcome = "failed"
            report.longrepr = text
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    problems = _take()
    log = Path(_log_path())
    if log.is_file() and log.stat().st_size:
        problems.append(f"subprocesses (log {log}):\n{log.read_text(errors='replace')}")
    if problems:
        _session_problems.extend(problems)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _session_problems:
        terminalreporter.section("netguard: connections beyond loopback", red=True)
        for problem in _session_problems:
            terminalreporter.write_line(problem)
