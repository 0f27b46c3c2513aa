"""SQLite under concurrent writers: gunicorn and two Celery workers (four processes
each) writing at once, and nobody meets "database is locked".

The workers run many short jobs that write their progress at every step (past the
usual one-per-second limit); meanwhile Sonarr-like clients add torrents, tag and
categorise them through the qB API and poll torrents/info and sync/maindata.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import transaction

from catalog.identity import EpisodeIdentity
from catalog.magnet import build_magnet
from downloads import ledger
from downloads.models import Job
from tests.processes import celery_worker, wait_until
from tests.resilience.record import record
from tests.resilience.stack import Answer, WebServer, get, post

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

JOBS = 120
STEPS = 20
STEP_SECONDS = 0.02
TORRENTS = 40
LOCK_ERRORS = re.compile(r"database is locked|database table is locked|OperationalError")


def _magnet(episode: int) -> str:
    identity = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, episode, "German Dub")
    return build_magnet(identity, f"Kaiju.Academy.S01E{episode:03d}.WEB.GERMAN-aniworld")


def _web_clients(base: str, stop: threading.Event, answers: Counter[str], bad: list[str]) -> None:
    """What Sonarr does to the qB API, as fast as it goes, until `stop`."""

    def check(name: str, answer: Answer) -> None:
        if answer.status == 200:
            answers[name] += 1
        else:
            bad.append(f"{name}: {answer.status} {answer.body[:200]!r}")

    def adder() -> None:
        post(base + "/api/v2/torrents/createCategory", {"category": "tv"})
        for n in range(1, TORRENTS + 1):
            form = {"urls": _magnet(n), "stopped": "true", "category": "tv"}
            check("torrents/add", post(base + "/api/v2/torrents/add", form))

    def tagger() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            form = {"hashes": "all", "tags": f"batch-{n % 5}"}
            check("torrents/addTags", post(base + "/api/v2/torrents/addTags", form))
            check("torrents/info", get(base + "/api/v2/torrents/info"))
            check("sync/maindata", get(base + "/api/v2/sync/maindata?rid=0"))

    threads = [threading.Thread(target=fn) for fn in (adder, tagger, tagger)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)


def _wait_all(pks: list[str]) -> Callable[[], bool]:
    def done() -> bool:
        return Job.objects.filter(pk__in=pks).exclude(status__in=Job.FINISHED).count() == 0

    return done


def test_web_and_two_workers_write_concurrently_without_database_is_locked(
    tmp_path: Path,
) -> None:
    # Written for SQLite's single writer; on PostgreSQL (make test runs the database
    # tests there too) the same concurrent writers must be just as error-free.
    web = WebServer(tmp_path, {"LOG_LEVEL": "INFO"}, workers=2)
    web.start()
    jobs = [
        Job.objects.create(
            kind="test-chatty",
            site="aniworld.to",
            slug="x",
            season=1,
            episode=n,
            language="German Dub",
            options={"steps": STEPS, "delay": STEP_SECONDS},
        )
        for n in range(JOBS)
    ]
    pks = [str(job.pk) for job in jobs]
    answers: Counter[str] = Counter()
    bad: list[str] = []
    stop = threading.Event()
    try:
        with (
            celery_worker(tmp_path, queues="default", concurrency=4, name="a") as first,
            celery_worker(tmp_path, queues="default", concurrency=4, name="b") as second,
        ):
            clients = threading.Thread(target=_web_clients, args=(web.base_url, stop, answers, bad))
            clients.start()
            wait_until(lambda: answers["torrents/info"] > 0, 30, "the qB clients to start")
            started = time.monotonic()
            with transaction.atomic():
                for job in jobs:
                    ledger.enqueue(job)
            wait_until(_wait_all(pks), 120, f"{JOBS} jobs to finish", interval=0.5)
            took = time.monotonic() - started
            stop.set()
            clients.join(timeout=60)
            assert not clients.is_alive()
            logs = {"worker a": first.output(), "worker b": second.output()}
    finally:
        stop.set()
        web.stop()
    logs["web"] = web.output()

    final = Counter(Job.objects.filter(pk__in=pks).values_list("status", flat=True))
    assert final == {Job.Status.COMPLETED: JOBS}, final
    assert Job.objects.filter(pk__in=pks, progress=1.0, attempts=1).count() == JOBS
    assert not bad, bad[:5]
    assert answers["torrents/add"] == TORRENTS and answers["torrents/addTags"] > 0
    for name, text in logs.items():
        found = LOCK_ERRORS.findall(text)
        assert not found, f"{name}: {found[:3]}\n{text[-3000:]}"
    # Each job: claim, STEPS progress writes, finish, and two task-result rows.
    writes = JOBS * (STEPS + 4) + sum(n for k, n in answers.items() if k.startswith("torrents/"))
    record(
        "sqlite concurrent writers",
        writes,
        f"gunicorn (2 workers) + 2 Celery workers x 4 processes: {JOBS} jobs x {STEPS} "
        f"progress writes and {sum(answers.values())} qB API calls in {took:.0f} s, "
        "no 'database is locked'",
    )
