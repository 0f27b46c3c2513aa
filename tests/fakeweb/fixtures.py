"""pytest fixtures for the fake outside world (register with
`pytest_plugins = ["tests.fakeweb.fixtures"]`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakeweb.web import FakeWeb


@pytest.fixture(scope="session")
def fakeweb_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeWeb]:
    """One FakeWeb per test process; media cached under pytest's base temp dir."""
    media_dir = Path(tmp_path_factory.getbasetemp()) / "fakeweb-media"
    with FakeWeb(media_dir) as web:
        yield web


@pytest.fixture
def fakeweb(fakeweb_session: FakeWeb) -> Iterator[FakeWeb]:
    """The session's FakeWeb with clean counters, no faults and default CDN policy."""
    fakeweb_session.reset()
    yield fakeweb_session
    fakeweb_session.reset()


@pytest.fixture(scope="session")
def aniworld_package(fakeweb_session: FakeWeb, tmp_path_factory: pytest.TempPathFactory) -> FakeWeb:
    """The real `aniworld` package, imported via prepare_environment() and routed to
    this process's fakes."""
    from catalog import aniworld_compat

    aniworld_compat.prepare_environment(Path(tmp_path_factory.getbasetemp()) / "aniworld-home")
    aniworld_compat.install_routes(fakeweb_session.urls["aniworld"], fakeweb_session.urls["sto"])
    return fakeweb_session


@pytest.fixture
def aniworld_web(
    aniworld_package: FakeWeb, fakeweb: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> FakeWeb:
    """`fakeweb`, with the aniworld package routed to it (again: a test before may
    have routed it elsewhere), and its hosters on 127.0.0.1 allow-listed as
    `app_env()` does (the routed sites are allowed anyway)."""
    from django.conf import settings

    from catalog import aniworld_compat

    allowlist = (fakeweb.app_env()["STRM_PROXY_UPSTREAM_ALLOWLIST"],)
    config = dataclasses.replace(settings.CONFIG, strm_proxy_upstream_allowlist=allowlist)
    monkeypatch.setattr(settings, "CONFIG", config)
    aniworld_compat.install_routes(fakeweb.urls["aniworld"], fakeweb.urls["sto"])
    return fakeweb


@pytest.fixture
def fake_sites(fakeweb: FakeWeb, monkeypatch: pytest.MonkeyPatch) -> FakeWeb:
    """`fakeweb`, with settings.CONFIG pointing every site URL at it (undone after the
    test). The aniworld package follows at its next use (catalog.package re-routes it)."""
    from django.conf import settings

    env = fakeweb.app_env()
    config = dataclasses.replace(
        settings.CONFIG,
        aniworld_base_url=env["ANIWORLD_BASE_URL"],
        aniworld_alphabet_url=env["ANIWORLD_ALPHABET_URL"],
        sto_base_url=env["STO_BASE_URL"],
        sto_alphabet_url=env["STO_ALPHABET_URL"],
        megakino_base_url=env["MEGAKINO_BASE_URL"],
        skyhook_base_url=env["SKYHOOK_BASE_URL"],
        strm_proxy_upstream_allowlist=(env["STRM_PROXY_UPSTREAM_ALLOWLIST"],),
    )
    monkeypatch.setattr(settings, "CONFIG", config)
    return fakeweb


@pytest.fixture(scope="module")
def fakeweb_worker(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    django_db_setup: None,
    django_db_blocker: Any,
    fakeweb_session: FakeWeb,
) -> Iterator[Any]:
    """One real Celery worker per test module, pointed at the fake web: probes (default
    queue) and downloads, unthrottled; yields its Proc.

    A module changes it with FAKEWEB_WORKER, keyword arguments of
    tests.processes.celery_worker (`env` is added to the fake web's)."""
    from tests.processes import celery_worker

    options = dict(getattr(request.module, "FAKEWEB_WORKER", {}))
    name = str(options.pop("name", request.module.__name__.rpartition(".")[2]))
    env = {**fakeweb_session.app_env(), **options.pop("env", {})}
    options = {"queues": "default,downloads", "concurrency": 4, **options}
    with (
        django_db_blocker.unblock(),
        celery_worker(tmp_path_factory.mktemp(name), name=name, env=env, **options) as proc,
    ):
        yield proc
