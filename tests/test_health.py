from __future__ import annotations

from pathlib import Path

import pytest
import redis
from django.test import Client

from anibridge_site import health
from tests.environment import free_port
from tests.processes import celery_worker

pytestmark = pytest.mark.django_db(transaction=True)


def test_health_is_503_naming_the_queues_without_a_worker(client: Client) -> None:
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["workers"]
    assert body["database"]["ok"] and body["redis"]["ok"]
    assert body["workers"]["error"] == "no worker consumes queue(s): default, downloads"


@pytest.mark.slow
def test_health_is_200_with_database_redis_and_workers_up(client: Client, tmp_path: Path) -> None:
    with celery_worker(tmp_path, queues="default,downloads"):
        response = client.get("/health")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok" and body["down"] == []
    [queues] = body["workers"]["nodes"].values()
    assert queues == ["default", "downloads"]


def test_health_says_redis_is_down(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real client against a port where nothing listens.
    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.5)
    monkeypatch.setattr(health, "get_redis", lambda: dead)
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["redis", "workers"]
    assert "ConnectionError" in body["redis"]["error"]


def test_health_refuses_post(client: Client) -> None:
    assert client.post("/health").status_code == 405
