"""`make demo`: the whole product, offline, in one command.

Starts the fake outside world (tests/fakeweb: AniWorld, s.to, hosters, a CDN with real
media, SkyHook) and the whole AniBridge stack configured against it, then walks the
main path the way Sonarr and Jellyfin would and prints each step:

  1. Torznab caps and an episode search (as Sonarr sends it)
  2. the qBittorrent API: login, category, add the magnet, poll until completed
  3. the downloaded file, checked with ffprobe
  4. the .strm release: add, poll, read the .strm file
  5. play the .strm URL with ffmpeg through the streaming proxy

Everything runs on 127.0.0.1; the network guard makes any other connection fail.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.environment import free_port, start_redis  # noqa: E402
from tests.fakeweb import FakeWeb  # noqa: E402
from tests.netguard import netguard_env  # noqa: E402

NS = {"torznab": "http://torznab.com/schemas/2015/feed"}
TVDB_ID = 900001  # "Kaiju Academy" in the fake catalogue
STEP_TIMEOUT = 120


def say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def detail(text: str) -> None:
    print(f"   {text}", flush=True)


class Api:
    """HTTP against the stack, with a cookie jar like Sonarr's qBittorrent client."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str, **query: str) -> bytes:
        url = f"{self.base}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        with self.opener.open(url, timeout=60) as response:
            return bytes(response.read())

    def post(self, path: str, **form: str) -> bytes:
        data = urllib.parse.urlencode(form).encode()
        with self.opener.open(f"{self.base}{path}", data=data, timeout=60) as response:
            return bytes(response.read())


