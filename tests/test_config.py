from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from anibridge_site.config import ConfigError, load
from tests.processes import REPO


def _load(tmp_path: Path, **values: str):
    return load({"DATA_DIR": str(tmp_path / "data"), **values}, env_file=tmp_path / "missing.env")


def test_defaults_follow_the_original(tmp_path: Path) -> None:
    cfg = _load(tmp_path)
    assert cfg.port == 8000
    assert cfg.max_concurrency == 3
    assert cfg.catalog_sites == ("aniworld.to", "s.to", "megakino")
    assert cfg.aniworld_alphabet_url == "https://aniworld.to/animes-alphabet"
    assert cfg.torznab_cat_anime == 5070 and cfg.torznab_cat_movie == 2000
    assert cfg.delete_files_on_torrent_delete is True
    assert cfg.strm_files_mode == "no" and cfg.strm_proxy_mode == "direct"
    assert cfg.download_dir == (tmp_path / "data" / "downloads").resolve()
    assert cfg.database_url.startswith("sqlite:///") and cfg.database_url.endswith(
        "anibridge.sqlite3"
    )


def test_derived_urls_follow_a_moved_base_url(tmp_path: Path) -> None:
    cfg = _load(
        tmp_path, ANIWORLD_BASE_URL="https://aniworld.example/", STO_BASE_URL="http://127.0.0.1:9"
    )
    assert cfg.aniworld_base_url == "https://aniworld.example"
    assert cfg.aniworld_alphabet_url == "https://aniworld.example/animes-alphabet"
    assert cfg.sto_alphabet_url == "http://127.0.0.1:9/serien?by=alpha"


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("MAX_CONCURRENCY=5\nINDEXER_NAME='From file'\n")
    cfg = load({"DATA_DIR": str(tmp_path), "MAX_CONCURRENCY": "7"}, env_file=env_file)
    assert cfg.max_concurrency == 7
    assert cfg.indexer_name == "From file"


@pytest.mark.parametrize(
    ("name", "value", "accepts"),
    [
        ("MAX_CONCURRENCY", "abc", "a whole number >= 1"),
        ("MAX_CONCURRENCY", "0", "a whole number >= 1"),
        ("ANIBRIDGE_PORT", "70000", "<= 65535"),
        ("DELETE_FILES_ON_TORRENT_DELETE", "maybe", "true/false"),
        ("AVAILABILITY_TTL_HOURS", "-1", "a number >= 0"),
        ("AVAILABILITY_TTL_HOURS", "nan", "a number >= 0"),
        ("STRM_FILES_MODE", "sometimes", "one of no, both, only"),
        ("CATALOG_SITES", "aniworld.to,example.com", "aniworld.to, s.to, megakino"),
        ("ANIWORLD_BASE_URL", "aniworld.to", "an absolute URL"),
        ("REDIS_URL", "http://127.0.0.1:6379", "redis://"),
        ("DATABASE_URL", "mysql://u@h/db", "postgres://"),
        ("LOG_LEVEL", "LOUD", "one of DEBUG"),
    ],
)
def test_bad_value_names_the_variable_and_what_it_accepts(
    tmp_path: Path, name: str, value: str, accepts: str
) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, **{name: value})
    message = str(err.value)
    assert "\n" not in message
    assert f"{name}={value!r}" in message
    assert accepts in message


def test_values_are_case_insensitive_where_the_original_was(tmp_path: Path) -> None:
    cfg = _load(
        tmp_path, STRM_FILES_MODE="Both", DELETE_FILES_ON_TORRENT_DELETE="False", LOG_LEVEL="debug"
    )
    assert (cfg.strm_files_mode, cfg.delete_files_on_torrent_delete, cfg.log_level) == (
        "both",
        False,
        "DEBUG",
    )


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"STRM_PROXY_MODE": "proxy"}, "STRM_PUBLIC_BASE_URL"),
        (
            {"STRM_PROXY_MODE": "proxy", "STRM_PUBLIC_BASE_URL": "http://nas:8000"},
            "STRM_PROXY_SECRET",
        ),
        ({"QBIT_USERNAME": "sonarr"}, "QBIT_PASSWORD"),
        ({"ANIBRIDGE_ADMIN_USER": "admin"}, "ANIBRIDGE_ADMIN_PASSWORD"),
    ],
)
def test_incomplete_combinations_are_refused(
    tmp_path: Path, values: dict[str, str], needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        _load(tmp_path, **values)


def test_proxy_mode_without_auth_needs_no_secret(tmp_path: Path) -> None:
    cfg = _load(
        tmp_path,
        STRM_PROXY_MODE="proxy",
        STRM_PUBLIC_BASE_URL="http://nas:8000",
        STRM_PROXY_AUTH="none",
    )
    assert cfg.strm_proxy_mode == "proxy"


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = _load(tmp_path).secret_key
    second = _load(tmp_path).secret_key
    assert first == second and len(first) >= 50
    key_file = tmp_path / "data" / "secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert _load(tmp_path, SECRET_KEY="given").secret_key == "given"


def test_sqlite_is_tuned_for_several_processes(tmp_path: Path) -> None:
    from anibridge_site.config import database_settings

    db = database_settings(f"sqlite:///{tmp_path}/x.sqlite3")
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]
    assert "busy_timeout" in db["OPTIONS"]["init_command"]


@pytest.mark.parametrize(
    "entry", [["manage.py", "check"], ["-m", "celery", "-A", "anibridge_site", "report"]]
)
def test_start_up_with_a_bad_value_prints_one_line_and_exits(
    tmp_path: Path, entry: list[str]
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "DATA_DIR": str(tmp_path),
        "MAX_CONCURRENCY": "lots",
        "ANIBRIDGE_ENV_FILE": str(tmp_path / "none"),
    }
    proc = subprocess.run(
        [sys.executable, *entry], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [
        "Invalid configuration: MAX_CONCURRENCY='lots' is not valid; "
        "it accepts a whole number >= 1 and <= 64."
    ]
