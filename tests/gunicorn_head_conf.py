"""gunicorn settings for tests/test_gunicorn_worker.py: production's, with a head deadline
of 1.5 s instead of 10 s, so the deadline's cases take seconds."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

HEAD_TIMEOUT_SECONDS = 1.5

_production = runpy.run_path(
    str(Path(__file__).resolve().parents[1] / "anibridge_site/gunicorn.conf.py")
)
globals().update({k: v for k, v in _production.items() if not k.startswith("_")})


def post_worker_init(worker: Any) -> None:
    _production["post_worker_init"](worker)
    from anibridge_site import gunicorn_worker

    gunicorn_worker.HEAD_TIMEOUT = HEAD_TIMEOUT_SECONDS