def wait_for(what: str, check: Any, timeout: float = STEP_TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise SystemExit(f"demo failed: timed out waiting for {what}")


def start_stack(root: Path, web: FakeWeb, port: int, redis_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **web.app_env(),
        **netguard_env(root / "netguard.log"),
        "DATA_DIR": str(root / "data"),
        "REDIS_URL": redis_url,
        "ANIBRIDGE_ENV_FILE": str(root / "no.env"),
        "ANIBRIDGE_HOST": "127.0.0.1",
        "ANIBRIDGE_PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "MAX_CONCURRENCY": "2",
        "STRM_FILES_MODE": "both",
        "STRM_PROXY_MODE": "proxy",
        "STRM_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "STRM_PROXY_SECRET": secrets.token_hex(16),
        "LOG_LEVEL": "WARNING",
    }
    log = (root / "stack.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "manage.py", "runstack"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def search(api: Api) -> list[dict[str, str]]:
    body = api.get(
        "/torznab/api",
        t="tvsearch",
        tvdbid=str(TVDB_ID),
        season="1",
        ep="1",
        cat="5070",
        extended="1",
    )
    items = []
    for item in ET.fromstring(body).iter("item"):
        enclosure = item.find("enclosure")
        items.append(
            {
                "title": item.findtext("title") or "",
                "magnet": enclosure.get("url", "") if enclosure is not None else "",
            }
        )
    return items


def grab(api: Api, magnet: str, label: str) -> dict[str, Any]:
    assert api.post("/api/v2/torrents/add", urls=magnet, category="tv-sonarr") == b"Ok."
    btih = magnet.split("btih:")[1].split("&")[0]
    detail(f"added {label} (hash {btih[:12]}...), polling torrents/info like Sonarr")
    last = ""

    def finished() -> dict[str, Any] | None:
        nonlocal last
        [torrent] = json.loads(api.get("/api/v2/torrents/info", hashes=btih))
        line = f"state={torrent['state']} progress={torrent['progress']:.0%}"
        if line != last:
            detail(line)
            last = line
        if torrent["state"] == "error":
            raise SystemExit(f"demo failed: the job failed: {torrent.get('anibridge_message')}")
        return torrent if torrent["state"] == "stoppedUP" else None

    return wait_for(f"{label} to complete", finished)


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="anibridge-demo-"))
    say("starting the fake outside world (sites, hosters, CDN with real media, SkyHook)")
    web = FakeWeb(media_dir=root / "media")
    web.start()
    for name, url in sorted(web.urls.items()):
        detail(f"{name:<10} {url}")
    redis_port = free_port()
    redis = start_redis(redis_port, root / "redis")
    port = free_port()
    say(f"starting AniBridge (web on 127.0.0.1:{port}, workers, beat) against the fakes")
    stack = start_stack(root, web, port, f"redis://127.0.0.1:{redis_port}/0")
    api = Api(f"http://127.0.0.1:{port}")
    try:
        health = wait_for("/health to answer 200", lambda: json.loads(api.get("/health")))
        detail(f"/health: {health['status']}; workers: {', '.join(health['workers']['nodes'])}")

        say("Sonarr: Torznab caps, then an episode search (tvdbid, season 1, episode 1)")
        caps = ET.fromstring(api.get("/torznab/api", t="caps"))
        tv = caps.find("searching/tv-search")
        detail(f"tv-search supportedParams={tv.get('supportedParams') if tv is not None else '?'}")
        items = search(api)
        for item in items:
            detail(item["title"])
        download = next(
            i for i in items if "mode=strm" not in i["magnet"] and "GERMAN" in i["title"]
        )
        strm = next(i for i in items if "mode=strm" in i["magnet"] and "GERMAN" in i["title"])

        say("Sonarr: qBittorrent API test sequence, then grab the German dub")
        detail(f"webapiVersion {api.get('/api/v2/app/webapiVersion').decode()}")
        detail(f"login {api.post('/api/v2/auth/login', username='', password='').decode()}")
        api.post("/api/v2/torrents/createCategory", category="tv-sonarr", savePath="")
        done = grab(api, download["magnet"], "the download")
        detail(f"content_path {done['content_path']}")

        say("the downloaded file, as Sonarr would import it (ffprobe)")
        probe = json.loads(
            subprocess.run(
                [
                    "ffprobe",
                    "-v",
                    "error",
                    "-show_streams",
                    "-show_format",
                    "-of",
                    "json",
                    done["content_path"],
                ],
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            ).stdout
        )
        streams = ", ".join(f"{s['codec_type']} {s['codec_name']}" for s in probe["streams"])
        detail(f"{float(probe['format']['duration']):.1f} s, {streams}")

        say("the .strm release: grab it, read the file Jellyfin would open")
        done = grab(api, strm["magnet"], "the .strm release")
        strm_url = Path(done["content_path"]).read_text().strip()
        detail(f"{done['content_path']}")
        detail(f"contains {strm_url[:100]}...")

        say("Jellyfin: play the .strm URL with ffmpeg through AniBridge's streaming proxy")
        played = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", strm_url, "-f", "framemd5", "-"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if played.returncode != 0:
            raise SystemExit(
                f"demo failed: ffmpeg could not play the .strm URL: {played.stderr[-500:]}"
            )
        frames = [line for line in played.stdout.splitlines() if line and not line.startswith("#")]
        detail(f"ffmpeg decoded {len(frames)} frames through the proxy")
        requests = web.counts.requests("cdn")
        from_ffmpeg = [r for r in requests if "lavf" in (r.headers.get("user-agent") or "").lower()]
        detail(
            f"the fake CDN served {len(requests)} requests; {len(from_ffmpeg)} came from ffmpeg "
            "itself (the proxy fetched the rest with the hoster's headers)"
        )
        if from_ffmpeg:
            raise SystemExit("demo failed: ffmpeg reached the CDN directly, not through the proxy")
        say("done: search -> grab -> download -> .strm -> playback, all offline")
    finally:
        os.killpg(stack.pid, signal.SIGINT)
        try:
            stack.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
        redis.terminate()
        web.stop()
        violations = root / "netguard.log"
        if violations.exists() and violations.read_text().strip():
            raise SystemExit(
                "demo failed: something tried to leave loopback:\n" + violations.read_text()
            )


if __name__ == "__main__":
    main()
