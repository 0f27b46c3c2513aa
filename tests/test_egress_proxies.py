"""Proxy settings: read once like curl/requests read them, decided per host contacted."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from anibridge_site.config import ConfigError, load
from catalog.apps import warn_legacy_proxy_variables
from catalog.egress import proxies
from tests.processes import REPO, process_env


def _load(tmp_path: Path, **values: str):
    return load({"DATA_DIR": str(tmp_path / "data"), **values}, env_file=tmp_path / "missing.env")


def test_proxy_variables_lower_case_wins_and_bare_host_means_http(tmp_path: Path) -> None:
    cfg = _load(
        tmp_path,
        HTTP_PROXY="http://upper:3128",
        http_proxy="lower:3128",
        HTTPS_PROXY="socks5h://u:p%40ss@127.0.0.1:1080",
        ALL_PROXY="socks5://10.0.0.1",
        no_proxy="127.0.0.1, .lan ,",
    )
    assert cfg.http_proxy == "http://lower:3128"
    assert cfg.https_proxy == "socks5h://u:p%40ss@127.0.0.1:1080"
    assert cfg.all_proxy == "socks5://10.0.0.1"
    assert cfg.no_proxy == ("127.0.0.1", ".lan")
    parsed = proxies.parse_proxy(cfg.https_proxy)
    assert (parsed.username, parsed.password, parsed.port) == ("u", "p@ss", 1080)
    assert parsed.shown == "socks5h://127.0.0.1:1080"  # no credentials in messages
    assert proxies.parse_proxy(cfg.all_proxy).port == 1080


@pytest.mark.parametrize("value", ["ftp://proxy:21", "socks4://proxy:1080", "http://:3128"])
def test_unusable_proxy_url_fails_with_one_line(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, HTTPS_PROXY=value)
    message = str(caught.value)
    assert "HTTPS_PROXY" in message and "socks5h://" in message and "\n" not in message


@pytest.mark.parametrize(
    ("host", "port", "entries", "bypassed"),
    [
        ("127.0.0.1", 80, ("127.0.0.1",), True),
        ("127.0.0.2", 80, ("127.0.0.0/8",), True),
        ("cdn.example.com", 443, ("example.com",), True),
        ("cdn.example.com", 443, (".example.com",), True),
        ("cdn.example.com", 443, ("*.example.com",), True),
        ("example.com", 443, (".example.com",), True),
        ("badexample.com", 443, ("example.com",), False),
        ("anything", 1, ("*",), True),
        ("127.0.0.1", 8080, ("127.0.0.1:8080",), True),
        ("127.0.0.1", 9090, ("127.0.0.1:8080",), False),
        ("::1", 80, ("::1",), True),
        ("::1", 80, ("[::1]:80",), True),
        ("10.1.2.3", 80, ("example.com",), False),
    ],
)
def test_no_proxy_matches_like_curl_and_requests(
    host: str, port: int, entries: tuple[str, ...], bypassed: bool
) -> None:
    assert proxies.bypassed(host, port, entries) is bypassed


def test_scheme_picks_its_proxy_and_all_proxy_is_the_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = dataclasses.replace(
        settings.CONFIG,
        http_proxy="http://h:1",
        https_proxy="",
        all_proxy="socks5h://a:2",
        no_proxy=("skip.me",),
    )
    monkeypatch.setattr(settings, "CONFIG", config)
    assert proxies.proxy_for_url("http://x.test/a").url == "http://h:1"  # type: ignore[union-attr]
    assert proxies.proxy_for_url("https://x.test/a").url == "socks5h://a:2"  # type: ignore[union-attr]
    assert proxies.proxy_for_url("https://skip.me/a") is None


def test_legacy_proxy_variables_give_one_warning_naming_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = _load(tmp_path, PROXY_ENABLED="true", PROXY_URL="http://x:1", PROXY_SCOPE="all")
    assert cfg.legacy_proxy_variables == ("PROXY_ENABLED", "PROXY_URL", "PROXY_SCOPE")
    with caplog.at_level(logging.WARNING, logger="catalog"):
        warn_legacy_proxy_variables(cfg.legacy_proxy_variables)
    [record] = caplog.records
    assert "PROXY_ENABLED, PROXY_URL, PROXY_SCOPE" in record.getMessage()
    assert "VPN" in record.getMessage() and "HTTP_PROXY" in record.getMessage()


def test_start_up_with_legacy_variables_warns_once_and_does_not_fail() -> None:
    env = process_env(PROXY_ENABLED="true", PROXY_HOST="10.0.0.1", PROXY_PORT="8888")
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "Ignored settings" in line]
    assert len(lines) == 1
    assert "PROXY_ENABLED, PROXY_HOST, PROXY_PORT" in lines[0]
