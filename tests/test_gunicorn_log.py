"""The web server's access log (LOG_LEVEL=DEBUG) never carries query strings."""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

import pytest

from tests.environment import free_port
from tests.processes import Proc, process_env, wait_until


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_access_log_leaves_out_api_keys_and_signatures(tmp_path: Path) -> None:
    port = free_port()
    env = process_env(
        ANIBRIDGE_PORT=str(port),
        ANIBRIDGE_HOST="127.0.0.1",
        WEB_CONCURRENCY="1",
        LOG_LEVEL="DEBUG",
        INDEXER_API_KEY="secret-indexer-key",
    )
    web = Proc(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "anibridge_site/gunicorn.conf.py",
            "anibridge_site.wsgi",
        ],
        env,
        tmp_path / "web.log",
    )
    try:

        def caps() -> bool:
            try:
                url = f"http://127.0.0.1:{port}/torznab/api?t=caps&apikey=secret-indexer-key"
                with urllib.request.urlopen(url, timeout=5) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_until(caps, 60, "gunicorn to answer")
        wait_until(lambda: "/torznab/api" in web.output(), 10, "the access log line")
    finally:
        web.stop()
    log = web.output()
    assert '"GET /torznab/api" 200' in log
    assert "secret-indexer-key" not in log
