"""The process supervisor `make run` ends in: runs each process of the stack, restarts
one that exits with backoff while the others keep running, and records restarts in a
state file that /health reads.

Standard library only, and run by its path (`python -P anibridge_site/supervisor.py`),
not as part of the package: the package's __init__ loads Celery and Django settings,
and this process lives as long as the stack, so it stays a plain ~10 MiB interpreter.

Each child runs in its own process group: when its leader dies (e.g. the gunicorn
master or a Celery worker killed with SIGKILL), what it started (gunicorn workers,
ffmpeg) dies with the group before the process is started again, so nothing holds the
port or a job. Output is read from a pipe and printed as `HH:MM:SS name | line`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import select
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

# Restart delays: 1, 2, 4, 8, 16, 30, 30 ... seconds for a process that keeps exiting.
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0
# A process that ran this long before it exited starts again after the first delay.
STABLE_SECONDS = 60.0
# On Ctrl-C/SIGTERM: how long processes get to finish before SIGKILL.
STOP_SECONDS = 15.0
# Stopped last, so the others can still reach it while they shut down.
STOP_LAST = ("redis",)
_COMPOUND = re.compile(r"[;&|\n]")
# How long the last output of an exited process is waited for.
DRAIN_SECONDS = 1.0


@dataclass
class Spec:
    name: str
    command: str


@dataclass
class Child:
    spec: Spec
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    quick_exits: int = 0  # exits in a row, each within STABLE_SECONDS of its start
    restart_at: float | None = None  # monotonic time of the pending restart
    last_exit: str = ""
    last_restart: float | None = None  # wall clock, for /health
    partial: bytes = field(default=b"", repr=False)


def state_path(data_dir: Path) -> Path:
    """The state file of the supervisor on this host (DATA_DIR may be shared)."""
    return data_dir / f"supervisor-{socket.gethostname()}.json"


def read_state(data_dir: Path) -> dict[str, Any] | None:
    """The running supervisor's state on this host; None when there is none."""
    try:
        state = json.loads(state_path(data_dir).read_text())
        os.kill(int(state["pid"]), 0)  # a file left by a supervisor that died says nothing
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state if isinstance(state, dict) else None


