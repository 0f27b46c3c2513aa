"""gunicorn settings for the resilience tests: production's, with short upstream timeouts.

The proxy waits READ_TIMEOUT (30 s) between two reads from a CDN; a test of a stalled
CDN would wait as long. The stall behaviour is the same with 2 s, so the fault tests
run with that instead (set after gevent patched the worker, before any request).
"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

UPSTREAM_TIMEOUT_SECONDS = 2.0

_production = runpy.run_path(
    str(Path(__file__).resolve().parents[2] / "anibridge_site/gunicorn.conf.py")
)
globals().update({k: v for k, v in _production.items() if not k.startswith("_")})


def post_worker_init(worker: Any) -> None:
    from catalog.egress import upstream

    upstream.CONNECT_TIMEOUT = UPSTREAM_TIMEOUT_SECONDS
    upstream.READ_TIMEOUT = UPSTREAM_TIMEOUT_SECONDS
