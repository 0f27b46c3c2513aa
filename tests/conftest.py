from __future__ import annotations

from collections.abc import Iterator

import pytest

from anibridge_site.redis_client import get_redis
from catalog import memo

# The network guard fails any test that tries to leave loopback; the fake web gives
# tests the sites, hosters, CDN and SkyHook on loopback; the resilience recorder prints
# its table at the end (registered here so the xdist controller loads it too).
pytest_plugins = ["tests.netguard", "tests.fakeweb.fixtures", "tests.resilience.record"]


@pytest.fixture(autouse=True)
def fresh_redis() -> Iterator[None]:
    """Each test starts with the process's private Redis empty (queues, cache, presence)
    and with nothing this process kept for itself (catalog.memo): memos, the torrent
    table (rolled-back test transactions reuse revisions), circuit breaker state kept
    while Redis was down."""
    get_redis().flushall()
    memo.forget_all()
    yield
