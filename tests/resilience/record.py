"""What each resilience family tried and how it came out, as JSON lines, and the table
"family | tried | outcome" printed at the end of the run (the README's Reliability
section is filled from it).

A test calls `record(family, tried, outcome)` once it has checked its cases. Lines go
to the file named by ANIBRIDGE_RESILIENCE_REPORT, by default `<DATA_DIR>/resilience.jsonl`.

The hooks below are a pytest plugin registered from tests/conftest.py, not a
conftest of this directory: under xdist the controlling process collects nothing, so
it would never load a conftest here, and it is the process that prints the summary.
It picks the file before the workers start; they inherit the path and append to it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPORT_ENV = "ANIBRIDGE_RESILIENCE_REPORT"
REPORT_NAME = "resilience.jsonl"


def report_path() -> Path:
    named = os.environ.get(REPORT_ENV)
    if named:
        return Path(named)
    from django.conf import settings  # late: settings are read after the plugins load

    return Path(settings.CONFIG.data_dir) / REPORT_NAME


def record(family: str, tried: int, outcome: str) -> None:
    """Append one family's result; several processes may append at once (O_APPEND)."""
    line = json.dumps({"family": family, "tried": tried, "outcome": outcome}) + "\n"
    path = report_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # One write of one short line: appends from xdist workers do not interleave.
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line)


def read(path: Path | None = None) -> list[dict[str, Any]]:
    """The recorded families by name; a family recorded twice keeps its last result."""
    path = path or report_path()
    if not path.is_file():
        return []
    latest: dict[str, dict[str, Any]] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.strip():
            entry = json.loads(raw)
            latest[entry["family"]] = entry
    return sorted(latest.values(), key=lambda e: e["family"])


def table(entries: list[dict[str, Any]]) -> list[str]:
    """Markdown table lines, ready to paste into the README."""
    rows = [("family", "tried", "outcome")] + [
        (str(e["family"]), str(e["tried"]), str(e["outcome"])) for e in entries
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]

    def line(cells: tuple[str, str, str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return [line(rows[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [
        line(row) for row in rows[1:]
    ]


# --- pytest plugin ------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller chose the file and started it afresh
    path = report_path()
    os.environ[REPORT_ENV] = str(path)  # inherited by xdist workers started after this
    path.unlink(missing_ok=True)  # this run's results only


def pytest_terminal_summary(terminalreporter: Any) -> None:
    entries = read()
    if not entries:
        return
    terminalreporter.section("resilience: family | tried | outcome")
    for text in table(entries):
        terminalreporter.write_line(text)