def backoff(quick_exits: int) -> float:
    """Seconds before the next start of a process that exited `quick_exits` times in a row."""
    return min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** max(0, quick_exits - 1))


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class Supervisor:
    def __init__(
        self,
        specs: Sequence[Spec],
        *,
        cwd: Path,
        state_file: Path | None,
        env: dict[str, str] | None = None,
        out: TextIO = sys.stdout,
        clock: Callable[[], float] = time.monotonic,
        stop_seconds: float = STOP_SECONDS,
    ) -> None:
        self.stop_seconds = stop_seconds
        self.children = [Child(spec) for spec in specs]
        self.cwd = cwd
        self.state_file = state_file
        self.env = env
        self.out = out
        self.clock = clock
        self.width = max((len(s.name) for s in specs), default=4)
        self.stopping = False
        self.selector = selectors.DefaultSelector()

    # -- output ---------------------------------------------------------------------------

    def say(self, name: str, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.out.write(f"{stamp} {name:<{self.width}} | {text}\n")
        self.out.flush()

    def _read(self, child: Child) -> None:
        assert child.proc is not None and child.proc.stdout is not None
        try:
            data = os.read(child.proc.stdout.fileno(), 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close_pipe(child)
            return
        *lines, child.partial = (child.partial + data).split(b"\n")
        for line in lines:
            self.say(child.spec.name, line.decode(errors="replace").rstrip("\r"))

    def _drain(self, child: Child, seconds: float) -> None:
        assert child.proc is not None
        deadline = self.clock() + seconds
        pipe = child.proc.stdout
        while pipe is not None and not pipe.closed and self.clock() < deadline:
            if select.select([pipe], [], [], 0.05)[0]:
                self._read(child)
        self._close_pipe(child)

    def _close_pipe(self, child: Child) -> None:
        if child.proc is None or child.proc.stdout is None or child.proc.stdout.closed:
            return
        self.selector.unregister(child.proc.stdout)
        child.proc.stdout.close()
        if child.partial:
            self.say(child.spec.name, child.partial.decode(errors="replace"))
            child.partial = b""

    # -- processes ------------------------------------------------------------------------

    def start(self, child: Child) -> None:
        child.proc = subprocess.Popen(
            ["/bin/sh", "-c", shell_command(child.spec.command)],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            process_group=0,  # its own group: Ctrl-C reaches us only, and we stop it
        )
        assert child.proc.stdout is not None
        os.set_blocking(child.proc.stdout.fileno(), False)
        self.selector.register(child.proc.stdout, selectors.EVENT_READ, child)
        child.started_at = self.clock()
        child.restart_at = None
        if child.restarts:
            child.last_restart = time.time()
            self.say(
                child.spec.name,
                f"restarted (pid {child.proc.pid}, restart #{child.restarts})",
            )
        else:
            self.say(child.spec.name, f"started (pid {child.proc.pid})")
        self.write_state()

    def _exited(self, child: Child, code: int) -> None:
        assert child.proc is not None
        # Take down whatever it left running (gunicorn workers, ffmpeg), then print what
        # it wrote last; a process that escaped the group must not keep us waiting.
        _kill_group(child.proc.pid, signal.SIGKILL)
        self._drain(child, DRAIN_SECONDS)
        child.proc = None
        child.last_exit = describe_exit(code)
        if self.stopping:
            self.say(child.spec.name, f"stopped ({child.last_exit})")
            self.write_state()
            return
        ran = self.clock() - child.started_at
        child.quick_exits = child.quick_exits + 1 if ran < STABLE_SECONDS else 1
        delay = backoff(child.quick_exits)
        child.restarts += 1
        child.restart_at = self.clock() + delay
        self.say(
            child.spec.name,
            f"exited ({child.last_exit}) after {ran:.0f}s; restart #{child.restarts} "
            f"in {delay:.0f}s",
        )
        self.write_state()

    def reap(self) -> None:
        for child in self.children:
            if child.proc is not None and (code := child.proc.poll()) is not None:
                self._exited(child, code)

    def start_due(self) -> None:
        now = self.clock()
        for child in self.children:
            if child.proc is None and child.restart_at is not None and now >= child.restart_at:
                self.start(child)

    def next_timeout(self) -> float:
        pending = [c.restart_at for c in self.children if c.restart_at is not None]
        if not pending:
            return 1.0
        return max(0.0, min(1.0, min(pending) - self.clock()))

    # -- state file -----------------------------------------------------------------------

    def write_state(self) -> None:
        if self.state_file is None:
            return
        state = {
            "pid": os.getpid(),
            "processes": {
                c.spec.name: {
                    "pid": c.proc.pid if c.proc is not None else None,
                    "running": c.proc is not None,
                    "restarts": c.restarts,
                    "last_exit": c.last_exit,
                    "last_restart": c.last_restart,
                }
                for c in self.children
            },
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.state_file)

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> int:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        self.selector.register(wake_r, selectors.EVENT_READ, None)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_stop_signal)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the loop
        try:
            for child in self.children:
                self.start(child)
            while not self.stopping:
                self._wait(self.next_timeout(), wake_r)
                self.reap()
                self.start_due()
            self.shutdown(wake_r)
        finally:
            if self.state_file is not None:
                self.state_file.unlink(missing_ok=True)
        return 0

    def _on_stop_signal(self, signum: int, frame: Any) -> None:
        self.stopping = True

    def _wait(self, timeout: float, wake_r: int) -> None:
        for key, _ in self.selector.select(timeout):
            if key.data is None:
                try:
                    while os.read(wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            else:
                self._read(key.data)

    def shutdown(self, wake_r: int) -> None:
        for child in self.children:
            child.restart_at = None
        first = [c for c in self.children if c.spec.name not in STOP_LAST]
        last = [c for c in self.children if c.spec.name in STOP_LAST]
        for group in (first, last):
            self._stop(group, wake_r)

    def _stop(self, children: list[Child], wake_r: int) -> None:
        running = [c for c in children if c.proc is not None]
        for child in running:
            assert child.proc is not None
            self.say(child.spec.name, "stopping (SIGTERM)")
            _kill_group(child.proc.pid, signal.SIGTERM)
        deadline = self.clock() + self.stop_seconds
        while any(c.proc is not None for c in running) and self.clock() < deadline:
            self._wait(0.2, wake_r)
            self.reap()
        for child in running:
            if child.proc is not None:
                self.say(child.spec.name, f"did not stop in {self.stop_seconds:.0f}s: SIGKILL")
                _kill_group(child.proc.pid, signal.SIGKILL)
                child.proc.wait()
                self._exited(child, child.proc.returncode)


def _kill_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def shell_command(command: str) -> str:
    """`command` for `sh -c`: a single command replaces the shell (its pid is the real
    process's, e.g. gunicorn's); a list of commands keeps the shell to run them all."""
    return command if _COMPOUND.search(command) else "exec " + command


def parse_specs(items: Sequence[str]) -> list[Spec]:
    """`name=command` arguments, in start order."""
    specs = []
    for item in items:
        name, sep, command = item.partition("=")
        if not sep or not name.strip() or not command.strip():
            raise SystemExit(f"supervisor: {item!r} is not NAME=COMMAND")
        specs.append(Spec(name.strip(), command.strip()))
    return specs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, help="state file /health reads")
    parser.add_argument("--cwd", type=Path, default=Path.cwd())
    parser.add_argument(
        "--stop-seconds", type=float, default=STOP_SECONDS, help="grace time on stop"
    )
    parser.add_argument("process", nargs="+", help="NAME=COMMAND, started in this order")
    args = parser.parse_args(argv)
    supervisor = Supervisor(
        parse_specs(args.process),
        cwd=args.cwd,
        state_file=args.state,
        stop_seconds=args.stop_seconds,
    )
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
