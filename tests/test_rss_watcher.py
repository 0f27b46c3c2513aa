"""The RSS watcher against the fake sites: what a check reads, what it records, when.

Time is the check's `now` argument (moved on by hand, never slept). Episodes are held
back and released on the fake sites with `LinkTable.set_languages`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from django.utils import timezone

from anibridge_site.redis_client import get_redis
from catalog import numbering, watcher, watching
from catalog.identity import EpisodeIdentity
from catalog.models import EpisodeAvailability, FirstSeen, WatchedSeries
from catalog.tasks import check_watched_series_now, probe_queued_key
from tests.fakeweb import FakeWeb

pytestmark = pytest.mark.django_db

ANIWORLD = "aniworld.to"
HOUR = timedelta(hours=1)


def _watch(slug: str, tvdb_id: int | None, site: str = ANIWORLD) -> WatchedSeries:
    """Watched as after a search: the search also left the season sizes in the cache."""
    numbering.site_seasons(site, slug)
    title = slug.replace("-", " ").title()
    watching.note_search(site, slug, title, tvdb_id)
    return WatchedSeries.objects.get(site=site, slug=slug)


def _seen(slug: str, *, baseline: bool) -> set[tuple[int, int, str]]:
    rows = FirstSeen.objects.filter(slug=slug, baseline=baseline)
    return set(rows.values_list("season", "episode", "language"))


def _page_requests(web: FakeWeb) -> list[str]:
    return [
        r.path
        for name in ("aniworld", "sto", "megakino")
        for r in web.counts.requests(name)
        if not r.path.startswith("/redirect/")
    ]


def test_the_first_check_records_what_is_there_as_baseline(fake_sites: FakeWeb) -> None:
    series = _watch("kaiju-academy", 900001)
    fake_sites.counts.reset()
    now = timezone.now()

    assert watcher.check_due(now) == 1

    # The newest season and (on the first check) the films page: two requests.
    assert sorted(_page_requests(fake_sites)) == [
        "/anime/stream/kaiju-academy/filme",
        "/anime/stream/kaiju-academy/staffel-2",
    ]
    langs = ("German Dub", "German Sub", "English Sub")
    assert _seen("kaiju-academy", baseline=True) == {
        *((2, e, lang) for e in (1, 2) for lang in langs),
        *((0, f, lang) for f in (1, 2) for lang in langs),
    }
    assert not _seen("kaiju-academy", baseline=False)
    series.refresh_from_db()
    assert series.last_checked_at == now and series.last_error == ""
    assert series.season_sizes == {"0": 2, "1": 3, "2": 2}
    assert now < series.next_check_at <= now + HOUR


def test_a_released_language_is_a_release_named_as_sonarr_numbers_it(
    fake_sites: FakeWeb,
) -> None:
    links = fake_sites.links
    links.set_languages(ANIWORLD, "star-drifters", 1, 4, ())  # episode 4 is not out yet
    _watch("star-drifters", 900002)
    t0 = timezone.now()
    watcher.check_due(t0)
    assert (1, 4, "German Sub") not in _seen("star-drifters", baseline=True)
    # A search before the release probed it: "not available" is cached.
    sub = EpisodeIdentity(ANIWORLD, "star-drifters", 1, 4, "German Sub")
    EpisodeAvailability.objects.create(
        site=sub.site, slug=sub.slug, season=1, episode=4, language=sub.language, available=False
    )

    links.set_languages(ANIWORLD, "star-drifters", 1, 4, ("German Sub",))
    t1 = t0 + HOUR + timedelta(minutes=1)
    assert watcher.check_due(t1) == 1

    [row] = FirstSeen.objects.filter(slug="star-drifters", baseline=False)
    assert (row.season, row.episode, row.language) == (1, 4, "German Sub")
    assert row.first_seen_at == t1
    assert (row.name_season, row.name_episode, row.absolute) == (1, 4, 4)
    # The site contradicts the cached "not available": it is dropped and probed again.
    assert not EpisodeAvailability.objects.filter(slug="star-drifters", episode=4).exists()
    assert get_redis().exists(probe_queued_key(sub))


def test_each_check_reads_at_most_two_pages_and_unwatched_series_none(
    fake_sites: FakeWeb,
) -> None:
    watched = [
        _watch("kaiju-academy", 900001),
        _watch("star-drifters", 900002),
        _watch("the-quiet-harbor", 900101, site="s.to"),
    ]
    t0 = timezone.now()
    long_ago = t0 - timedelta(days=31)
    WatchedSeries.objects.create(site=ANIWORLD, slug="moonlit-blade", last_activity_at=long_ago)
    WatchedSeries.objects.create(site=ANIWORLD, slug="lantern-road", stopped=True, pinned=True)
    watcher.check_due(t0)
    fake_sites.counts.reset()

    t1 = t0 + HOUR + timedelta(minutes=1)
    assert watcher.check_due(t1) == 3

    requests = _page_requests(fake_sites)
    assert len(requests) <= 2 * len(watched)
    assert not [p for p in requests if "moonlit-blade" in p or "lantern-road" in p]
    for series in watched:
        series.refresh_from_db()
        assert series.last_checked_at == t1 and series.last_error == ""
    assert WatchedSeries.objects.get(slug="moonlit-blade").last_checked_at is None
    assert WatchedSeries.objects.get(slug="lantern-road").last_checked_at is None


def test_checks_are_spread_over_the_interval() -> None:
    start = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    slots = [
        watcher.next_slot(WatchedSeries(site=ANIWORLD, slug=f"series-{n}"), start)
        for n in range(120)
    ]
    assert all(start < slot <= start + HOUR for slot in slots)
    per_minute: dict[int, int] = {}
    for slot in slots:
        minute = int((slot - start).total_seconds() // 60)
        per_minute[minute] = per_minute.get(minute, 0) + 1
    assert len(per_minute) >= 40  # 120 checks over at least 40 of the 60 minutes
    assert max(per_minute.values()) <= 8
    # A series keeps its moment: its next check is one interval later.
    again = watcher.next_slot(WatchedSeries(site=ANIWORLD, slug="series-0"), slots[0])
    assert again - slots[0] == HOUR


def test_only_due_series_are_checked(fake_sites: FakeWeb) -> None:
    series = _watch("star-drifters", 900002)
    t0 = timezone.now()
    watcher.check_due(t0)
    series.refresh_from_db()
    fake_sites.counts.reset()

    assert watcher.check_due(series.next_check_at - timedelta(seconds=1)) == 0
    assert _page_requests(fake_sites) == []
    assert watcher.check_due(series.next_check_at) == 1


def test_a_site_down_during_a_check_is_retried_next_cycle(fake_sites: FakeWeb) -> None:
    fake_sites.links.set_languages(ANIWORLD, "star-drifters", 1, 4, ())
    series = _watch("star-drifters", 900002)
    t0 = timezone.now()
    watcher.check_due(t0)
    fake_sites.links.set_languages(ANIWORLD, "star-drifters", 1, 4, ("German Sub",))
    fake_sites.aniworld.fail_next("/anime/stream/star-drifters/*", status=503, count=10)

    t1 = t0 + HOUR + timedelta(minutes=1)
    assert watcher.check_due(t1) == 1
    series.refresh_from_db()
    assert "HTTP 503" in series.last_error and series.last_error_at == t1
    assert series.last_checked_at == t0
    assert not _seen("star-drifters", baseline=False)

    fake_sites.aniworld.clear_faults()
    assert watcher.check_due(t1 + HOUR) == 1
    series.refresh_from_db()
    assert series.last_error == "" and series.last_checked_at == t1 + HOUR
    assert _seen("star-drifters", baseline=False) == {(1, 4, "German Sub")}


def test_a_new_season_is_read_when_it_appears(fake_sites: FakeWeb) -> None:
    t0 = timezone.now()
    # Watched since season 1 was all there was, checked before: the next check reads the
    # newest season and, this turn, the next one.
    series = WatchedSeries.objects.create(
        site=ANIWORLD,
        slug="kaiju-academy",
        title="Kaiju Academy",
        tvdb_id=900001,
        pinned=True,
        season_sizes={"0": 2, "1": 3},
        checks=1,
        last_checked_at=t0 - HOUR,
        next_check_at=t0,
    )
    assert watcher.check_due(t0) == 1

    assert sorted(_page_requests(fake_sites)) == [
        "/anime/stream/kaiju-academy/staffel-1",
        "/anime/stream/kaiju-academy/staffel-2",
    ]
    new = FirstSeen.objects.filter(slug="kaiju-academy", baseline=False, season=2)
    named = set(new.values_list("episode", "name_season", "name_episode", "absolute"))
    assert named == {(1, 2, 1, 4), (2, 2, 2, 5)}
    assert new.count() == 6  # two episodes in three languages
    series.refresh_from_db()
    assert series.season_sizes == {"0": 2, "1": 3, "2": 2}


def test_a_new_film_is_named_as_its_skyhook_special(fake_sites: FakeWeb) -> None:
    fake_sites.links.set_languages(ANIWORLD, "kaiju-academy", 0, 2, ())
    _watch("kaiju-academy", 900001)
    t0 = timezone.now()
    watcher.check_due(t0)  # baseline: the newest season and the films page
    watcher.check_due(t0 + HOUR)  # the next season's turn
    fake_sites.links.set_languages(ANIWORLD, "kaiju-academy", 0, 2, ("German Dub",))
    fake_sites.counts.reset()

    watcher.check_due(t0 + 2 * HOUR)  # the films page's turn

    assert "/anime/stream/kaiju-academy/filme" in _page_requests(fake_sites)
    [film] = FirstSeen.objects.filter(slug="kaiju-academy", baseline=False)
    # film-2 ("Beach Episode") is Sonarr's S00E01.
    assert (film.season, film.episode, film.language) == (0, 2, "German Dub")
    assert (film.name_season, film.name_episode, film.absolute) == (0, 1, None)


def test_sto_flags_become_releases(fake_sites: FakeWeb) -> None:
    fake_sites.links.set_languages("s.to", "the-quiet-harbor", 2, 2, ("German Dub",))
    _watch("the-quiet-harbor", 900101, site="s.to")
    t0 = timezone.now()
    watcher.check_due(t0)
    assert (2, 2, "German Dub") in _seen("the-quiet-harbor", baseline=True)

    fake_sites.links.set_languages("s.to", "the-quiet-harbor", 2, 2, ("German Dub", "English Dub"))
    watcher.check_due(t0 + HOUR)

    [row] = FirstSeen.objects.filter(slug="the-quiet-harbor", baseline=False)
    assert (row.season, row.episode, row.language) == (2, 2, "English Dub")
    assert (row.name_season, row.name_episode, row.absolute) == (2, 2, None)


def test_a_megakino_serial_is_one_page(fake_sites: FakeWeb) -> None:
    series = WatchedSeries.objects.create(site="megakino", slug="202-glass-rivers", pinned=True)

    check_watched_series_now(series.pk)

    assert _seen("202-glass-rivers", baseline=True) == {(1, e, "German Dub") for e in (1, 2, 3)}
    # One page; a process that has not read Megakino's index yet tries /films/ first.
    requests = _page_requests(fake_sites)
    assert requests[-1] == "/serials/202-glass-rivers.html" and len(requests) <= 2


def test_a_series_gone_from_the_site_is_an_error_not_a_crash(fake_sites: FakeWeb) -> None:
    series = WatchedSeries.objects.create(site=ANIWORLD, slug="no-such-series", pinned=True)

    assert watcher.check_due(timezone.now()) == 1

    series.refresh_from_db()
    assert "could not read the seasons" in series.last_error
    assert series.last_checked_at is None


def test_requests_to_one_site_are_spaced(fake_sites: FakeWeb) -> None:
    calls: list[tuple[str, float]] = []

    def call(site: str) -> None:
        watcher._site_call(site, lambda: calls.append((site, time.monotonic())))

    for site in (ANIWORLD, ANIWORLD, "s.to", ANIWORLD):
        call(site)

    aniworld = [t for site, t in calls if site == ANIWORLD]
    gaps = [b - a for a, b in pairwise(aniworld)]
    assert all(gap >= watcher.SITE_SPACING_SECONDS * 0.95 for gap in gaps)
    sto = next(t for site, t in calls if site == "s.to")
    assert sto - aniworld[1] < watcher.SITE_SPACING_SECONDS / 2  # another site does not wait
