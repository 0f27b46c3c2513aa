"""The network guard: nothing leaves loopback, in this process or in children."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import netguard
from tests.netguard import NetworkGuardViolation, expect_violations, is_loopback, netguard_env

REPO = Path(__file__).resolve().parent.parent
OUTSIDE = ("203.0.113.1", 9)  # TEST-NET-3: documentation only, never routed


@pytest.fixture(autouse=True)
def guard_installed() -> Iterator[None]:
    """These tests must hold even when the plugin is not registered."""
    if netguard.core.installed():
        yield
        return
    netguard.core.install()
    yield
    netguard.core.uninstall()


def test_tcp_connect_outside_loopback_is_refused_before_sending() -> None:
    with expect_violations() as caught, socket.socket() as sock:
        sock.settimeout(5)
        started = time.monotonic()
        with pytest.raises(NetworkGuardViolation) as refused:
            sock.connect(OUTSIDE)
        assert time.monotonic() - started < 0.5
        with pytest.raises(OSError) as unconnected:
            sock.getpeername()
    assert unconnected.value.errno == errno.ENOTCONN
    assert refused.value.errno == errno.ECONNREFUSED
    assert isinstance(refused.value, ConnectionRefusedError)
    assert len(caught) == 1 and "203.0.113.1:9" in caught[0]


def test_every_way_of_connecting_is_covered() -> None:
    with expect_violations() as caught:
        with pytest.raises(NetworkGuardViolation):
            socket.create_connection(OUTSIDE, timeout=5)
        with socket.socket() as sock, pytest.raises(NetworkGuardViolation):
            sock.connect_ex(OUTSIDE)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            with pytest.raises(NetworkGuardViolation):
                udp.sendto(b"x", ("192.0.2.1", 53))
            with pytest.raises(NetworkGuardViolation):
                udp.sendto(b"x", 0, ("192.0.2.1", 53))
            with pytest.raises(NetworkGuardViolation):
                udp.connect(("192.0.2.1", 53))
            with pytest.raises(NetworkGuardViolation):
                udp.sendmsg([b"x"], [], 0, ("192.0.2.1", 53))
    assert len(caught) == 6
    assert sum("UDP" in c for c in caught) == 4


def test_loopback_and_unix_sockets_pass() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        with socket.create_connection(("localhost", port), timeout=5):
            pass
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"ping", receiver.getsockname())
        assert receiver.recv(16) == b"ping"
    left, right = socket.socketpair()
    with left, right:
        left.sendall(b"x")
        assert right.recv(1) == b"x"


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("169.254.169.254", False),
        ("192.168.1.1", False),
        ("::ffff:10.0.0.1", False),
        ("203.0.113.1", False),
        ("2001:db8::1", False),
    ],
)
def test_only_loopback_addresses_are_allowed(host: str, allowed: bool) -> None:
    assert is_loopback(host) is allowed


def test_guarded_subprocess_logs_its_violation(tmp_path: Path) -> None:
    log = tmp_path / "violations.log"
    code = "import socket; socket.create_connection(('203.0.113.1', 9), timeout=5)"
    env = {**os.environ, **netguard_env(log)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "NetworkGuardViolation" in result.stderr
    lines = log.read_text().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("pid=") and "TCP connect to 203.0.113.1:9 refused" in lines[0]


def test_plugin_fails_swallowed_violations_and_guarded_children(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent(
            """
            import socket, subprocess, sys

            def test_swallowed():
                try:
                    socket.create_connection(("203.0.113.1", 9), timeout=5)
                except OSError:
                    pass

            def test_child_passes_but_connects():
                connect = "socket.create_connection(('198.51.100.7', 9))"
                code = f"import socket\\ntry:\\n {connect}\\nexcept OSError:\\n pass"
                subprocess.run([sys.executable, "-c", code], check=True)

            def test_clean():
                pass
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != netguard.LOG_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-p", "tests.netguard", "-p", "no:django"),
            *("-p", "no:cacheprovider", "-c", os.devnull, "--rootdir", str(tmp_path), "-q"),
            str(tmp_path / "test_inner.py"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "1 failed, 2 passed" in out
    assert "FAILED" in out and "test_swallowed" in out and "203.0.113.1:9" in out
    assert "netguard: connections beyond loopback" in out
    assert "198.51.100.7:9" in out


def test_netguard_env_puts_the_site_dir_first() -> None:
    env = netguard_env(Path("/tmp/x.log"))
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(netguard.SITE_DIR)
    assert env[netguard.LOG_ENV] == "/tmp/x.log"
    assert (netguard.SITE_DIR / "sitecustomize.py").is_file()
