"""Redis (broker + cache) crashes and comes back, empty, while the web and a worker run.

One outage, several observations (a module fixture runs it, the tests read what it saw):
- the web keeps answering Torznab from cached availability, the qB API from the
  database, and the proxy streams entries whose resolution is in the database;
- a torrent added during the outage is accepted, and the job is sent once Redis is
  back (its enqueue-on-commit could not reach the broker);
- a job queued before the outage, whose message died with Redis, is sent again;
- a job running through the outage finishes in its first attempt.

Redis here runs without persistence, so the restart loses every message: the worst
case (the compose file's AOF keeps most of them).
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from anibridge_site.celery import app as celery_app
from catalog.identity import EpisodeIdentity
from catalog.magnet import build_magnet, parse_magnet
from catalog.models import EpisodeAvailability
from downloads.models import Job
from downloads.tasks import run_job
from qbshim.models import ClientTask
from strm.stream_urls import stream_url
from tests.fakeweb import FakeWeb
from tests.processes import celery_worker, wait_until
from tests.resilience.record import record
from tests.resilience.stack import Answer, RedisServer, WebServer, get, hls_uris, post
from tests.strm_helpers import SECRET, store_resolution

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

OUTAGE_SECONDS = 5.0
# Workers retry the broker after 2, 4, 6... s; then the jobs run for a few seconds.
RECOVERY_SECONDS = 60.0
KAIJU_TVDB = 900001
SEARCH = f"/torznab/api?t=tvsearch&tvdbid={KAIJU_TVDB}&season=1&ep=2&cat=5070"
# Never probed: nothing to answer with while the probes cannot be queued.
UNCACHED = f"/torznab/api?t=tvsearch&tvdbid={KAIJU_TVDB}&season=1&ep=3&cat=5070"
# Every language Torznab asks the worker to probe for an aniworld episode.
SEARCH_LANGUAGES = ("German Dub", "German Sub", "English Sub", "English Dub")
HLS = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "VOE")
MP4 = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "Vidoza")


@dataclass
class Outage:
    """What the web and the worker did around one Redis outage."""

    answered: Counter[str] = field(default_factory=Counter)  # endpoint -> successful answers
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    warm_items: int = 0
    outage_items: list[int] = field(default_factory=list)
    add_answer: Answer | None = None
    jobs: dict[str, Job] = field(default_factory=dict)  # role -> final row
    running_when_redis_returned: str = ""
    uncached_seconds: float = 0.0
    logs: str = ""


def _download_magnet(season: int, episode: int) -> str:
    identity = EpisodeIdentity("aniworld.to", "kaiju-academy", season, episode, "German Dub")
    # Its own name: other suites look for their Kaiju.Academy files in the same DATA_DIR.
    name = f"Resilience.Kaiju.S{season:02d}E{episode:02d}.WEB.GERMAN-aniworld"
    return build_magnet(dataclasses.replace(identity, provider="Vidoza"), name)


def _job_of(magnet: str) -> Job:
    task = ClientTask.objects.select_related("job").get(hash=parse_magnet(magnet).hash)
    assert task.job is not None
    return task.job


def _finished(pk: Any) -> Job | None:
    job = Job.objects.get(pk=pk)
    return job if job.status in Job.FINISHED else None


@pytest.fixture(scope="module")
def outage(
    django_db_setup: None,
    django_db_blocker: Any,
    fakeweb_session: FakeWeb,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Outage]:
    tmp = tmp_path_factory.mktemp("redis-outage")
    redis_server = RedisServer(tmp / "redis")
    redis_server.start()
    web = WebServer(tmp, {})  # base URL known only now: the env follows
    env = {
        **fakeweb_session.app_env(),
        "REDIS_URL": redis_server.url,
        "STRM_PROXY_MODE": "proxy",
        "STRM_PROXY_AUTH": "token",
        "STRM_PROXY_SECRET": SECRET,
        "STRM_PUBLIC_BASE_URL": web.base_url,
        "LOG_LEVEL": "INFO",
    }
    web.env.update(env)
    seen = Outage()
    fakeweb_session.reset()
    with (
        django_db_blocker.unblock(),
        pytest.MonkeyPatch.context() as mp,
        celery_worker(tmp, queues="default,downloads", concurrency=1, env=env) as worker,
    ):
        mp.setattr(
            settings,
            "CONFIG",
            dataclasses.replace(
                settings.CONFIG,
                strm_proxy_mode="proxy",
                strm_proxy_auth="token",
                strm_proxy_secret=SECRET,
                strm_public_base_url=web.base_url,
            ),
        )
        try:
            web.start()
            _run_outage(seen, web, redis_server, fakeweb_session)
        finally:
            seen.logs = web.output() + worker.output()
            web.stop()
            redis_server.kill()
            fakeweb_session.reset()
    yield seen


def _run_outage(seen: Outage, web: WebServer, redis_server: RedisServer, fake: FakeWeb) -> None:
    base = web.base_url

    # Warm up: the worker probes the episode into the availability table.
    def probed() -> int:
        items = get(base + SEARCH).body.count(b"<item>")  # queues the probes
        rows = EpisodeAvailability.objects.filter(slug="kaiju-academy", season=1, episode=2)
        return items if rows.count() == len(SEARCH_LANGUAGES) else 0

    seen.warm_items = wait_until(probed, 60, "the episode to be probed", interval=0.5)
    store_resolution(HLS, fake.cdn.sign("hls/ts/master.m3u8"))
    store_resolution(MP4, fake.cdn.sign("mp4/video.mp4"))

    # A slotted job keeps the only pool process busy through the outage...
    running = Job.objects.create(
        kind="test-slotted",
        site="aniworld.to",
        slug="x",
        season=1,
        episode=1,
        language="German Dub",
        options={"steps": 60, "delay": 0.2},
    )
    with (
        celery_app.connection_for_write(redis_server.url) as conn,
        conn.Producer() as producer,
    ):
        run_job.apply_async((str(running.pk),), queue="default", producer=producer)
    wait_until(
        lambda: Job.objects.filter(pk=running.pk, progress__gt=0).exists(), 30, "the job to run"
    )
    # ...so a torrent added now waits in the broker, and dies with it.
    before_magnet = _download_magnet(1, 3)
    assert post(base + "/api/v2/torrents/add", {"urls": before_magnet}).body == b"Ok."
    before = _job_of(before_magnet)
    assert before.status == Job.Status.QUEUED and before.celery_task_id
    assert redis_server.client().llen("downloads") == 1

    redis_server.kill()
    started = time.monotonic()
    during_magnet = _download_magnet(2, 1)
    seen.add_answer = post(base + "/api/v2/torrents/add", {"urls": during_magnet})
    while time.monotonic() - started < OUTAGE_SECONDS:
        _poll_everything(seen, base)
    seen.seconds = time.monotonic() - started
    seen.running_when_redis_returned = Job.objects.get(pk=running.pk).status
    redis_server.start()

    roles = {"running": running.pk, "before": before.pk}
    if ClientTask.objects.filter(name__contains="S02E01").exists():
        roles["during"] = _job_of(during_magnet).pk
    # Each test judges its own job: wait for all, keep whatever state they reached.
    deadline = time.monotonic() + RECOVERY_SECONDS
    while time.monotonic() < deadline and not all(_finished(pk) for pk in roles.values()):
        time.sleep(0.2)
    seen.jobs = {role: Job.objects.get(pk=pk) for role, pk in roles.items()}
    for job in seen.jobs.values():
        if job.result_path:
            Path(job.result_path).unlink(missing_ok=True)


def _poll_everything(seen: Outage, base: str) -> None:
    """One round of what Sonarr, Prowlarr and a player ask for."""

    def check(name: str, answer: Answer, ok: tuple[int, ...] = (200,)) -> Answer:
        if answer.status in ok:
            seen.answered[name] += 1
        else:
            seen.failures.append(f"{name}: {answer.status} {answer.body[:200]!r}")
        return answer

    search = check("torznab tvsearch (cached)", get(base + SEARCH))
    seen.outage_items.append(search.body.count(b"<item>"))
    uncached = check("torznab tvsearch (not cached)", get(base + UNCACHED))
    seen.uncached_seconds = max(seen.uncached_seconds, uncached.seconds)
    test_item = check("torznab test item", get(base + "/torznab/api?t=search"))
    if test_item.body.count(b"<item>") != 1:
        seen.failures.append(f"torznab test item missing: {test_item.body[:200]!r}")
    check("qB torrents/info", get(base + "/api/v2/torrents/info"))
    check("qB sync/maindata", get(base + "/api/v2/sync/maindata?rid=0"))
    master = check("proxy HLS master", get(stream_url(HLS)))
    if master.status == 200:
        variant = check("proxy HLS variant", get(hls_uris(master.body)[-1]))
        if variant.status == 200:
            check("proxy HLS segment", get(hls_uris(variant.body)[0]))
    check(
        "proxy MP4 range",
        get(stream_url(MP4), headers={"Range": "bytes=1000-1999"}),
        ok=(206,),
    )


def test_torznab_and_the_qb_api_answer_from_the_database_while_redis_is_down(
    outage: Outage,
) -> None:
    assert not outage.failures, outage.failures[:5]
    for name in ("torznab tvsearch (cached)", "torznab test item", "qB torrents/info"):
        assert outage.answered[name] >= 3, (name, outage.answered)
    assert outage.answered["qB sync/maindata"] >= 3
    # The cached episode is offered in full, not left out for want of Redis; an episode
    # that would need a probe is answered at once (empty), not after the search deadline.
    assert set(outage.outage_items) == {outage.warm_items}
    assert outage.answered["torznab tvsearch (not cached)"] >= 3
    assert outage.uncached_seconds < 2, outage.uncached_seconds
    total = sum(outage.answered.values())
    record(
        "redis down: polling",
        total,
        f"Redis killed for {outage.seconds:.0f} s during Torznab/qB/proxy polling: "
        f"all {total} requests answered from the database",
    )


def test_proxy_streams_entries_resolved_in_the_database_while_redis_is_down(
    outage: Outage,
) -> None:
    for name in ("proxy HLS master", "proxy HLS variant", "proxy HLS segment", "proxy MP4 range"):
        assert outage.answered[name] >= 3, (name, outage.answered, outage.failures[:3])


def test_a_torrent_added_while_redis_is_down_is_accepted_and_completes(outage: Outage) -> None:
    answer = outage.add_answer
    assert answer is not None
    assert (answer.status, answer.body) == (200, b"Ok."), answer
    assert answer.seconds < 5
    job = outage.jobs.get("during")
    assert job is not None and job.status == Job.Status.COMPLETED, job and job.message
    assert "not sent" in outage.logs  # the web said why it could not queue it


def test_a_job_whose_message_died_with_redis_is_sent_again_and_completes(
    outage: Outage,
) -> None:
    job = outage.jobs["before"]
    assert job.status == Job.Status.COMPLETED, job.message
    assert job.attempts == 1
    assert "sent again: the broker had lost" in outage.logs  # by the reconnecting worker
    record(
        "redis restart: queued jobs",
        2,
        "job queued before the crash (message lost) and job added during it: "
        "both re-sent when a worker reconnected, both completed",
    )


def test_a_job_running_through_the_outage_finishes_in_its_first_attempt(outage: Outage) -> None:
    assert outage.running_when_redis_returned == Job.Status.DOWNLOADING  # ran through it all
    job = outage.jobs["running"]
    assert job.status == Job.Status.COMPLETED, job.message
    assert job.attempts == 1 and job.result_path
    record(
        "redis down: running job",
        1,
        "a job reporting progress every 0.2 s through the outage completed in attempt 1",
    )
