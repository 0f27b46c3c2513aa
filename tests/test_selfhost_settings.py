"""Self-hosting settings: TZ for logs and the admin, DB_MIGRATE_ON_STARTUP."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest

from anibridge_site.config import ConfigError, load
from tests.processes import REPO, process_env


def _load(tmp_path: Path, **values: str):
    return load({"DATA_DIR": str(tmp_path / "data"), **values}, env_file=tmp_path / "none.env")


def test_new_settings_keep_the_originals_names_and_defaults(tmp_path: Path) -> None:
    cfg = _load(tmp_path)
    assert cfg.time_zone == "UTC"
    assert cfg.db_migrate_on_startup is True
    assert cfg.aniworld_alphabet_html == "" and cfg.sto_alphabet_html == ""
    assert cfg.megakino_domain_check_interval_min == 100
    cfg = _load(tmp_path, TZ=":/usr/share/zoneinfo/Europe/Berlin", DB_MIGRATE_ON_STARTUP="no")
    assert cfg.time_zone == "Europe/Berlin" and cfg.db_migrate_on_startup is False


@pytest.mark.parametrize("value", ["Mars/Olympus", "../../etc/passwd", "CET-1CEST"])
def test_a_bad_time_zone_is_one_line_naming_tz(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, TZ=value)
    assert str(err.value) == (
        f"Invalid configuration: TZ={value!r} is not valid; "
        "it accepts a time zone name such as Europe/Berlin or UTC."
    )


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=process_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _run(code: str, **env: str) -> str:
    result = _manage("shell", "-c", code, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def test_log_times_are_in_tz() -> None:
    before = dt.datetime.now(dt.UTC)
    out = _run("import logging; logging.getLogger('anibridge.tz').warning('tick')", TZ="Asia/Tokyo")
    line = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ WARNING anibridge.tz: tick$"
    stamp = re.search(line, out, re.MULTILINE)
    assert stamp, out
    logged = dt.datetime.strptime(stamp[1], "%Y-%m-%d %H:%M:%S")
    tokyo = before.astimezone(dt.timezone(dt.timedelta(hours=9))).replace(tzinfo=None)
    assert abs((logged - tokyo).total_seconds()) < 60


def test_admin_times_are_in_tz() -> None:
    # How the admin shows a stored time (change pages, list columns).
    out = _run(
        "import datetime as dt; from django.contrib.admin.utils import display_for_value; "
        "print(display_for_value(dt.datetime(2026, 1, 5, 22, 30, tzinfo=dt.UTC), '-'))",
        TZ="Asia/Tokyo",
    )
    # 22:30 UTC is 07:30 the next morning in Tokyo.
    assert out.strip().splitlines()[-1] == "Jan. 6, 2026, 7:30 a.m."


@pytest.mark.django_db(transaction=True)
def test_without_migrate_on_startup_bootstrap_refuses_a_database_that_needs_migrations(
    tmp_path: Path,
) -> None:
    fresh = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    env = {"DATABASE_URL": fresh, "DB_MIGRATE_ON_STARTUP": "false"}
    refused = _manage("bootstrap", **env)
    assert refused.returncode == 1
    assert re.search(
        r"the database needs \d+ migration\(s\) and DB_MIGRATE_ON_STARTUP=false: back it up, "
        r"then run 'python manage.py migrate'",
        refused.stderr,
    )
    assert not (tmp_path / "fresh.sqlite3").exists() or _tables(tmp_path) == []
    migrate = _manage("migrate", "-v0", **env)
    assert migrate.returncode == 0, migrate.stderr
    started = _manage("bootstrap", **env)
    assert started.returncode == 0, started.stderr
    assert "no migrations pending (DB_MIGRATE_ON_STARTUP=false)" in started.stdout


def _tables(tmp_path: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(tmp_path / "fresh.sqlite3") as db:
        rows = db.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
    return [r[0] for r in rows if r[0] != "django_migrations"]
