"""The STRM proxy against nginx `proxy_pass` (proxy_buffering off), both in front of
the same static nginx origin: single-stream throughput, 2 MiB Range requests per
second, 1 KiB time to first byte, and the proxy's memory under 32 concurrent streams.

Run: .venv/bin/python bench/bench_strm_proxy.py [--workers N] [--seconds 8]
(--workers defaults to WEB_CONCURRENCY, else 2.) Needs nginx and wrk; when one is
missing, scripts/system-deps.sh --bench installs it where it may.

AniBridge is measured through the signed entry URL `/strm/stream?...&sig` of an
identity whose StrmUrlMapping points at the origin's 256 MiB file: the
progressive-file path, where ffmpeg seeks with Range requests. A /strm/proxy token
for the 2 MiB segment file (the HLS segment path) is measured too, for information.
Every contender gets CPU 0 to itself; the origin, Redis and the clients share CPU 1,
so both contenders see the same upstream and the same client.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import ROOT, percentile, private_environment, start_process, start_web
from tests.environment import free_port

MIB = 1024 * 1024
BIG_BYTES = 256 * MIB
SEGMENT_BYTES = 2 * MIB
PROBE_BYTES = 1024
SECRET = "bench-strm-proxy-secret"
CONTENDER_CPU = 0
CLIENT_CPU = 1
# nginx reads upstream in the proxy's read size (strm.upstream.CHUNK): same work per read.
NGINX_PROXY_BUFFER = "256k"

TARGET_SEGMENT_RATIO = 0.8
TARGET_STREAM_RATIO = 0.5
TARGET_TTFB_EXTRA_MS = 2.0
# More than one extra read buffer (strm.upstream.CHUNK) per stream would be growth.
MEMORY_GROWTH_LIMIT = 32 * 256 * 1024

_NGINX_COMMON = """
worker_processes 1;
daemon off;
pid {state}/{name}.pid;
error_log {state}/{name}-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    default_type application/octet-stream;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    client_body_temp_path {state}/{name}-client;
    proxy_temp_path {state}/{name}-proxy;
    fastcgi_temp_path {state}/{name}-fastcgi;
    uwsgi_temp_path {state}/{name}-uwsgi;
    scgi_temp_path {state}/{name}-scgi;
{servers}
}}
"""

_ORIGIN_SERVER = """
    sendfile on;
    tcp_nopush on;
    server {{
        listen 127.0.0.1:{port};
        root {files};
    }}
"""

# Pooled upstream connections like the proxy's: HTTP/1.1 keep-alive to the origin.
_PROXY_SERVER = """
    upstream origin {{
        server 127.0.0.1:{origin};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_buffer_size {buffer};
            proxy_buffers 4 {buffer};
            proxy_busy_buffers_size {buffer};
        }}
    }}
"""

# Each request asks for the next 2 MiB slot of the big file (or the path as is).
_WRK_SCRIPT = """
local path = [[{path}]]
local ranged = {ranged}
local segment = {segment}
local slots = {slots}
local slot = 0

