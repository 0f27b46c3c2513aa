from __future__ import annotations

from collections.abc import Iterator

import pytest

from anibridge_site.redis_client import get_redis
from catalog import breaker, watching
from qbshim.table import TABLE
from strm import cache as strm_cache

# The network guard fails any test that tries to leave loopback; the fake web gives
# tests the sites, hosters, CDN and SkyHook on loopback; the resilience recorder prints
# its table at the end (registered here so the xdist controller loads it too).
pytest_plugins = ["tests.netguard", "tests.fakeweb.fixtures", "tests.resilience.record"]


@pytest.fixture(autouse=True)
def fresh_redis() -> Iterator[None]:
    """Each test starts with the process's private Redis empty (queues, cache, presence)
    and no per-process torrent table (rolled-back test transactions reuse revisions),
    remembered STRM resolutions, searches noted for the RSS watcher or circuit breaker
    state kept while Redis was down."""
    get_redis().flushall()
    TABLE.clear()
    strm_cache.forget_all()
    watching.forget_notes()
    breaker.forget_process_state()
    yield
