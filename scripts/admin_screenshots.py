"""Screenshots of the admin pages for the README (docs/admin-*.png), with sample data.

    .venv/bin/python scripts/admin_screenshots.py

A private DATA_DIR and Redis get sample jobs, a playing stream and a Celery result; the
pages are rendered as a logged-in operator sees them, and headless Chromium (Debian's
`chromium`) photographs them at 1366 px wide, with the admin's CSS from a local server.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import private_environment  # noqa: E402
from tests.environment import free_port  # noqa: E402

WIDTH = 1366
PAGES = {  # file name -> (path, height)
    "admin-index.png": ("/admin/", 700),
    "admin-jobs.png": ("/admin/downloads/job/", 560),
    "admin-job-failed.png": ("/admin/downloads/job/{failed}/change/", 640),
    "admin-streams.png": ("/admin/streams/", 360),
}


def setup() -> None:
    """A private DATA_DIR and Redis, migrated; times shown as a German user sees them."""
    os.environ["TZ"] = "Europe/Berlin"
    private_environment()


def sample_data() -> dict[str, str]:
    from django.contrib.auth.models import User
    from django.utils import timezone
    from django_celery_results.models import TaskResult

    from catalog.identity import EpisodeIdentity
    from downloads.models import Job
    from strm import activity
    from strm.models import StrmUrlMapping

    User.objects.create_superuser("admin", "admin@example.invalid", None)
    now = timezone.now()

    def job(slug: str, title: str, episode: int, minutes: int, **fields: object) -> Job:
        created = now - dt.timedelta(minutes=minutes)
        made = Job.objects.create(
            site="aniworld.to",
            slug=slug,
            season=1,
            episode=episode,
            language="German Dub",
            release_name=f"{title}.S01E{episode:02d}.GERMAN.1080p.WEB.H264-aniworld",
            **fields,
        )
        Job.objects.filter(pk=made.pk).update(created_at=created)
        return made

    job(
        "kaiju-academy",
        "Kaiju.Academy",
        4,
        2,
        status="downloading",
        progress=0.42,
        downloaded_bytes=231_000_000,
        total_bytes=550_000_000,
        speed=2_400_000,
        eta=133,
        provider_used="VOE",
        attempts=1,
        message="downloading from VOE",
    )
    job(
        "kaiju-academy",
        "Kaiju.Academy",
        5,
        1,
        status="downloading",
        progress=0.08,
        downloaded_bytes=40_000_000,
        total_bytes=500_000_000,
        speed=10_240,
        eta=44_900,
        provider_used="Filemoon",
        attempts=1,
        message="downloading from Filemoon",
    )
    job("star-drifters", "Star.Drifters", 2, 1, message="waiting for a download slot")
    for episode in (1, 2, 3):
        job(
            "kaiju-academy",
            "Kaiju.Academy",
            episode,
            60 + episode,
            status="completed",
            progress=1.0,
            total_bytes=520_000_000 + episode * 9_000_000,
            provider_used="VOE",
            attempts=1,
            message="downloaded from VOE",
        )
    task_id = str(uuid.uuid4())
    failed = job(
        "lantern-road",
        "Lantern.Road",
        7,
        30,
        status="failed",
        attempts=3,
        celery_task_id=task_id,
        message="aniworld.to/lantern-road S01E07 [German Dub]: no hoster worked "
        "(VOE: VOE video unavailable (HTTP 404); Filemoon: Filemoon API error)",
    )
    TaskResult.objects.create(
        task_id=task_id, task_name="downloads.tasks.run_job", status="SUCCESS"
    )
    identity = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 3, "German Dub")
    StrmUrlMapping.objects.create(
        site="aniworld.to",
        slug="kaiju-academy",
        season=1,
        episode=3,
        language="German Dub",
        strm_path="/downloads/Kaiju Academy/Season 01/Kaiju.Academy.S01E03.strm",
    )
    # Two flushes 20 s apart, as a stream playing for a while leaves them.
    activity.FLUSH_SECONDS = 0.0
    other = EpisodeIdentity("s.to", "the-quiet-harbor", 2, 1, "German Dub")
    wall = activity._wall
    for seconds_ago, sent in ((260, 40_000_000), (20, 8_000_000), (0, 3_100_000)):
        activity._wall = lambda ago=seconds_ago: wall() - ago  # type: ignore[misc]
        activity.record(identity, "172.18.0.5", "Lavf/60.16.100 (Jellyfin)", sent)
        activity.record(other, "192.168.1.40", "Kodi/21.1 (Linux)", sent // 3)
    activity._wall = wall
    return {"failed": str(failed.pk)}


def render(pages: dict[str, tuple[str, int]], ids: dict[str, str], out: Path, port: int) -> None:
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client()
    client.force_login(User.objects.get(username="admin"))
    base = f'<base href="http://127.0.0.1:{port}/">'
    for name, (path, _height) in pages.items():
        html = client.get(path.format(**ids)).content.decode()
        html = html.replace("<head>", "<head>" + base, 1)
        # The page is a file now: no self-reload while it is photographed.
        html = html.replace("window.location.reload()", "void 0")
        (out / (name + ".html")).write_text(html)


def main() -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs Chromium: apt-get install chromium")
    root = Path(tempfile.mkdtemp(prefix="anibridge-shots-"))
    setup()
    ids = sample_data()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/static/admin/css/base.css")
                break
            except OSError:
                time.sleep(0.2)
        render(PAGES, ids, root, port)
        docs = ROOT / "docs"
        docs.mkdir(exist_ok=True)
        for name, (_path, height) in PAGES.items():
            subprocess.run(
                [
                    chromium,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--hide-scrollbars",
                    "--force-device-scale-factor=1",
                    f"--window-size={WIDTH},{height}",
                    f"--screenshot={docs / name}",
                    (root / (name + ".html")).as_uri(),
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
            print(f"docs/{name}: {(docs / name).stat().st_size // 1024} KiB")
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
