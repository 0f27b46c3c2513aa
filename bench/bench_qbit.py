"""qBittorrent API under a large history: torrents/info and sync/maindata with 5,000
tasks, polled by several *arr apps at once, against the gevent gunicorn; and how soon an
idle worker starts a job after torrents/add.

Run: .venv/bin/python bench/bench_qbit.py [--tasks 5000] [--clients 4] [--requests 50]

The reference measured in the same run is `app/version` on the same server: the cost
of a request that does no work, so the ratio shows what the 5,000 tasks add. While the
API is measured, three downloads report progress every half second, as they would.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import load, private_environment, report, start_web, start_worker, timed

TARGET_P99_MS = 100.0
TARGET_START_S = 1.0


def seed(count: int) -> None:
    from django.utils import timezone

    from catalog.identity import EpisodeIdentity
    from catalog.magnet import build_magnet, info_hash
    from downloads.models import Job
    from qbshim.models import Category, ClientTask

    Category.objects.create(name="tv-sonarr")
    statuses = [Job.Status.COMPLETED] * 8 + [Job.Status.DOWNLOADING, Job.Status.QUEUED]
    jobs, tasks = [], []
    now = timezone.now()
    for i in range(count):
        ident = EpisodeIdentity(
            site="aniworld.to",
            slug=f"show-{i // 24}",
            season=1 + (i % 24) // 12,
            episode=1 + i % 12,
            language="German Dub",
        )
        name = (
            f"Show.{i // 24}.S{ident.season:02d}E{ident.episode:02d}.1080p.WEB.H264.GERMAN-aniworld"
        )
        job = Job(
            id=uuid.uuid4(),
            site=ident.site,
            slug=ident.slug,
            season=ident.season,
            episode=ident.episode,
            language=ident.language,
            status=statuses[i % len(statuses)],
            progress=0.5,
            release_name=name,
            total_bytes=1_000_000,
            downloaded_bytes=500_000,
            finished_at=now,
        )
        jobs.append(job)
        tasks.append(
            ClientTask(
                hash=info_hash(ident),
                name=name,
                magnet=build_magnet(ident, name),
                category="tv-sonarr",
                job=job,
                site=ident.site,
                slug=ident.slug,
                season=ident.season,
                episode=ident.episode,
                language=ident.language,
            )
        )
    Job.objects.bulk_create(jobs, batch_size=500)
    ClientTask.objects.bulk_create(tasks, batch_size=500)


def poll_maindata(port: int, clients: int, requests_each: int) -> list[float]:
    """Clients that do what qBittorrent clients do: rid=0 once, then the rid they got."""
    import http.client
    import json

    latencies: list[float] = []
    lock = threading.Lock()
    # Parsing a full update (7 MB) holds this process's GIL for ~60 ms, which would be
    # counted in the other clients' deltas: every client parses its own first.
    everyone_started = threading.Barrier(clients)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        # The first, full answer is measured separately (sync/maindata?rid=0).
        conn.request("GET", "/api/v2/sync/maindata?rid=0")
        rid = json.loads(conn.getresponse().read())["rid"]
        everyone_started.wait()
        for _ in range(requests_each - 1):
            start = time.perf_counter()
            conn.request("GET", f"/api/v2/sync/maindata?rid={rid}")
            body = conn.getresponse().read()
            mine.append((time.perf_counter() - start) * 1000)
            rid = json.loads(body)["rid"]
            time.sleep(0.01)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def progressing_downloads(stop: threading.Event) -> None:
    """Three running downloads writing progress, like workers do (every 0.5 s)."""
    from django.db import connection

    from downloads.models import Job

    ids = list(Job.objects.filter(status=Job.Status.DOWNLOADING).values_list("pk", flat=True)[:3])
    step = 0
    while not stop.wait(0.5):
        step += 1
        for pk in ids:
            Job.objects.filter(pk=pk).update(
                progress=(step % 100) / 100, downloaded_bytes=step * 1000
            )
    connection.close()


def enqueue_to_start(root: Path, samples: int) -> list[float]:
    """Seconds from torrents/add's commit to the worker claiming the job (idle worker)."""
    from django.db import transaction

    from downloads import ledger
    from downloads.models import Job

    start_worker(root, "--include", "tests.worker_tasks")
    delays = []
    for _ in range(samples):
        job = Job.objects.create(
            kind="test-sleep",
            site="s.to",
            slug="x",
            season=1,
            episode=1,
            language="German Dub",
            options={"steps": 1, "delay": 0},
        )
        with transaction.atomic():
            ledger.enqueue(job)
        sent = time.monotonic()
        while True:
            job.refresh_from_db()
            if job.started_at is not None:
                delays.append(time.monotonic() - sent)
                break
            if time.monotonic() - sent > 30:
                raise SystemExit("the worker did not start the job within 30 s; see worker.log")
            time.sleep(0.005)
    return delays


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()

    root = private_environment()
    seed(args.tasks)
    port = start_web(root)
    print(
        f"{args.tasks} tasks, {args.clients} concurrent clients x {args.requests} requests, "
        "gunicorn+gevent"
    )
    # Warm every gunicorn worker: each builds its torrent table once.
    load(port, "/api/v2/torrents/info", 8, 2)
    load(port, "/api/v2/sync/maindata?rid=0", 8, 1)
    stop = threading.Event()
    writer = threading.Thread(target=progressing_downloads, args=(stop,))
    writer.start()
    base, t0 = timed(lambda: load(port, "/api/v2/app/version", args.clients, args.requests))
    reference = report("reference: app/version", base, t0)
    results = {}
    for name, path in [
        ("torrents/info?category=tv-sonarr", "/api/v2/torrents/info?category=tv-sonarr"),
        ("sync/maindata?rid=0 (full update)", "/api/v2/sync/maindata?rid=0"),
    ]:
        lat, elapsed = timed(lambda p=path: load(port, p, args.clients, args.requests))  # type: ignore[misc]
        results[name] = report(name, lat, elapsed)
    lat, elapsed = timed(lambda: poll_maindata(port, args.clients, args.requests))
    results["sync/maindata?rid=<last> (deltas)"] = report(
        "sync/maindata?rid=<last> (deltas)", lat, elapsed
    )
    stop.set()
    writer.join()
    for name, stats in results.items():
        verdict = "meets" if stats["p99"] < TARGET_P99_MS else "MISSES"
        print(
            f"{name:<44} p99/reference {stats['p99'] / reference['p99']:6.1f}x  "
            f"{verdict} target p99 < {TARGET_P99_MS:.0f} ms"
        )
    delays = enqueue_to_start(root, 20)
    start = report("enqueue -> worker start (s, as ms)", [d * 1000 for d in delays])
    verdict = "meets" if start["p99"] / 1000 < TARGET_START_S else "MISSES"
    print(
        f"enqueue-to-start p99 {start['p99']:.0f} ms: {verdict} "
        f"target < {TARGET_START_S * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
