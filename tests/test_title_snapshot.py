"""ANIWORLD_ALPHABET_HTML / STO_ALPHABET_HTML: a saved copy of the index page, read
when the site's own page is blocked."""

from __future__ import annotations

import dataclasses
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from catalog import index
from catalog.sites.base import SiteError
from tests.fakeweb.web import FakeWeb


def _use(monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
    monkeypatch.setattr(settings, "CONFIG", dataclasses.replace(settings.CONFIG, **changes))


def _save_page(url: str, path: Path) -> Path:
    """What a user does in a browser: save the alphabet page to a file."""
    with urllib.request.urlopen(url, timeout=10) as response:
        path.write_bytes(response.read())
    return path


def _slugs(site: str) -> set[str]:
    return {row[0] for row in index._fetch_rows(site)}


@pytest.fixture
def sites(fake_sites: FakeWeb) -> FakeWeb:
    index.forget_process_index()
    return fake_sites


@pytest.mark.parametrize(
    ("site", "server", "page", "setting"),
    [
        ("aniworld.to", "aniworld", "/animes-alphabet", "aniworld_alphabet_html"),
        ("s.to", "sto", "/serien", "sto_alphabet_html"),
    ],
)
def test_a_blocked_index_page_is_read_from_the_saved_copy(
    sites: FakeWeb,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    site: str,
    server: str,
    page: str,
    setting: str,
) -> None:
    live = _slugs(site)
    url = (
        settings.CONFIG.aniworld_alphabet_url
        if server == "aniworld"
        else settings.CONFIG.sto_alphabet_url
    )
    copy = _save_page(url, tmp_path / "alphabet.html")
    _use(monkeypatch, **{setting: str(copy)})
    sites.servers[server].fail_next(page, status=403, count=5)
    caplog.set_level("WARNING", logger="catalog.snapshot")
    assert _slugs(site) == live and live
    assert f"title index {site}: the live index failed" in caplog.text
    assert f"using the saved copy {copy} ({len(live)} titles)" in caplog.text


def test_a_challenge_page_without_titles_falls_back_to_the_copy(
    sites: FakeWeb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    copy = tmp_path / "aniworld.html"
    copy.write_text(
        '<ul><li><a href="/anime/stream/saved-show" data-alternative-title="Gespeichert">'
        "Saved Show</a></li></ul>"
    )
    # As a challenge page answers 200 without titles: a page of the site without any.
    _use(
        monkeypatch,
        aniworld_alphabet_url=sites.url("aniworld", "/anime/stream/kaiju-academy"),
        aniworld_alphabet_html=str(copy),
    )
    assert _slugs("aniworld.to") == {"saved-show"}


def test_without_a_copy_a_blocked_page_fails_as_before(
    sites: FakeWeb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _use(monkeypatch, aniworld_alphabet_html=str(tmp_path / "missing.html"))
    sites.servers["aniworld"].fail_next("/animes-alphabet", status=403, count=5)
    with pytest.raises(SiteError, match="HTTP 403"):
        index._fetch_rows("aniworld.to")


def test_the_live_page_wins_over_the_copy(
    sites: FakeWeb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    copy = tmp_path / "old.html"
    copy.write_text('<a href="/anime/stream/old-show" data-alternative-title="">Old</a>')
    _use(monkeypatch, aniworld_alphabet_html=str(copy))
    slugs = _slugs("aniworld.to")
    assert "old-show" not in slugs and "kaiju-academy" in slugs
