"""The RSS feed (Sonarr's RSS sync request, 100 items) under load, with every site down.

Run: flock /tmp/anibridge-bench.lock .venv/bin/python bench/bench_rss_feed.py
     [--clients 8] [--requests 40] [--releases 5000]

The database holds `--releases` releases of 200 watched series (AniWorld and s.to, a
third of them baseline rows that the feed skips), each confirmed by a probe result.
Every site, SkyHook included, points at a closed loopback port: the feed must answer
from the database alone. The reference measured in the same run is `t=caps` on the
same server, a request that touches no catalog data.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import load, private_environment, report, start_web, timed

TARGET_P99_MS = 50.0
SERIES = 200
FEED = "/torznab/api?t=tvsearch&cat=5030,5040,5070&extended=1&offset=0&limit=100"


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def fill(releases: int) -> None:
    from django.utils import timezone

    from catalog.models import EpisodeAvailability, FirstSeen, WatchedSeries

    now = timezone.now()
    series = WatchedSeries.objects.bulk_create(
        WatchedSeries(
            site="aniworld.to" if n % 2 else "s.to",
            slug=f"bench-series-{n}",
            title=f"Bench Series {n}",
            tvdb_id=950000 + n,
            pinned=True,
        )
        for n in range(SERIES)
    )
    languages = {"aniworld.to": ("German Dub", "German Sub"), "s.to": ("German Dub", "English Dub")}
    seen, available = [], []
    for n in range(releases):
        owner = series[n % SERIES]
        episode = n // SERIES + 1
        language = languages[owner.site][episode % 2]
        identity = {
            "site": owner.site,
            "slug": owner.slug,
            "season": 1,
            "episode": episode,
            "language": language,
        }
        seen.append(
            FirstSeen(
                series=owner,
                **identity,
                first_seen_at=now - timedelta(minutes=n),
                baseline=n % 3 == 0,
                name_season=1,
                name_episode=episode,
                absolute=episode if owner.site == "aniworld.to" else None,
            )
        )
        available.append(
            EpisodeAvailability(**identity, available=True, height=1080, provider="VOE")
        )
    EpisodeAvailability.objects.bulk_create(available, batch_size=1000)
    FirstSeen.objects.bulk_create(seen, batch_size=1000)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--releases", type=int, default=5000)
    args = parser.parse_args()

    import os

    down = closed_port_url()
    os.environ.update(
        ANIWORLD_BASE_URL=down,
        STO_BASE_URL=down,
        MEGAKINO_BASE_URL=down,
        SKYHOOK_BASE_URL=down,
    )
    root = private_environment()
    fill(args.releases)
    port = start_web(root)
    body = _get(port, FEED)
    items = body.count(b"<item>")
    if items != 100 or b"Bench Series" not in body:
        raise SystemExit(f"the feed answered {items} items, expected 100 releases")
    print(f"{args.releases} releases of {SERIES} watched series; sites and SkyHook down")
    # Every gunicorn worker loads its imports on its first request.
    load(port, FEED, args.clients, 2)
    print(f"{args.clients} concurrent clients x {args.requests} requests, gunicorn+gevent")
    caps_lat, caps_s = timed(lambda: load(port, "/torznab/api?t=caps", args.clients, args.requests))
    caps = report("reference: t=caps", caps_lat, caps_s)
    lat, elapsed = timed(lambda: load(port, FEED, args.clients, args.requests))
    feed = report("RSS feed, 100 items", lat, elapsed)
    page2 = FEED.replace("offset=0", "offset=100")
    lat2, elapsed2 = timed(lambda: load(port, page2, args.clients, args.requests))
    second = report("RSS feed, second page (offset=100)", lat2, elapsed2)
    for name, stats in (("RSS feed, 100 items", feed), ("RSS feed, second page", second)):
        verdict = "meets" if stats["p99"] < TARGET_P99_MS else "MISSES"
        print(
            f"{name:<44} p99 {stats['p99']:.1f} ms: {verdict} target p99 < {TARGET_P99_MS:.0f} ms"
        )
    print(f"feed p99 / caps p99: {feed['p99'] / caps['p99']:.1f}x")


def _get(port: int, path: str) -> bytes:
    import http.client

    deadline = time.monotonic() + 30
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status == 200 or time.monotonic() > deadline:
            return body
        time.sleep(0.5)


if __name__ == "__main__":
    main()
