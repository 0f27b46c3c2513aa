"""Dead-link detection (strm.tasks.check_dead_links): expiry, blocking, rate limits and
outages told apart, each acted on differently; bounded runs."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from catalog.identity import EpisodeIdentity
from strm import dead_links
from strm.models import StrmUrlMapping
from strm.tasks import check_dead_links
from tests.fakeweb import FakeWeb
from tests.strm_refresh_helpers import (
    HARBOR_1,
    KAIJU_1,
    KAIJU_2,
    resolves,
    strm_url,
    use_mode,
    with_strm_file,
)

pytestmark = pytest.mark.django_db

MASTER = "hls/ts/master.m3u8"  # what VOE's links point at on the fake CDN
# Only VOE hosts it: when VOE loses it, it no longer resolves.
MOONLIT = EpisodeIdentity("aniworld.to", "moonlit-blade", 1, 1, "German Dub", "VOE")


@pytest.fixture
def kaiju(fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> StrmUrlMapping:
    use_mode(monkeypatch, tmp_path, "direct")
    mapping = with_strm_file(KAIJU_1)
    fake_sites.counts.reset()
    return mapping


def reloaded(mapping: StrmUrlMapping) -> StrmUrlMapping:
    return StrmUrlMapping.objects.get(pk=mapping.pk)


def refuse_next(web: FakeWeb, status: int, probes: int = 1) -> None:
    """The CDN answers `status` to the next probes (each probe: HEAD, then GET)."""
    web.cdn.fail_next(MASTER, status=status, count=2 * probes)


def cdn_probes(web: FakeWeb) -> int:
    return web.counts.total("cdn", f"/t/*/{MASTER}")


def test_a_live_url_is_recorded_as_alive_without_resolving(
    kaiju: StrmUrlMapping, fake_sites: FakeWeb
) -> None:
    [report] = check_dead_links(batch=10)
    row = reloaded(kaiju)
    assert (row.last_status, row.fail_count, row.last_error) == (200, 0, "")
    assert row.last_checked_at is not None and resolves(fake_sites) == 0
    assert [r.method for r in fake_sites.counts.requests("cdn")] == ["HEAD"]
    assert report == f"{kaiju.episode_label}: alive (200)"


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_url_is_re_resolved_and_the_file_rewritten(
    status: int, kaiju: StrmUrlMapping, fake_sites: FakeWeb
) -> None:
    old_url = strm_url(kaiju)
    refuse_next(fake_sites, status)
    [report] = check_dead_links(batch=10)
    row = reloaded(kaiju)
    assert resolves(fake_sites) == 1
    assert strm_url(kaiju) == row.resolved_url != old_url
    assert (row.last_status, row.fail_count) == (200, 0)  # the fresh URL was probed
    assert report.endswith(f"gone ({status}), re-resolved via VOE: alive (200)")


def test_a_gone_url_whose_episode_no_longer_resolves_keeps_its_file(
    fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_mode(monkeypatch, tmp_path, "direct")
    mapping = with_strm_file(MOONLIT)
    before = strm_url(mapping)
    fake_sites.cdn.fail_next("hls/byterange/master.m3u8", status=404, count=2)
    fake_sites.hoster("VOE").fail_next("/e/*", status=404, count=10)  # its only hoster lost it
    check_dead_links(batch=10)
    row = reloaded(mapping)
    assert (row.last_status, row.fail_count) == (404, 1) and strm_url(mapping) == before
    assert row.last_error.startswith("gone (404), re-resolving failed, checked again next run: ")
    fake_sites.hoster("VOE").clear_faults()  # back: the next run resolves it
    [report] = check_dead_links(batch=10)
    row = reloaded(mapping)
    assert (row.last_status, row.fail_count) == (200, 0) and strm_url(mapping) != before
    assert report.endswith("not resolved since it failed, re-resolved via VOE: alive (200)")


def test_an_expired_token_is_re_resolved_once(kaiju: StrmUrlMapping, fake_sites: FakeWeb) -> None:
    fake_sites.cdn.expire_tokens()
    check_dead_links(batch=10)
    row = reloaded(kaiju)
    assert resolves(fake_sites) == 1 and (row.last_status, row.fail_count) == (200, 0)


def test_403_again_after_a_re_resolve_is_blocked_and_backed_off(
    kaiju: StrmUrlMapping, fake_sites: FakeWeb
) -> None:
    fake_sites.cdn.expire_tokens()
    fake_sites.cdn.token_lifetime = 0  # fresh URLs are refused too: we are blocked
    check_dead_links(batch=10)
    row = reloaded(kaiju)
    assert resolves(fake_sites) == 1 and cdn_probes(fake_sites) == 4
    assert (row.last_status, row.fail_count) == (403, 1)
    assert "refused again (403): blocked (geo/IP?), checked again in 6 h" in row.last_error

    assert check_dead_links(batch=10) == []  # backing off: no probe, no re-resolve
    assert resolves(fake_sites) == 1 and cdn_probes(fake_sites) == 4
    later = timezone.now() + timedelta(hours=6, minutes=1)
    assert list(dead_links.due_mappings(10, now=later)) == [row]


def test_429_backs_off_without_re_resolving(kaiju: StrmUrlMapping, fake_sites: FakeWeb) -> None:
    refuse_next(fake_sites, 429)
    check_dead_links(batch=10)
    row = reloaded(kaiju)
    assert resolves(fake_sites) == 0 and (row.last_status, row.fail_count) == (429, 1)
    assert row.last_error == "rate limited (429): not re-resolved, checked again in 1 h"
    assert check_dead_links(batch=10) == [] and cdn_probes(fake_sites) == 2


def test_451_is_marked_without_re_resolving(kaiju: StrmUrlMapping, fake_sites: FakeWeb) -> None:
    refuse_next(fake_sites, 451)
    check_dead_links(batch=10)
    row = reloaded(kaiju)
    assert resolves(fake_sites) == 0 and row.last_status == 451
    assert row.last_error.startswith("unavailable for legal reasons (451): not re-resolved")


def test_5xx_counts_failures_and_is_retried_next_run(
    kaiju: StrmUrlMapping, fake_sites: FakeWeb
) -> None:
    refuse_next(fake_sites, 503, probes=2)
    check_dead_links(batch=10)
    check_dead_links(batch=10)
    row = reloaded(kaiju)
    assert (row.last_status, row.fail_count, resolves(fake_sites)) == (503, 2, 0)
    assert row.last_error == "transient failure (503): checked again next run"
    check_dead_links(batch=10)  # the CDN is back
    assert (reloaded(kaiju).last_status, reloaded(kaiju).fail_count) == (200, 0)


def test_an_unreachable_cdn_is_transient_and_does_not_hang(kaiju: StrmUrlMapping) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    StrmUrlMapping.objects.filter(pk=kaiju.pk).update(
        resolved_url=f"http://127.0.0.1:{port}/t/x/{MASTER}"
    )
    check_dead_links(batch=10)
    row = reloaded(kaiju)
    assert (row.last_status, row.fail_count) == (None, 1)
    assert row.last_error.startswith("transient failure (127.0.0.1:")


def test_a_target_the_ssrf_guard_refuses_is_not_contacted(kaiju: StrmUrlMapping) -> None:
    StrmUrlMapping.objects.filter(pk=kaiju.pk).update(resolved_url="http://127.0.0.2:9/x.m3u8")
    check_dead_links(batch=10)
    row = reloaded(kaiju)
    assert row.fail_count == 1 and row.last_status is None
    assert row.last_error.startswith("not contacted: upstream 127.0.0.2 resolves to 127.0.0.2")


def test_a_run_is_bounded_and_checks_each_mapping_once_oldest_first(
    kaiju: StrmUrlMapping, fake_sites: FakeWeb
) -> None:
    others = [with_strm_file(KAIJU_2), with_strm_file(HARBOR_1)]
    StrmUrlMapping.objects.filter(pk=kaiju.pk).update(last_checked_at=timezone.now())
    fake_sites.counts.reset()

    reports = check_dead_links(batch=2)

    assert len(reports) == 2 and reloaded(kaiju).last_status is None  # checked most recently
    assert all(reloaded(m).last_status == 200 for m in others)
    heads = [r.path for r in fake_sites.counts.requests("cdn")]
    assert len(heads) == len(set(heads)) == 2
