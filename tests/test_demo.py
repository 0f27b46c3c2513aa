"""`make demo` keeps working: it walks search -> grab -> download -> .strm -> playback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.processes import REPO


@pytest.mark.slow
def test_demo_walks_the_main_path_offline() -> None:
    proc = subprocess.run(
        [sys.executable, "scripts/demo.py"], cwd=REPO, capture_output=True, text=True, timeout=400
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    assert "webapiVersion 2.11.4" in out
    assert "state=stoppedUP progress=100%" in out
    assert "video h264, audio aac" in out
    assert "/strm/stream?site=aniworld.to" in out
    assert "; 0 came from ffmpeg itself" in out
    assert out.rstrip().endswith("all offline")
