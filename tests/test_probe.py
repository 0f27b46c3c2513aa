"""Probing availability and quality, and the EpisodeAvailability cache in front of it."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.identity import EpisodeIdentity
from catalog.models import EpisodeAvailability
from catalog.probe import availability, probe_episode, probe_season
from tests.fakeweb import FakeWeb
from tests.processes import wait_until
from tests.strm_helpers import Origin

KAIJU = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub")
KAIJU_PAGE = "/anime/stream/kaiju-academy/staffel-1/episode-1"


def row_for(identity: EpisodeIdentity) -> EpisodeAvailability:
    return EpisodeAvailability.objects.get(
        site=identity.site,
        slug=identity.slug,
        season=identity.season,
        episode=identity.episode,
        language=identity.language,
    )


# -- one episode ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_probe_finds_the_best_rendition_of_the_first_hoster(fake_sites: FakeWeb) -> None:
    row = probe_episode(KAIJU)
    assert (row.available, row.provider, row.height, row.error) == (True, "VOE", 360, "")
    assert row_for(KAIJU).pk == row.pk
    # From the master: the best variant's RESOLUTION and BANDWIDTH.
    assert (row.width, row.bandwidth) == (640, 305312)
    # The master names no CODECS: they were read from the best variant's first segment.
    assert row.codecs == "avc1.42e01e,mp4a.40.2" and row.vcodec == "avc1.42e01e"
    assert fake_sites.counts.total("cdn", "*.ts") == 1
    assert fake_sites.counts.total("cdn", "*/360p/seg0.ts") == 1


MASTER_SAYING_ALL = (
    "#EXTM3U\n"
    '#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2"\n'
    "hd/index.m3u8\n"
    '#EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1920x1080,CODECS="hvc1.1.6.L120.B0"\n'
    "fhd/index.m3u8\n"
)


@pytest.mark.django_db
def test_a_master_that_says_everything_is_all_the_probe_reads(fake_sites: FakeWeb) -> None:
    origin = Origin(fake_sites.counts)
    origin.start()
    try:
        origin.serve("/master.m3u8", MASTER_SAYING_ALL.encode(), "application/x-mpegurl")
        fake_sites.cdn.redirect_resources("hls/ts/master.m3u8", origin.url("/master.m3u8"))
        row = probe_episode(KAIJU)
    finally:
        origin.stop()
    assert (row.available, row.provider, row.width, row.height) == (True, "VOE", 1920, 1080)
    assert (row.bandwidth, row.codecs, row.vcodec) == (
        2500000,
        "hvc1.1.6.L120.B0",
        "hvc1.1.6.L120.B0",
    )
    assert fake_sites.counts["origin"] == {"/master.m3u8": 1}  # no media playlist, no segment


@pytest.mark.django_db
def test_probe_of_a_media_playlist_reads_its_first_segment(fake_sites: FakeWeb) -> None:
    """No master: resolution and codecs from ffprobe, the bit rate from the byte ranges."""
    fake_sites.cdn.redirect_resources("hls/byterange/master.m3u8", "360p/index.m3u8")
    row = probe_episode(EpisodeIdentity("aniworld.to", "moonlit-blade", 1, 1, "German Dub"))
    assert (row.available, row.width, row.height) == (True, 640, 360)
    assert row.codecs == "avc1.42e01e,mp4a.40.2"
    assert row.bandwidth == 76328 * 8 // 2  # the biggest range over its 2 s


@pytest.mark.django_db
def test_probe_of_a_progressive_file_reads_its_first_bytes(fake_sites: FakeWeb) -> None:
    row = probe_episode(dataclasses.replace(KAIJU, provider="Vidoza"))
    assert (row.available, row.provider) == (True, "Vidoza")
    assert (row.width, row.height, row.codecs) == (640, 360, "avc1.42e01e,mp4a.40.2")
    size = fake_sites.media.progressive.stat().st_size
    assert row.bandwidth is not None and abs(row.bandwidth - size * 8 / 6) < 0.05 * row.bandwidth


@pytest.mark.django_db
def test_megakino_film_and_serial_probe(fake_sites: FakeWeb) -> None:
    film = probe_episode(EpisodeIdentity("megakino", "101-iron-orchard", 0, 1, "German Dub"))
    serial = probe_episode(EpisodeIdentity("megakino", "202-glass-rivers", 1, 3, "German Dub"))
    assert (film.available, film.provider, film.height) == (True, "VOE", 360)
    assert (serial.available, serial.provider, serial.height) == (True, "VOE", 360)


@pytest.mark.django_db
def test_an_unreadable_stream_moves_the_probe_to_the_next_hoster(fake_sites: FakeWeb) -> None:
    fake_sites.cdn.fail_next("hls/ts/master.m3u8", status=403, count=5)
    row = probe_episode(KAIJU)
    assert (row.available, row.provider, row.height) == (True, "Filemoon", 360)


@pytest.mark.django_db
def test_unavailable_languages_are_cached_with_the_reason(fake_sites: FakeWeb) -> None:
    dub = EpisodeIdentity("aniworld.to", "star-drifters", 1, 2, "German Dub")
    row = probe_episode(dub)
    assert not row.available
    assert row.error == (
        "aniworld.to/star-drifters S01E02: German Dub is not offered "
        "(available: German Sub, English Sub)"
    )
    # The same page proves English Dub missing too; the offered languages stay unprobed.
    english_dub = row_for(dataclasses.replace(dub, language="English Dub"))
    assert not english_dub.available and "English Dub is not offered" in english_dub.error
    assert EpisodeAvailability.objects.count() == 2
    fake_sites.counts.reset()
    assert availability(dub) == row
    assert fake_sites.counts.total("aniworld") == 0


@pytest.mark.django_db
def test_no_working_hoster_is_cached_as_unavailable(fake_sites: FakeWeb) -> None:
    for hoster in ("voe", "filemoon"):
        fake_sites.servers[hoster].fail_next("*", status=404, count=10)
    row = probe_episode(EpisodeIdentity("aniworld.to", "star-drifters", 1, 1, "German Sub"))
    assert not row.available
    assert "no hoster worked (VOE: " in row.error and "; Filemoon: " in row.error


# -- the cache -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_fresh_answer_is_not_probed_again(fake_sites: FakeWeb) -> None:
    first = availability(KAIJU)
    assert first is not None and first.available
    traffic = fake_sites.counts.total("aniworld"), fake_sites.counts.total("cdn")
    assert traffic[0] == 2  # episode page, redirect
    second = availability(KAIJU)
    assert second == first
    assert (fake_sites.counts.total("aniworld"), fake_sites.counts.total("cdn")) == traffic


@pytest.mark.django_db
def test_a_stale_answer_is_probed_again(fake_sites: FakeWeb) -> None:
    probe_episode(KAIJU)
    EpisodeAvailability.objects.update(checked_at=timezone.now() - timedelta(hours=25))
    fake_sites.counts.reset()
    row = availability(KAIJU)
    assert row is not None and row.is_fresh(1)
    assert fake_sites.counts.count("aniworld", KAIJU_PAGE) == 1
    assert availability(KAIJU, max_age_hours=30) == row


@pytest.mark.django_db
def test_a_failing_site_is_not_cached_and_not_hammered(fake_sites: FakeWeb) -> None:
    fake_sites.aniworld.fail_next(KAIJU_PAGE, status=503, count=2)
    assert availability(KAIJU) is None
    assert not EpisodeAvailability.objects.exists()
    # Remembered for a minute: the next search does not ask the site again.
    assert availability(KAIJU) is None
    assert fake_sites.counts.count("aniworld", KAIJU_PAGE) == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_callers_share_one_probe(fake_sites: FakeWeb) -> None:
    # The page answers slowly, so the second caller arrives while the first probes.
    fake_sites.aniworld.stall_next(KAIJU_PAGE, seconds=0.5)
    results: list[EpisodeAvailability | None] = []

    def ask() -> None:
        results.append(availability(KAIJU))

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 3 and all(r is not None and r.available for r in results)
    assert len({r.pk for r in results if r is not None}) == 1
    assert fake_sites.counts.count("aniworld", KAIJU_PAGE) == 1
    assert fake_sites.counts.total("cdn", "*/master.m3u8") == 1


# -- seasons -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_season_probe_runs_bounded_and_returns_at_the_deadline(fake_sites: FakeWeb) -> None:
    season_page = "/anime/stream/star-drifters/staffel-1/episode-{}"
    for number in (3, 4):
        fake_sites.aniworld.stall_next(season_page.format(number), seconds=3)
    started = time.monotonic()
    found = probe_season(
        "aniworld.to", "star-drifters", 1, "German Sub", max_workers=2, deadline_seconds=2
    )
    elapsed = time.monotonic() - started
    assert sorted(found) == [1, 2]
    assert all(row.available and row.height == 360 for row in found.values())
    assert 2 <= elapsed < 3
    # The two stalled probes were running: they finish in the background, into the cache.
    german_sub = EpisodeAvailability.objects.filter(language="German Sub")
    wait_until(lambda: german_sub.count() == 4, 20, "background probes")
    fake_sites.counts.reset()
    again = probe_season("aniworld.to", "star-drifters", 1, "German Sub", deadline_seconds=5)
    assert sorted(again) == [1, 2, 3, 4]
    # Cached answers: only the structure (series and season page) was read again.
    assert fake_sites.counts["aniworld"] == {
        "/anime/stream/star-drifters": 1,
        "/anime/stream/star-drifters/staffel-1": 1,
    }


@pytest.mark.django_db(transaction=True)
def test_season_probe_leaves_unstarted_episodes_for_later(fake_sites: FakeWeb) -> None:
    page = "/anime/stream/kaiju-academy/staffel-1/episode-{}"
    fake_sites.aniworld.stall_next(page.format(1), seconds=1.0)
    found = probe_season(
        "aniworld.to",
        "kaiju-academy",
        1,
        "German Dub",
        max_workers=1,
        deadline_seconds=0.3,
        episodes=[1, 2, 3],
    )
    assert found == {}
    german_dub = EpisodeAvailability.objects.filter(language="German Dub")
    wait_until(lambda: german_dub.filter(episode=1).exists(), 20, "episode 1")
    time.sleep(0.3)
    assert list(german_dub.values_list("episode", flat=True)) == [1]
    assert fake_sites.counts.count("aniworld", page.format(2)) == 0


@pytest.mark.django_db
def test_not_available_is_trusted_for_less_time_than_available(fake_sites: FakeWeb) -> None:
    """A dub released later, a hoster back up: "not available" is probed again after
    AVAILABILITY_UNAVAILABLE_TTL_HOURS (1), "available" after AVAILABILITY_TTL_HOURS."""
    probe_episode(KAIJU)
    two_hours_ago = timezone.now() - timedelta(hours=2)
    EpisodeAvailability.objects.update(checked_at=two_hours_ago)
    row = EpisodeAvailability.objects.get(language=KAIJU.language, episode=KAIJU.episode)
    assert row.available and row.is_fresh(24)
    row.available = False
    assert not row.is_fresh(24)
    EpisodeAvailability.objects.filter(pk=row.pk).update(available=False)
    fake_sites.counts.reset()
    fresh = availability(KAIJU)
    assert fresh is not None and fresh.available and fresh.checked_at > two_hours_ago
    assert fake_sites.counts.count("aniworld", KAIJU_PAGE) == 1
