"""`manage.py refresh_strm` and `POST /api/strm/refresh/`: the same filters, a dry run,
progress on stderr, a summary, exit code 1 on failures; the endpoint queues tasks."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import threading
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from anibridge_site.redis_client import get_redis
from strm.models import StrmUrlMapping
from tests.fakeweb import FakeWeb
from tests.processes import REPO, celery_worker, process_env, wait_until
from tests.strm_refresh_helpers import (
    HARBOR_1,
    KAIJU_1,
    KAIJU_2,
    KAIJU_GONE,
    recorded,
    resolves,
    strm_url,
    use_mode,
    with_strm_file,
)

pytestmark = pytest.mark.django_db
# Refreshes run on pool threads with their own database connections: tests that run
# them need the rows committed.
threads_see_rows = pytest.mark.django_db(transaction=True)


@pytest.fixture
def library(
    fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> dict[str, StrmUrlMapping]:
    """Three episodes written in direct mode; resolutions counted from zero afterwards."""
    use_mode(monkeypatch, tmp_path, "direct")
    mappings = {
        "kaiju-1": with_strm_file(KAIJU_1),
        "kaiju-2": with_strm_file(KAIJU_2),
        "harbor-1": with_strm_file(HARBOR_1),
    }
    fake_sites.counts.reset()
    return mappings


def refresh_strm(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("refresh_strm", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def planned(*args: str) -> set[str]:
    """Labels of the mappings a dry run with `args` lists."""
    out, _ = refresh_strm("--dry-run", *args)
    return {line.split(":", 1)[0] for line in out.splitlines()[:-1]}


def labels(*mappings: StrmUrlMapping) -> set[str]:
    return {m.episode_label for m in mappings}


def test_dry_run_lists_the_selection_and_changes_nothing(
    library: dict[str, StrmUrlMapping], fake_sites: FakeWeb
) -> None:
    before = {key: strm_url(m) for key, m in library.items()}

    out, err = refresh_strm("--all", "--dry-run")

    assert out.splitlines() == [
        "aniworld.to/kaiju-academy S01E01 [German Dub]: would re-resolve; "
        ".strm file would be rewritten",
        "aniworld.to/kaiju-academy S01E02 [German Dub]: would re-resolve; "
        ".strm file would be rewritten",
        "s.to/the-quiet-harbor S01E01 [German Dub]: would re-resolve; "
        ".strm file would be rewritten",
        "dry run: 3 mapping(s) would be refreshed; nothing changed",
    ]
    assert err == "" and resolves(fake_sites) == 0
    assert {key: strm_url(m) for key, m in library.items()} == before


@threads_see_rows
def test_refresh_shows_progress_with_an_eta_on_stderr_and_ends_with_a_summary(
    library: dict[str, StrmUrlMapping], fake_sites: FakeWeb
) -> None:
    old = strm_url(library["kaiju-1"])

    out, err = refresh_strm("--slug", "kaiju-academy")

    assert out == "refreshed 2 of 2: 2 rewritten, 0 unchanged, 0 missing, 0 failed\n"
    draws = err.split("\r")
    assert draws[1].startswith("refresh_strm:   0%|") and " 0/2 [00:00<?, ?episode/s]" in draws[1]
    # elapsed<remaining (the ETA), the rate, and the item that finished last.
    assert re.search(r"refresh_strm: 100%\|.*\| 2/2 \[\d\d:\d\d<\d\d:\d\d, ", draws[-1])
    assert err.endswith("\n")
    assert "aniworld.to/kaiju-academy S01E0" in draws[-1]  # the item that finished last
    assert resolves(fake_sites) == 2 and strm_url(library["kaiju-1"]) != old


@threads_see_rows
def test_episodes_are_refreshed_several_at_a_time_up_to_jobs(
    library: dict[str, StrmUrlMapping], fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    from strm.management.commands import refresh_strm as command

    running, most = 0, 0
    lock = threading.Lock()
    real = command.refresh_mapping

    def counted(mapping: StrmUrlMapping) -> Any:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            time.sleep(0.3)  # long enough for the others to start
            return real(mapping)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(command, "refresh_mapping", counted)
    out, _ = refresh_strm("--all", "--no-progress-bar", "--jobs", "2")
    assert out.startswith("refreshed 3 of 3")
    assert most == 2
    most = 0
    refresh_strm("--all", "--no-progress-bar", "--jobs", "1")
    assert most == 1
    with pytest.raises(CommandError, match="--jobs: '0' is not a whole number from 1 to 16"):
        refresh_strm("--all", "--jobs", "0")


@threads_see_rows
def test_no_progress_bar_keeps_stderr_quiet(library: dict[str, StrmUrlMapping]) -> None:
    out, err = refresh_strm("--site", "sto", "--no-progress-bar")
    assert (out, err) == ("refreshed 1 of 1: 1 rewritten, 0 unchanged, 0 missing, 0 failed\n", "")


@threads_see_rows
def test_a_failed_refresh_is_listed_and_ends_with_exit_code_1(
    library: dict[str, StrmUrlMapping],
) -> None:
    recorded(KAIJU_GONE)
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("refresh_strm", "--slug", "kaiju-academy", stdout=out, stderr=err)
    assert failure.value.returncode == 1
    assert str(failure.value) == "1 of 3 refresh(es) failed"
    assert out.getvalue() == "refreshed 2 of 3: 2 rewritten, 0 unchanged, 0 missing, 1 failed\n"
    [reason] = [line for line in err.getvalue().splitlines() if "failed:" in line]
    assert reason.split("\r")[-1].startswith("aniworld.to/kaiju-academy S01E09 [German Dub]:")


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_the_command_line_exits_1_when_an_episode_no_longer_resolves(
    fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    downloads = use_mode(monkeypatch, tmp_path, "direct")
    recorded(KAIJU_GONE)
    env = process_env(**fake_sites.app_env(), DOWNLOAD_DIR=str(downloads))
    done = subprocess.run(
        [sys.executable, "manage.py", "refresh_strm", "--episode", "9", "--no-progress-bar"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout == "refreshed 0 of 1: 0 rewritten, 0 unchanged, 0 missing, 1 failed\n"
    assert done.stderr.splitlines()[-1] == "CommandError: 1 of 1 refresh(es) failed"


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_log_lines_print_above_the_bar_instead_of_breaking_it(
    fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    downloads = use_mode(monkeypatch, tmp_path, "direct")
    for identity in (KAIJU_1, KAIJU_2, HARBOR_1):
        with_strm_file(identity)
    env = process_env(**fake_sites.app_env(), DOWNLOAD_DIR=str(downloads), LOG_LEVEL="INFO")
    done = subprocess.run(
        [sys.executable, "manage.py", "refresh_strm", "--all", "--jobs", "1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    logged = [line for line in done.stderr.split("\n") if " INFO " in line]
    assert len(logged) >= 3
    # tqdm clears the bar ("\r" + blanks + "\r") before each log line: what shows on
    # that terminal line is the log line alone, from its first character.
    for line in logged:
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO ", line.split("\r")[-1]), line
    assert "refresh_strm: 100%|" in done.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--site", "aniworld"], {"kaiju-1", "kaiju-2"}),
        (["--slug", "the-quiet-harbor"], {"harbor-1"}),
        (["--season", "1", "--episode", "2"], {"kaiju-2"}),
        (["--episode", "1"], {"kaiju-1", "harbor-1"}),
        (["--all"], {"kaiju-1", "kaiju-2", "harbor-1"}),
    ],
)
def test_each_filter_narrows_the_selection(
    args: list[str], expected: set[str], library: dict[str, StrmUrlMapping]
) -> None:
    assert planned(*args) == labels(*(library[key] for key in expected))


def test_stale_means_failed_since_resolved_unresolved_or_older_than_the_ttl(
    library: dict[str, StrmUrlMapping],
) -> None:
    now = timezone.now()
    StrmUrlMapping.objects.filter(pk=library["kaiju-1"].pk).update(
        fail_count=1, last_checked_at=now
    )
    StrmUrlMapping.objects.filter(pk=library["kaiju-2"].pk).update(
        resolved_at=now - timedelta(hours=25)  # TTL 0: stale after a day
    )
    assert planned("--stale") == labels(library["kaiju-1"], library["kaiju-2"])
    # A failure recorded before the latest resolve was the replaced URL's.
    StrmUrlMapping.objects.filter(pk=library["kaiju-1"].pk).update(
        last_checked_at=now - timedelta(minutes=5)
    )
    assert planned("--stale") == labels(library["kaiju-2"])


def test_refuses_to_run_without_a_selection(library: dict[str, StrmUrlMapping]) -> None:
    with pytest.raises(CommandError) as refused:
        refresh_strm()
    assert refused.value.returncode == 2
    assert str(refused.value) == (
        "nothing selected: give site, slug, season, episode or stale, or all (see --help)"
    )
    with pytest.raises(CommandError, match=r"^season must be a whole number from 0 to 999"):
        refresh_strm("--season", "first")


# --- POST /api/strm/refresh/ and GET /api/strm/ ------------------------------------------


def basic_auth(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def admin_auth() -> dict[str, str]:
    User.objects.create_superuser("automation", "a@example.invalid", "pw-for-tests")
    return basic_auth("automation", "pw-for-tests")


def queued_refreshes() -> list[list[Any]]:
    """The arguments of every refresh task waiting in the "default" queue (Redis)."""
    found = []
    for raw in get_redis().lrange("default", 0, -1):
        message = json.loads(raw)
        if message["headers"]["task"] == "strm.tasks.refresh_strm_mapping":
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            found.append(args)
    return found


def test_endpoint_queues_one_task_per_selected_mapping(
    client: Client,
    admin_auth: dict[str, str],
    library: dict[str, StrmUrlMapping],
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(
            "/api/strm/refresh/",
            {"site": "aniworld.to", "season": 1},
            content_type="application/json",
            headers=admin_auth,
        )
    ids = sorted([library["kaiju-1"].pk, library["kaiju-2"].pk])
    assert response.status_code == 202
    assert response.json() == {"queued": 2, "mapping_ids": ids}
    assert len(callbacks) == 2 and sorted(queued_refreshes()) == [[pk] for pk in ids]


def test_endpoint_takes_form_fields_too(
    client: Client,
    admin_auth: dict[str, str],
    library: dict[str, StrmUrlMapping],
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post("/api/strm/refresh/", {"all": "true"}, headers=admin_auth)
    assert response.status_code == 202 and response.json()["queued"] == 3
    assert len(callbacks) == 3


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "nothing selected: give site, slug, season, episode or stale, or all"),
        ({"season": "one"}, "season must be a whole number from 0 to 999, got 'one'"),
        ({"site": "netflix"}, "unknown site 'netflix': use one of aniworld.to, s.to, megakino"),
        ({"seasn": 1}, "unknown filter(s) seasn: use site, slug, season, episode, stale, all"),
        ({"stale": "maybe"}, "stale must be true or false, got 'maybe'"),
    ],
)
def test_endpoint_answers_bad_filters_with_400_and_one_line(
    body: dict[str, Any],
    message: str,
    client: Client,
    admin_auth: dict[str, str],
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            "/api/strm/refresh/", body, content_type="application/json", headers=admin_auth
        )
    assert response.status_code == 400 and response.json() == {"detail": message}
    assert callbacks == []


def test_endpoint_refuses_anonymous_and_non_admin_users(client: Client) -> None:
    # Session authentication comes first in the project's DRF defaults: 403, not 401.
    assert client.post("/api/strm/refresh/", {"all": True}).status_code == 403
    assert client.get("/api/strm/").status_code == 403
    User.objects.create_user("viewer", password="pw-for-tests")
    viewer = basic_auth("viewer", "pw-for-tests")
    assert client.post("/api/strm/refresh/", {"all": True}, headers=viewer).status_code == 403
    assert queued_refreshes() == []


def test_listing_shows_status_fields_paginated_and_filtered(
    client: Client, admin_auth: dict[str, str], library: dict[str, StrmUrlMapping]
) -> None:
    StrmUrlMapping.objects.filter(pk=library["harbor-1"].pk).update(
        last_status=503, fail_count=2, last_checked_at=timezone.now(), last_error="transient"
    )
    page = client.get("/api/strm/", {"limit": 2}, headers=admin_auth).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    [failing] = client.get("/api/strm/", {"stale": "1"}, headers=admin_auth).json()["results"]
    assert failing["id"] == library["harbor-1"].pk
    assert (failing["last_status"], failing["fail_count"], failing["last_error"]) == (
        503,
        2,
        "transient",
    )
    assert failing["last_checked_at"] and "resolved_url" not in failing


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_worker_runs_the_queued_refresh(
    client: Client,
    fake_sites: FakeWeb,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    downloads = use_mode(monkeypatch, tmp_path, "direct")
    mapping = with_strm_file(KAIJU_1)
    old_url = strm_url(mapping)
    User.objects.create_superuser("automation", "a@example.invalid", "pw-for-tests")
    env = {**fake_sites.app_env(), "DOWNLOAD_DIR": str(downloads)}
    with celery_worker(tmp_path, queues="default", env=env):
        response = client.post(
            "/api/strm/refresh/",
            {"slug": "kaiju-academy"},
            content_type="application/json",
            headers=basic_auth("automation", "pw-for-tests"),
        )
        assert response.status_code == 202
        wait_until(lambda: strm_url(mapping) != old_url, 30, "the .strm file to be rewritten")
    assert resolves(fake_sites) == 2
