"""Memory of the whole stack as `make run` starts it: PSS summed over its process tree.

Starts the fake outside world (tests/fakeweb), then `manage.py runstack` against it
(its own Redis included), and sums `Pss:` from /proc/<pid>/smaps_rollup over every
process under runstack: idle, then while 3 downloads (rate-limited so they keep
running) and 8 STRM streams (players fetching playlists and 2 s segments in real
time through the proxy) run. PSS counts a shared page once across the processes that
share it, so the sum is what the stack costs the machine.

Prints the largest sample of each phase next to the target (idle <= 300 MiB, under
load <= 350 MiB), with the per-process split of that sample, and exits 1 on a miss.
As a reference measured in the same run, the same load on the process layout before
1.0.0 (two web workers, a threads worker for the default queue, a prefork worker for
downloads, beat; under the same supervisor, so honcho's five wrapper processes of
~18 MiB each are not counted).

    python bench/bench_footprint.py [--web-concurrency N] [--seconds S] [--no-reference]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.environment import free_port  # noqa: E402
from tests.fakeweb import FakeWeb  # noqa: E402
from tests.netguard import netguard_env  # noqa: E402

IDLE_TARGET_MIB = 300
LOAD_TARGET_MIB = 350
DOWNLOADS = 3
STREAMS = 8
# Slow enough that the 6 s fake episodes (3 segments of ~75 KB, fetched in parallel)
# take about a minute to download.
RATE_LIMIT_BYTES_PER_SEC = 1200
SEGMENT_SECONDS = 2.0
MIB = 1024 * 1024
# The Procfile before 1.0.0, with WEB_CONCURRENCY=2 (its default then).
REFERENCE_PROCFILE = """\
web: gunicorn -c anibridge_site/gunicorn.conf.py anibridge_site.wsgi
worker: celery -A anibridge_site worker -Q default -n default@%h -P threads --concurrency 8
downloads: celery -A anibridge_site worker -Q downloads -n downloads@%h --concurrency 3
beat: celery -A anibridge_site beat
"""


# -- the process tree -------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(parent, []).append(int(entry.name))
    return kids


def tree(root: int) -> list[int]:
    kids = _children()
    found = [root]
    for pid in found:
        found.extend(kids.get(pid, []))
    return found


def pss_kib(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0  # exited between listing and reading
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def name_of(pid: int) -> str:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    words = [a.decode(errors="replace") for a in args if a]
    for word in words:
        base = Path(word).name
        if base in ("gunicorn", "celery", "redis-server", "ffmpeg", "supervisor.py"):
            return base.removesuffix(".py")
    return " ".join(words)[:40]


def sample(root: int) -> tuple[float, list[tuple[str, int, float]]]:
    rows = [(name_of(pid), pid, pss_kib(pid) / 1024) for pid in tree(root)]
    return sum(r[2] for r in rows), rows


# -- the stack --------------------------------------------------------------------------


def stack_env(root: Path, web: FakeWeb, port: int, args: argparse.Namespace) -> dict[str, str]:
    env = {
        **os.environ,
        **web.app_env(),
        **netguard_env(root / "netguard.log"),
        "DATA_DIR": str(root / "data"),
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # runstack starts it, in the tree
        "ANIBRIDGE_ENV_FILE": str(root / "no.env"),
        "ANIBRIDGE_HOST": "127.0.0.1",
        "ANIBRIDGE_PORT": str(port),
        "MAX_CONCURRENCY": str(DOWNLOADS),
        "DOWNLOAD_RATE_LIMIT_BYTES_PER_SEC": str(RATE_LIMIT_BYTES_PER_SEC),
        "STRM_PROXY_MODE": "proxy",
        "STRM_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "STRM_PROXY_SECRET": secrets.token_hex(16),
        "LOG_LEVEL": "WARNING",
    }
    if args.web_concurrency:
        env["WEB_CONCURRENCY"] = str(args.web_concurrency)
    return env


def get(port: int, path: str, timeout: float = 30) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_healthy(port: int, stack: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if stack.poll() is not None:
            raise SystemExit(f"the stack exited; see {log}")
        try:
            if get(port, "/health", timeout=5)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"/health did not answer 200 in 120 s; see {log}")


def add_downloads(port: int) -> list[str]:
    from catalog.identity import EpisodeIdentity
    from catalog.magnet import build_magnet, info_hash

    hashes = []
    for episode in range(1, DOWNLOADS + 1):
        identity = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, episode, "German Dub")
        magnet = build_magnet(identity, f"Kaiju.Academy.S01E0{episode}.GERMAN.WEB-bench")
        body = urllib.parse.urlencode({"urls": magnet}).encode()
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/v2/torrents/add", data=body, timeout=30
        ) as response:
            if response.read() != b"Ok.":
                raise SystemExit("torrents/add refused a download")
        hashes.append(info_hash(identity))
    return hashes


def downloading(port: int, hashes: list[str]) -> int:
    status, body = get(port, "/api/v2/torrents/info?hashes=" + "|".join(hashes))
    if status != 200:
        return 0
    return sum(t["state"] == "downloading" for t in json.loads(body))


class Player(threading.Thread):
    """Plays one .strm URL like ffmpeg does: master, variant, then segments in real time."""

    def __init__(self, url: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop_event = stop
        self.segments = 0
        self.errors: list[str] = []

    def _fetch(self, url: str) -> bytes:
        with urllib.request.urlopen(url, timeout=30) as response:
            return bytes(response.read())

    def run(self) -> None:
        try:
            master = self._fetch(self.url).decode()
            variant = next(line for line in master.splitlines() if line.startswith("http"))
            while not self.stop_event.is_set():
                playlist = self._fetch(variant).decode()
                for line in playlist.splitlines():
                    if not line.startswith("http") or self.stop_event.is_set():
                        continue
                    self._fetch(line)
                    self.segments += 1
                    self.stop_event.wait(SEGMENT_SECONDS)
        except Exception as exc:  # reported by the bench, which then fails
            self.errors.append(f"{type(exc).__name__}: {exc}")


def stream_urls() -> list[str]:
    from catalog.identity import EpisodeIdentity
    from strm.stream_urls import stream_url

    episodes = [(1, e) for e in (1, 2, 3)] + [(2, 1)]
    languages = ("German Dub", "German Sub")
    identities = [
        EpisodeIdentity("aniworld.to", "kaiju-academy", s, e, lang, provider="VOE")
        for (s, e) in episodes
        for lang in languages
    ]
    return [stream_url(identity) for identity in identities[:STREAMS]]


def watch(stack: int, seconds: float) -> list[float]:
    totals = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        totals.append(sample(stack)[0])
        time.sleep(1.0)
    return totals


def report(phase: str, stack: int, totals: list[float], target: float, reference: bool) -> bool:
    """Print the phase; True when it met the target (the reference is not held to it)."""
    peak = max(totals)
    _total, rows = sample(stack)
    verdict = "met" if peak <= target else ("over" if reference else "MISSED")
    print(
        f"{phase:<36} peak {peak:6.1f} MiB PSS (median {sorted(totals)[len(totals) // 2]:6.1f}, "
        f"{len(totals)} samples)   target <= {target} MiB: {verdict}  ({peak / target:.2f}x)"
    )
    for name, pid, mib in sorted(rows, key=lambda r: -r[2]):
        print(f"    {mib:6.1f} MiB  {name} (pid {pid})")
    return reference or peak <= target


def measure(
    root: Path, web: FakeWeb, args: argparse.Namespace, reference: bool
) -> tuple[float, float, bool]:
    """Start a stack, sample it idle and under load, stop it: (idle peak, load peak, ok)."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = stack_env(root, web, port, args)
    command = [sys.executable, "manage.py", "runstack"]
    if reference:
        procfile = root / "Procfile.reference"
        procfile.write_text(REFERENCE_PROCFILE)
        command += ["--procfile", str(procfile)]
        env["WEB_CONCURRENCY"] = "2"
    # The bench signs the .strm URLs and builds magnets with the stack's own settings.
    os.environ.update(env)
    from django.conf import settings

    from anibridge_site.config import load

    settings.CONFIG = load()
    log = root / ("reference.log" if reference else "stack.log")
    stack = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    name = "reference (layout before 1.0.0)" if reference else "make run"
    stop = threading.Event()
    ok = True
    try:
        wait_healthy(port, stack, log)
        # What an idle stack has loaded: the *arr clients' polls and searches.
        get(port, "/api/v2/torrents/info")
        get(port, "/torznab/api?t=caps")
        get(port, "/torznab/api?t=search&q=Kaiju%20Academy")
        time.sleep(5)
        idle = watch(stack.pid, args.seconds)
        ok &= report(f"{name}: idle", stack.pid, idle, IDLE_TARGET_MIB, reference)

        hashes = add_downloads(port)
        players = [Player(url, stop) for url in stream_urls()]
        for player in players:
            player.start()
        deadline = time.monotonic() + 60
        while downloading(port, hashes) < DOWNLOADS:
            if time.monotonic() > deadline:
                raise SystemExit(f"the {DOWNLOADS} downloads did not all start; see {log}")
            time.sleep(0.5)
        time.sleep(SEGMENT_SECONDS * 2)  # every player past its first segment
        loaded = watch(stack.pid, args.seconds)
        still = downloading(port, hashes)
        label = f"{name}: {DOWNLOADS} downloads + {STREAMS} streams"
        ok &= report(label, stack.pid, loaded, LOAD_TARGET_MIB, reference)
        stop.set()
        failed = [p.errors[0] for p in players if p.errors]
        segments = sum(p.segments for p in players)
        print(
            f"load check: {still}/{DOWNLOADS} downloads still running at the end, "
            f"{segments} segments played by {STREAMS} players, {len(failed)} player errors"
        )
        if failed or still < DOWNLOADS:
            print(f"the load did not hold: {failed[:1]}; see {log}")
            ok = False
    finally:
        stop.set()
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGINT)
            try:
                stack.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(stack.pid, signal.SIGKILL)
    return max(idle), max(loaded), ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--web-concurrency", type=int, default=0, help="default: the config's")
    parser.add_argument("--seconds", type=float, default=20.0, help="sampling time per phase")
    parser.add_argument("--no-reference", action="store_true", help="skip the old layout")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="anibridge-bench-footprint-"))
    web = FakeWeb(media_dir=root / "media").start()
    os.environ["DJANGO_SETTINGS_MODULE"] = "anibridge_site.settings"
    os.environ.update(stack_env(root, web, free_port(), args))
    import django

    django.setup()
    try:
        idle, loaded, ok = measure(root, web, args, reference=False)
        if not args.no_reference:
            old_idle, old_loaded, _ = measure(root / "reference", web, args, reference=True)
            print(
                f"make run vs the layout before 1.0.0: idle {idle:.0f} vs {old_idle:.0f} MiB "
                f"({idle / old_idle:.2f}x), under load {loaded:.0f} vs {old_loaded:.0f} MiB "
                f"({loaded / old_loaded:.2f}x)"
            )
    finally:
        web.stop()
    if ok:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
