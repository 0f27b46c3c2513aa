"""anibridge_site.cache: Django's Redis cache with one client per pool."""

from __future__ import annotations

from django.core.cache import cache

from anibridge_site.cache import PooledClient


def test_one_redis_client_serves_every_call() -> None:
    backend = cache._cache  # type: ignore[attr-defined]
    assert isinstance(backend, PooledClient)
    cache.set("pooled-client", {"a": 1}, 30)
    assert cache.get("pooled-client") == {"a": 1}
    assert cache.get_many(["pooled-client", "missing"]) == {"pooled-client": {"a": 1}}
    assert backend.get_client(write=True) is backend.get_client(write=False)
    assert cache.delete("pooled-client") and cache.get("pooled-client") is None
