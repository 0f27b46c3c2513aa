"""strm.operations: re-resolve a mapping now and keep its .strm file right (STRM-PROXY.md
required behaviour 7), and the admin actions built on it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.test import Client

from strm import dead_links
from strm.models import StrmUrlMapping
from strm.operations import FileState, refresh_mapping, rewrite_strm_file
from strm.stream_urls import stream_url
from tests.fakeweb import FakeWeb
from tests.strm_refresh_helpers import (
    KAIJU_1,
    KAIJU_GONE,
    recorded,
    resolves,
    strm_url,
    use_mode,
    with_strm_file,
)

pytestmark = pytest.mark.django_db

OLD_MTIME_NS = 1_000_000_000 * 10**9


def _age(path: Path) -> None:
    """Backdate the file so any write shows in its mtime."""
    os.utime(path, ns=(OLD_MTIME_NS, OLD_MTIME_NS))


def test_direct_mode_rewrites_the_file_with_a_fresh_cdn_url(
    fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_mode(monkeypatch, tmp_path, "direct")
    mapping = with_strm_file(KAIJU_1)
    old_url = strm_url(mapping)
    fake_sites.cdn.expire_tokens()  # the URL in the file is dead now

    outcome = refresh_mapping(mapping)

    assert not outcome.failed and outcome.file is FileState.REWRITTEN
    assert resolves(fake_sites) == 2  # a new resolution, not the cached one
    new_url = strm_url(mapping)
    assert new_url != old_url and new_url.startswith(fake_sites.urls["cdn"] + "/t/")
    assert StrmUrlMapping.objects.get(pk=mapping.pk).resolved_url == new_url
    assert dead_links.probe(new_url, outcome.resolution.headers if outcome.resolution else {}) == (
        dead_links.Probe(200)
    )
    assert str(outcome) == f"{mapping.episode_label}: resolved via VOE; .strm file rewritten"


def test_proxy_mode_leaves_an_unchanged_file_alone(
    fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_mode(monkeypatch, tmp_path, "proxy")
    mapping = with_strm_file(KAIJU_1)
    path = Path(mapping.strm_path)
    _age(path)

    outcome = refresh_mapping(mapping)

    assert not outcome.failed and outcome.file is FileState.UNCHANGED
    assert resolves(fake_sites) == 2
    assert path.stat().st_mtime_ns == OLD_MTIME_NS
    assert str(outcome).endswith("resolved via VOE; .strm file unchanged")


def test_proxy_mode_rewrites_the_file_when_the_public_base_url_changed(
    fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_mode(monkeypatch, tmp_path, "proxy")
    mapping = with_strm_file(KAIJU_1)
    use_mode(monkeypatch, tmp_path, "proxy", strm_public_base_url="https://anibridge.lan:8443")

    outcome = refresh_mapping(mapping)

    assert outcome.file is FileState.REWRITTEN
    assert strm_url(mapping) == stream_url(KAIJU_1)
    assert strm_url(mapping).startswith("https://anibridge.lan:8443/strm/stream?")


def test_a_missing_file_is_reported_and_not_created(
    fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    downloads = use_mode(monkeypatch, tmp_path, "direct")
    gone = downloads / "Kaiju.Academy.S01E01.strm"  # Sonarr moved it into the library
    mapping = recorded(KAIJU_1, str(gone))

    outcome = refresh_mapping(mapping)

    assert not outcome.failed and outcome.file is FileState.MISSING
    assert resolves(fake_sites) == 1 and not gone.exists()
    assert str(outcome).endswith("resolved via VOE; .strm file missing (not created)")


@pytest.mark.parametrize("how", ["outside", "symlink out"])
def test_a_file_outside_the_download_dir_is_never_written(
    how: str, fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    downloads = use_mode(monkeypatch, tmp_path, "direct")
    elsewhere = tmp_path / "library"
    elsewhere.mkdir()
    mapping = with_strm_file(KAIJU_1, elsewhere)
    target = Path(mapping.strm_path)
    before = target.read_text()
    if how == "symlink out":
        link = downloads / target.name
        link.symlink_to(target)
        mapping = recorded(KAIJU_1, str(link))

    outcome = refresh_mapping(mapping)

    assert outcome.failed and "is outside DOWNLOAD_DIR" in outcome.error
    assert target.read_text() == before
    assert "\n" not in str(outcome)


def test_an_episode_that_no_longer_resolves_fails_with_the_reason(
    fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    downloads = use_mode(monkeypatch, tmp_path, "direct")
    path = downloads / "gone.strm"
    path.write_text("https://cdn.invalid/old.m3u8\n")
    mapping = recorded(KAIJU_GONE, str(path))

    outcome = refresh_mapping(mapping)

    assert outcome.failed and outcome.file is None and outcome.resolution is None
    assert "S01E09" in outcome.error and "\n" not in str(outcome)
    assert path.read_text() == "https://cdn.invalid/old.m3u8\n"


def test_dry_run_resolves_and_writes_nothing(
    fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_mode(monkeypatch, tmp_path, "direct")
    mapping = with_strm_file(KAIJU_1)
    before = strm_url(mapping)

    outcome = refresh_mapping(mapping, dry_run=True)

    assert outcome.file is FileState.WOULD_REWRITE and not outcome.failed
    assert resolves(fake_sites) == 1 and strm_url(mapping) == before
    assert str(outcome).endswith("would re-resolve; .strm file would be rewritten")


def test_rewrite_uses_the_current_resolution_without_resolving(
    fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_mode(monkeypatch, tmp_path, "direct")
    mapping = with_strm_file(KAIJU_1)
    current = strm_url(mapping)
    Path(mapping.strm_path).write_text("https://cdn.invalid/edited-by-hand.m3u8\n")

    outcome = rewrite_strm_file(mapping)

    assert outcome.file is FileState.REWRITTEN and strm_url(mapping) == current
    assert resolves(fake_sites) == 1


# --- the admin actions ---------------------------------------------------------------


@pytest.fixture
def staff(client: Client) -> Client:
    client.force_login(User.objects.create_superuser("op", "op@example.invalid", "pw-for-tests"))
    return client


def _run_action(staff: Client, action: str, *mappings: StrmUrlMapping) -> list[str]:
    response = staff.post(
        "/admin/strm/strmurlmapping/",
        {"action": action, "_selected_action": [m.pk for m in mappings]},
    )
    assert response.status_code == 302
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_admin_re_resolve_now_counts_successes_and_failures(
    staff: Client, fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_mode(monkeypatch, tmp_path, "direct")
    good = with_strm_file(KAIJU_1)
    old_url = strm_url(good)
    bad = recorded(KAIJU_GONE)

    [message] = _run_action(staff, "reresolve_now", good, bad)

    assert message.startswith("Re-resolved 1 of 2 mapping(s); 1 failed, e.g. ")
    assert "S01E09" in message and strm_url(good) != old_url
    listing = staff.get("/admin/strm/strmurlmapping/").content.decode()
    assert "Last checked at" in listing and "Fail count" in listing


def test_admin_rewrite_strm_file_writes_the_proxy_url(
    staff: Client, fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_mode(monkeypatch, tmp_path, "direct")
    mapping = with_strm_file(KAIJU_1)
    use_mode(monkeypatch, tmp_path, "proxy")  # switched to proxy mode since

    [message] = _run_action(staff, "rewrite_strm_file", mapping)

    assert message == "Rewrote 1 of 1 mapping(s)."
    assert strm_url(mapping) == stream_url(KAIJU_1) and resolves(fake_sites) == 1
