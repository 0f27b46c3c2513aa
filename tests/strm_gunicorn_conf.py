"""gunicorn settings for tests that serve the STRM proxy from one long-lived server:
production's, except that workers do not remember resolutions between requests.

From one test to the next the same identity is pointed elsewhere (and Redis and the
database start empty); strm.cache.MEMO_SECONDS would have a worker serve the previous
test's URL meanwhile. The memo has its own tests (tests/test_strm_resolved.py).
"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

_production = runpy.run_path(
    str(Path(__file__).resolve().parents[1] / "anibridge_site/gunicorn.conf.py")
)
globals().update({k: v for k, v in _production.items() if not k.startswith("_")})


def post_worker_init(worker: Any) -> None:
    if "post_worker_init" in _production:
        _production["post_worker_init"](worker)
    from strm import cache

    cache.MEMO_SECONDS = 0.0