function request()
    if not ranged then
        return wrk.format("GET", path)
    end
    local first = (slot % slots) * segment
    slot = slot + 1
    return wrk.format("GET", path, {{ Range = "bytes=" .. first .. "-" .. (first + segment - 1) }})
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("WRK %d %d %d %d %d %d %d %d %d\\n",
        summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
        latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class Contender:
    name: str
    port: int
    big_path: str  # the 256 MiB file
    segment_path: str  # the 2 MiB file


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


# --- set-up -------------------------------------------------------------------------------


def require_tools() -> tuple[str, str]:
    """Paths of nginx and wrk, installed by scripts/system-deps.sh --bench if missing."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    if shutil.which("nginx", path=search) is None or shutil.which("wrk") is None:
        subprocess.run(["bash", str(ROOT / "scripts" / "system-deps.sh"), "--bench"], check=True)
    nginx, wrk = shutil.which("nginx", path=search), shutil.which("wrk")
    if nginx is None or wrk is None:
        raise SystemExit("nginx and wrk are needed: apt-get install nginx wrk")
    return nginx, wrk


def make_files(files: Path) -> None:
    with (files / "big.bin").open("wb") as out:
        for _ in range(BIG_BYTES // MIB):
            out.write(os.urandom(MIB))
    (files / "segment.bin").write_bytes(os.urandom(SEGMENT_BYTES))


@contextlib.contextmanager
def children_on_cpu(cpu: int) -> Iterator[None]:
    """Processes started inside inherit CPU `cpu` (this thread's affinity, restored after)."""
    if not pinning():
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def pinning() -> bool:
    return {CONTENDER_CPU, CLIENT_CPU} <= os.sched_getaffinity(0)


def start_nginx(nginx: str, state: Path, name: str, servers: str, **values: object) -> int:
    """An nginx in the foreground of its own process group; `servers` gets port and `values`."""
    port = free_port()
    conf = state / f"{name}.conf"
    conf.write_text(
        _NGINX_COMMON.format(state=state, name=name, servers=servers.format(port=port, **values))
    )
    start_process(
        [nginx, "-p", str(state), "-e", str(state / f"{name}-error.log"), "-c", str(conf)],
        state / f"{name}.log",
    )
    if not answers_http(port):
        log = state / f"{name}-error.log"
        raise SystemExit(f"nginx {name} did not start:\n{log.read_text() if log.exists() else ''}")
    return port


def answers_http(port: int) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("HEAD", "/")
            conn.getresponse().read()
            conn.close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def anibridge_paths(origin: int) -> tuple[str, str]:
    """The entry path for the big file and a proxy-token path for the segment file."""
    from catalog.identity import EpisodeIdentity
    from strm.signing import ProxyToken, encode_token, generation_of
    from strm.stream_urls import stream_url
    from tests.strm_helpers import store_resolution

    identity = EpisodeIdentity("aniworld.to", "bench-stream", 1, 1, "German Dub")
    big_url = f"http://127.0.0.1:{origin}/big.bin"
    store_resolution(identity, big_url)
    entry = urlsplit(stream_url(identity))
    token = ProxyToken(
        identity,
        (),
        f"http://127.0.0.1:{origin}/segment.bin",
        generation_of(big_url),
        playlist=False,
    )
    return f"{entry.path}?{entry.query}", f"/strm/proxy/{encode_token(token)}/segment.ts"


# --- clients ------------------------------------------------------------------------------


def single_stream(port: int, path: str) -> float:
    """MiB/s of one client downloading the whole big file (ffmpeg's `bytes=0-`)."""
    buffer = memoryview(bytearray(MIB))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    start = time.perf_counter()
    conn.request("GET", path, headers={"Range": "bytes=0-"})
    response = conn.getresponse()
    received = 0
    while count := response.readinto(buffer):
        received += count
    elapsed = time.perf_counter() - start
    conn.close()
    if response.status not in (200, 206) or received != BIG_BYTES:
        raise SystemExit(f"{path[:60]}: HTTP {response.status}, {received} of {BIG_BYTES} bytes")
    return BIG_BYTES / MIB / elapsed


def first_byte_ms(port: int, path: str, source: Path, samples: int) -> list[float]:
    """Time to the response head of 1 KiB ranges, one keep-alive client, checked bytes."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times: list[float] = []
    with source.open("rb") as original:
        for i in range(samples + 20):  # the first 20 warm up
            first = (i * 7_919 * 4096) % (BIG_BYTES - PROBE_BYTES)
            start = time.perf_counter()
            conn.request("GET", path, headers={"Range": f"bytes={first}-{first + 1023}"})
            response = conn.getresponse()
            head = time.perf_counter()
            body = response.read()
            original.seek(first)
            if response.status != 206 or body != original.read(PROBE_BYTES):
                raise SystemExit(f"{path[:60]}: wrong answer to a 1 KiB range ({response.status})")
            if i >= 20:
                times.append((head - start) * 1000)
    conn.close()
    return times


def start_wrk(
    wrk: str, state: Path, port: int, path: str, connections: int, seconds: int, ranged: bool
) -> subprocess.Popen[bytes]:
    script = state / f"wrk-{port}-{connections}-{int(ranged)}.lua"
    script.write_text(
        _WRK_SCRIPT.format(
            path=path,
            ranged="true" if ranged else "false",
            segment=SEGMENT_BYTES,
            slots=BIG_BYTES // SEGMENT_BYTES,
        )
    )
    args = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script)]
    with children_on_cpu(CLIENT_CPU):
        return subprocess.Popen(
            [*args, f"http://127.0.0.1:{port}/"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )


def wrk_result(proc: subprocess.Popen[bytes]) -> LoadResult:
    output = proc.communicate()[0].decode(errors="replace")
    line = next((line for line in output.splitlines() if line.startswith("WRK ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed:\n{output}")
    requests, micros, *errors, p50, p99 = (int(field) for field in line.split()[1:])
    if any(errors):
        kinds = dict(zip(("connect", "read", "write", "status", "timeout"), errors, strict=True))
        raise SystemExit(f"wrk saw errors {kinds}:\n{output}")
    return LoadResult(requests, micros / 1e6, p50 / 1000, p99 / 1000)


def run_wrk(
    wrk: str, state: Path, port: int, path: str, connections: int, seconds: int, ranged: bool
) -> LoadResult:
    return wrk_result(start_wrk(wrk, state, port, path, connections, seconds, ranged))


# --- the proxy's memory -------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def gunicorn_workers() -> list[int]:
    masters = [
        pid
        for pid in _children(os.getpid())
        if b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    if len(masters) != 1:
        raise SystemExit(f"expected one gunicorn master, found {masters}")
    return _children(masters[0])


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def load_with_memory(
    wrk: str, state: Path, contender: Contender, connections: int, seconds: int
) -> tuple[LoadResult, list[tuple[float, int]]]:
    """A wrk run of 2 MiB ranges with the workers' RSS sampled every 0.25 s."""
    workers = gunicorn_workers()
    proc = start_wrk(wrk, state, contender.port, contender.big_path, connections, seconds, True)
    start = time.monotonic()
    samples: list[tuple[float, int]] = []
    while proc.poll() is None:
        samples.append((time.monotonic() - start, rss_bytes(workers)))
        time.sleep(0.25)
    return wrk_result(proc), samples


# --- printing -----------------------------------------------------------------------------


def verdict(met: bool) -> str:
    return "meets" if met else "MISSES"


def print_load(name: str, result: LoadResult) -> None:
    print(
        f"  {name:<30} {result.rate:8.1f} req/s  {result.rate * 2:8.1f} MiB/s  "
        f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  n={result.requests}"
    )


def print_ratio(what: str, ratio: float, target: float) -> bool:
    met = ratio >= target
    shortfall = "" if met else f" (short by {(target - ratio) / target:.0%} of the target)"
    print(f"  {what}: {ratio:.2f}x nginx -> {verdict(met)} target >= {target}x{shortfall}")
    return met


# --- the run ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY", "2")),
        help="gunicorn workers (default: WEB_CONCURRENCY or 2)",
    )
    parser.add_argument("--seconds", type=int, default=8, help="length of each wrk run")
    parser.add_argument("--streams", type=int, default=3, help="single-stream downloads each")
    parser.add_argument("--probes", type=int, default=300, help="1 KiB requests each")
    args = parser.parse_args()

    nginx, wrk = require_tools()
    if pinning():
        os.sched_setaffinity(0, {CLIENT_CPU})  # Redis and the origin inherit it
    os.environ.update(
        STRM_PROXY_MODE="proxy",
        STRM_PROXY_AUTH="token",
        STRM_PROXY_SECRET=SECRET,
        STRM_PROXY_UPSTREAM_ALLOWLIST="127.0.0.1",
        # Only rewritten playlists use it; this benchmark serves none.
        STRM_PUBLIC_BASE_URL="http://127.0.0.1",
    )
    root = private_environment()
    state = Path(tempfile.mkdtemp(prefix="anibridge-bench-strm-"))
    # Registered before nginx and gunicorn: atexit runs in reverse, so removed after they stop.
    atexit.register(shutil.rmtree, state, True)
    state.chmod(0o755)  # nginx workers run as nobody when we are root
    files = state / "files"
    files.mkdir(mode=0o755)
    files.chmod(0o755)
    make_files(files)

    origin = start_nginx(nginx, state, "origin", _ORIGIN_SERVER, files=files)
    with children_on_cpu(CONTENDER_CPU):
        nginx_port = start_nginx(
            nginx, state, "proxy", _PROXY_SERVER, origin=origin, buffer=NGINX_PROXY_BUFFER
        )
        web_port = start_web(root, workers=args.workers)
    entry, token_path = anibridge_paths(origin)
    direct = Contender("origin direct (client ceiling)", origin, "/big.bin", "/segment.bin")
    reference = Contender("nginx proxy_pass", nginx_port, "/big.bin", "/segment.bin")
    ours = Contender(f"anibridge ({args.workers} workers)", web_port, entry, token_path)

    placement = (
        f"contenders on cpu{CONTENDER_CPU}; origin, Redis and clients on cpu{CLIENT_CPU}"
        if pinning() or os.sched_getaffinity(0) == {CLIENT_CPU}
        else "no CPU pinning (fewer than 2 CPUs)"
    )
    print("STRM proxy vs nginx proxy_pass (proxy_buffering off), same static nginx origin")
    print(
        f"  AniBridge: gunicorn+gevent, {args.workers} workers, entry URL /strm/stream?...&sig "
        "(progressive file, Range passed through)"
    )
    print(f"  nginx: 1 worker, keep-alive upstream, proxy_buffer_size {NGINX_PROXY_BUFFER}")
    print(f"  {placement}")

    print(f"single stream, 256 MiB with Range: bytes=0- (median of {args.streams})")
    rates = {}
    for contender in (direct, reference, ours):
        runs = [single_stream(contender.port, contender.big_path) for _ in range(args.streams)]
        rates[contender.name] = statistics.median(runs)
        print(
            f"  {contender.name:<30} {rates[contender.name]:8.1f} MiB/s  "
            f"(runs: {', '.join(f'{r:.0f}' for r in runs)})"
        )
    stream_ok = print_ratio(
        "single stream", rates[ours.name] / rates[reference.name], TARGET_STREAM_RATIO
    )

    results: dict[tuple[str, int], LoadResult] = {}
    samples: list[tuple[float, int]] = []
    idle_rss = rss_bytes(gunicorn_workers())
    for connections in (8, 32):
        print(f"2 MiB Range requests over the 256 MiB file, {connections} connections, wrk")
        for contender in (direct, reference, ours):
            if contender is direct and connections == 8:
                continue
            run_wrk(wrk, state, contender.port, contender.big_path, connections, 1, True)
            if contender is ours and connections == 32:
                result, samples = load_with_memory(wrk, state, ours, connections, args.seconds)
            else:
                result = run_wrk(
                    wrk, state, contender.port, contender.big_path, connections, args.seconds, True
                )
            results[contender.name, connections] = result
            print_load(contender.name, result)
    segment_ok = True
    for connections in (8, 32):
        ratio = results[ours.name, connections].rate / results[reference.name, connections].rate
        segment_ok &= print_ratio(f"2 MiB req/s at c={connections}", ratio, TARGET_SEGMENT_RATIO)

    print("2 MiB HLS segment via /strm/proxy/<token>/segment.ts, 32 connections (information)")
    token_results = {}
    for contender in (reference, ours):
        run_wrk(wrk, state, contender.port, contender.segment_path, 32, 1, False)
        token_results[contender.name] = run_wrk(
            wrk, state, contender.port, contender.segment_path, 32, args.seconds, False
        )
        print_load(contender.name, token_results[contender.name])
    print(
        f"  token path: {token_results[ours.name].rate / token_results[reference.name].rate:.2f}x"
        " nginx"
    )

    print(f"1 KiB Range, time to response head, one keep-alive client, n={args.probes}")
    ttfb = {}
    for contender in (reference, ours):
        times = first_byte_ms(contender.port, contender.big_path, files / "big.bin", args.probes)
        ttfb[contender.name] = percentile(times, 50)
        print(
            f"  {contender.name:<30} p50 {percentile(times, 50):7.2f} ms  "
            f"p99 {percentile(times, 99):7.2f} ms"
        )
    extra = ttfb[ours.name] - ttfb[reference.name]
    ttfb_ok = extra <= TARGET_TTFB_EXTRA_MS
    print(
        f"  p50 difference {extra:+.2f} ms -> {verdict(ttfb_ok)} target <= nginx + "
        f"{TARGET_TTFB_EXTRA_MS:.0f} ms"
    )

    served = results[ours.name, 32]
    early = next(((t, rss) for t, rss in samples if t >= 1.0), samples[0])
    late = samples[-1]
    growth = late[1] - early[1]
    memory_ok = growth <= MEMORY_GROWTH_LIMIT
    print(
        f"anibridge RSS, sum over {len(gunicorn_workers())} gunicorn workers, "
        "during the 32-connection run"
    )
    print(f"  after warm-up, idle            {idle_rss / MIB:8.1f} MiB")
    print(f"  early (t={early[0]:4.1f} s)              {early[1] / MIB:8.1f} MiB")
    print(
        f"  late  (t={late[0]:4.1f} s)              {late[1] / MIB:8.1f} MiB  "
        f"(~{served.rate * (late[0] - early[0]):.0f} segments served in between)"
    )
    print(f"  peak                           {max(rss for _, rss in samples) / MIB:8.1f} MiB")
    print(
        f"  growth early->late {growth / MIB:+.1f} MiB -> {verdict(memory_ok)} target "
        f"< {MEMORY_GROWTH_LIMIT / MIB:.0f} MiB (one read buffer per stream)"
    )

    print("summary")
    for name, met in (
        (">= 0.8x nginx req/s on 2 MiB segments (c=8 and c=32)", segment_ok),
        (">= 0.5x nginx single-stream throughput", stream_ok),
        ("TTFB p50 <= nginx + 2 ms", ttfb_ok),
        ("memory bounded per stream (no growth)", memory_ok),
    ):
        print(f"  {verdict(met):<6} {name}")


if __name__ == "__main__":
    main()
