"""The runtime packages leave out what `aniworld` declares but AniBridge never runs
(requirements/left-out.txt), and the package still works without them."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.left_out import LEFT_OUT
from tests.netguard import netguard_env
from tests.processes import REPO
from tests.resilience import record

# The tests that import the `aniworld` package and use it against the fake sites:
# title pages, seasons, every hoster's extractor, downloads, a captcha.
PACKAGE_TESTS = (
    "tests/test_catalog_sites.py",
    "tests/test_resolve.py",
    "tests/test_download_job.py",
    "tests/test_without_browser.py",
)


def _left_out() -> list[str]:
    lines = (REPO / "requirements" / "left-out.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _pinned(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            names.add(re.sub(r"[-_.]+", "-", line.split("==")[0]).lower())
    return names


def test_left_out_packages_are_not_pinned_and_installs_do_not_pull_them_in() -> None:
    left_out = {re.sub(r"[-_.]+", "-", name).lower() for name in _left_out()}
    assert {"patchright", "flask", "npyscreen"} <= left_out
    pinned = _pinned(REPO / "requirements" / "base.txt") | _pinned(
        REPO / "requirements" / "dev.txt"
    )
    assert pinned & (left_out | {"m3u8", "honcho"}) == set()
    # pip would install a pinned package's declared dependencies unless told not to.
    for path in ("Makefile", "docker/Dockerfile"):
        installs = [
            line for line in (REPO / path).read_text().splitlines() if "pip install" in line
        ]
        assert installs and all("--no-deps" in line for line in installs), path


def test_the_blocker_covers_every_module_of_the_left_out_packages() -> None:
    for name in _left_out():
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # not in this venv either
        top = (dist.read_text("top_level.txt") or "").split()
        modules = top or {str(f).split("/")[0] for f in dist.files or [] if str(f).endswith(".py")}
        assert set(modules) <= set(LEFT_OUT), name


def test_the_blocker_makes_them_unimportable() -> None:
    code = (
        "import tests.without_unused_packages\n"
        "for name in ('patchright', 'flask', 'npyscreen', 'm3u8'):\n"
        "    try:\n"
        "        __import__(name)\n"
        "    except ModuleNotFoundError:\n"
        "        continue\n"
        "    raise SystemExit(name + ' imported')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _child_env() -> dict[str, str]:
    # The child pytest makes its own DATA_DIR, Redis and test database.
    env = {**os.environ, **netguard_env()}
    env.pop("DATABASE_URL", None)
    # Its own resilience report too: started afresh, this run's would be deleted.
    env.pop(record.REPORT_ENV, None)
    return env


@pytest.mark.slow
def test_the_aniworld_package_works_against_the_fake_sites_without_them() -> None:
    report = record.report_path()
    report.parent.mkdir(parents=True, exist_ok=True)
    with report.open("a", encoding="utf-8") as fh:
        fh.write("\n")  # a blank line (read() skips it): the report exists before the child runs
    before = report.stat().st_size
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.without_unused_packages",
            "-p",
            "no:xdist",
            *PACKAGE_TESTS,
        ],
        cwd=REPO,
        env=_child_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", result.stdout) and " failed" not in result.stdout
    # The families this run recorded so far survive the child's own session.
    assert report.is_file() and report.stat().st_size >= before
