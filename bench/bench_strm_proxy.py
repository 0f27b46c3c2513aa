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
Each contender gets CPU 0 to itself; the origin, Redis and the clients share CPU 1,
so both contenders see the same upstream and the same client. Besides rates, the
contenders' own CPU time per request is printed: it moves much less than rates when
other programs load the machine (how much they did is printed too, as `elsewhere`).
So is the client's (wrk's): reading an answer does not cost it the same for every
contender (a proxy that lets a whole answer wait in the client's socket leaves the
kernel to send it on the client's acknowledgements, in the client's context), and when
it keeps CPU 1 busy, a rate says more about the client than about the contender.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import http.client
import os
import resource
import shutil
import signal
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
# nginx reads upstream in the proxy's read size (catalog.egress.upstream.CHUNK): same work per read.
NGINX_PROXY_BUFFER = "256k"
TICKS = os.sysconf("SC_CLK_TCK")
KERNEL_THREADS = 2  # kthreadd, the parent of every kernel thread
# Decided before this process pins itself to the client CPU.
PINNING = {CONTENDER_CPU, CLIENT_CPU} <= os.sched_getaffinity(0)

TARGET_SEGMENT_RATIO = 0.8
TARGET_STREAM_RATIO = 0.5
TARGET_TTFB_EXTRA_MS = 2.0
# More than one extra read buffer (catalog.egress.upstream.CHUNK) per stream would be growth.
MEMORY_GROWTH_LIMIT = 32 * 256 * 1024
# Other programs keeping more CPU than this busy meanwhile (a test suite, a build)
# compete with the contender pinned to cpu0: its rates and latencies are then low.
INTERFERENCE_LIMIT = 0.25

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
    master: int  # its process tree is what it costs in CPU


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float  # the contender's CPU time per request
    client_cpu_ms: float  # wrk's CPU time per request
    elsewhere: float  # CPUs busy outside this benchmark meanwhile (others' tests, steal)
    errors: dict[str, int]  # wrk's failures by kind ("status": answers >= 400)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


# --- processes: CPU time and memory from /proc ---------------------------------------------


def _process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, CPU ticks of the process and of its reaped children)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        # After the command: state ppid ... utime(11) stime(12) cutime(13) cstime(14).
        table[int(entry.name)] = (int(fields[1]), sum(int(f) for f in fields[11:15]))
    return table


def _tree(table: dict[int, tuple[int, int]], root: int) -> set[int]:
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(child for child, (parent, _) in table.items() if parent == pid)
    return found


def children(pid: int) -> list[int]:
    return [child for child, (parent, _) in _process_table().items() if parent == pid]


@dataclass(frozen=True)
class CpuSnapshot:
    at: float
    contender: int  # ticks
    # Ticks of everything this benchmark runs, the contender included, and of kernel
    # threads (ksoftirqd carries some of our own loopback traffic).
    benchmark: int
    machine: int  # busy ticks of all CPUs
    finished_children: float  # CPU seconds of this process's reaped children (wrk runs)

    @classmethod
    def take(cls, master: int) -> CpuSnapshot:
        table = _process_table()
        mine = _tree(table, os.getpid()) | _tree(table, KERNEL_THREADS)
        with Path("/proc/stat").open() as stat:
            cpu = [int(value) for value in stat.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal: interrupts are left out, as
        # they are charged to no process (our own loopback traffic is in softirq).
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return cls(
            time.monotonic(),
            sum(table[pid][1] for pid in _tree(table, master) if pid in table),
            sum(table[pid][1] for pid in mine if pid in table),
            cpu[0] + cpu[1] + cpu[2] + cpu[7],
            children.ru_utime + children.ru_stime,
        )

    def contender_seconds(self, later: CpuSnapshot) -> float:
        return (later.contender - self.contender) / TICKS

    def client_seconds(self, later: CpuSnapshot) -> float:
        """CPU time of the wrk run started and reaped in between."""
        return later.finished_children - self.finished_children

    def elsewhere(self, later: CpuSnapshot) -> float:
        """Average number of CPUs that programs outside this benchmark kept busy."""
        other = (later.machine - self.machine) - (later.benchmark - self.benchmark)
        return max(0.0, other / TICKS / (later.at - self.at))


def gunicorn_master() -> int:
    masters = [
        pid
        for pid in children(os.getpid())
        if b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    if len(masters) != 1:
        raise SystemExit(f"expected one gunicorn master, found {masters}")
    return masters[0]


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):  # a worker that was replaced counts no more
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


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
    if not PINNING:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def start_nginx(
    nginx: str, state: Path, name: str, servers: str, **values: object
) -> tuple[int, int]:
    """(port, pid) of an nginx in the foreground; `servers` gets `port` and `values`."""
    port = free_port()
    conf = state / f"{name}.conf"
    conf.write_text(
        _NGINX_COMMON.format(state=state, name=name, servers=servers.format(port=port, **values))
    )
    proc = start_process(
        [nginx, "-p", str(state), "-e", str(state / f"{name}-error.log"), "-c", str(conf)],
        state / f"{name}.log",
    )
    if not answers_http(port):
        log = state / f"{name}-error.log"
        raise SystemExit(f"nginx {name} did not start:\n{log.read_text() if log.exists() else ''}")
    return port, proc.pid


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


def anibridge_paths(origin: int, scheme: str = "http") -> tuple[str, str]:
    """The entry path for the big file and a proxy-token path for the segment file."""
    from catalog.identity import EpisodeIdentity
    from strm.signing import ProxyToken, encode_token, generation_of
    from strm.stream_urls import stream_url
    from tests.strm_helpers import store_resolution

    identity = EpisodeIdentity("aniworld.to", "bench-stream", 1, 1, "German Dub")
    big_url = f"{scheme}://127.0.0.1:{origin}/big.bin"
    store_resolution(identity, big_url)
    entry = urlsplit(stream_url(identity))
    token = ProxyToken(
        identity,
        (),
        f"{scheme}://127.0.0.1:{origin}/segment.bin",
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


class Wrk:
    """wrk on the client CPU, one thread, Range requests from a small Lua script."""

    def __init__(self, binary: str, state: Path) -> None:
        self.binary = binary
        self.state = state

    def start(
        self, port: int, path: str, connections: int, seconds: int, ranged: bool
    ) -> subprocess.Popen[bytes]:
        script = self.state / f"wrk-{port}-{connections}-{int(ranged)}.lua"
        script.write_text(
            _WRK_SCRIPT.format(
                path=path,
                ranged="true" if ranged else "false",
                segment=SEGMENT_BYTES,
                slots=BIG_BYTES // SEGMENT_BYTES,
            )
        )
        args = [self.binary, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
        with children_on_cpu(CLIENT_CPU):
            return subprocess.Popen(
                [*args, "-s", str(script), f"http://127.0.0.1:{port}/"],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )

    @staticmethod
    def finish(proc: subprocess.Popen[bytes], before: CpuSnapshot, master: int) -> LoadResult:
        output = proc.communicate()[0].decode(errors="replace")
        after = CpuSnapshot.take(master)
        line = next((line for line in output.splitlines() if line.startswith("WRK ")), None)
        if proc.returncode != 0 or line is None:
            raise SystemExit(f"wrk failed:\n{output}")
        requests, micros, *counts, p50, p99 = (int(field) for field in line.split()[1:])
        # Failed requests are a finding, not a reason to stop: counted and printed.
        errors = {
            kind: count
            for kind, count in zip(
                ("connect", "read", "write", "status", "timeout"), counts, strict=True
            )
            if count
        }
        return LoadResult(
            requests,
            micros / 1e6,
            p50 / 1000,
            p99 / 1000,
            before.contender_seconds(after) * 1000 / max(1, requests),
            before.client_seconds(after) * 1000 / max(1, requests),
            before.elsewhere(after),
            errors,
        )

    def run(
        self, contender: Contender, path: str, connections: int, seconds: int, ranged: bool
    ) -> LoadResult:
        """A 1 s warm-up (pools, caches), then the measured run."""
        warm = self.start(contender.port, path, connections, 1, ranged)
        self.finish(warm, CpuSnapshot.take(contender.master), contender.master)
        before = CpuSnapshot.take(contender.master)
        proc = self.start(contender.port, path, connections, seconds, ranged)
        return self.finish(proc, before, contender.master)

    def run_sampling_rss(
        self, contender: Contender, connections: int, seconds: int
    ) -> tuple[LoadResult, list[tuple[float, int]]]:
        """Like run() on the big file, with the gunicorn workers' RSS sampled every 0.25 s."""
        warm = self.start(contender.port, contender.big_path, connections, 1, True)
        self.finish(warm, CpuSnapshot.take(contender.master), contender.master)
        workers = children(contender.master)
        before = CpuSnapshot.take(contender.master)
        proc = self.start(contender.port, contender.big_path, connections, seconds, True)
        started = time.monotonic()
        samples: list[tuple[float, int]] = []
        while proc.poll() is None:
            samples.append((time.monotonic() - started, rss_bytes(workers)))
            time.sleep(0.25)
        return self.finish(proc, before, contender.master), samples


# --- printing -----------------------------------------------------------------------------


def verdict(met: bool) -> str:
    return "meets" if met else "MISSES"


def print_load(name: str, result: LoadResult) -> None:
    print(
        f"  {name:<28} {result.rate:7.1f} req/s {result.rate * SEGMENT_BYTES / MIB:7.1f} MiB/s"
        f"  p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms"
        f"  cpu {result.cpu_ms:5.2f} ms/req  client cpu {result.client_cpu_ms:5.2f} ms/req"
        f"  n={result.requests}"
        f"  (elsewhere {result.elsewhere:.1f} cpu)"
    )
    if result.errors:
        print(f"    FAILED REQUESTS: {result.errors}")


def print_ratio(what: str, ratio: float, target: float) -> bool:
    met = ratio >= target
    shortfall = "" if met else f", {(target - ratio) / target:.0%} short of the target"
    print(f"  {what}: {ratio:.2f}x nginx -> {verdict(met)} target >= {target}x{shortfall}")
    return met


def measure_streams(
    contenders: tuple[Contender, ...], streams: int
) -> tuple[dict[str, float], list[float]]:
    """Median MiB/s of `streams` single-stream downloads per contender (after a warm-up),
    and the CPUs other programs kept busy meanwhile, per contender."""
    rates: dict[str, float] = {}
    busy: list[float] = []
    for contender in contenders:
        # Not counted: a worker's first big download also grows its heap and its pools.
        warm_up = single_stream(contender.port, contender.big_path)
        before = CpuSnapshot.take(contender.master)
        runs = [single_stream(contender.port, contender.big_path) for _ in range(streams)]
        after = CpuSnapshot.take(contender.master)
        rates[contender.name] = statistics.median(runs)
        busy.append(before.elsewhere(after))
        gib = streams * BIG_BYTES / (1024 * MIB)
        print(
            f"  {contender.name:<28} {rates[contender.name]:7.1f} MiB/s"
            f"  cpu {before.contender_seconds(after) / gib:5.2f} s/GiB"
            f"  (warm-up {warm_up:.0f}, runs: {', '.join(f'{r:.0f}' for r in runs)}; "
            f"elsewhere {busy[-1]:.1f} cpu)"
        )
    return rates, busy


def measure_ttfb(
    contenders: tuple[Contender, ...], source: Path, probes: int
) -> tuple[dict[str, float], list[float]]:
    """p50 time to the response head of 1 KiB ranges per contender, and the CPUs other
    programs kept busy meanwhile."""
    ttfb: dict[str, float] = {}
    busy: list[float] = []
    for contender in contenders:
        before = CpuSnapshot.take(contender.master)
        times = first_byte_ms(contender.port, contender.big_path, source, probes)
        busy.append(before.elsewhere(CpuSnapshot.take(contender.master)))
        ttfb[contender.name] = percentile(times, 50)
        print(
            f"  {contender.name:<28} p50 {percentile(times, 50):7.2f} ms"
            f"  p99 {percentile(times, 99):7.2f} ms  (elsewhere {busy[-1]:.1f} cpu)"
        )
    return ttfb, busy


def print_ttfb_verdict(extra: float) -> bool:
    met = extra <= TARGET_TTFB_EXTRA_MS
    print(
        f"  p50 difference {extra:+.2f} ms -> {verdict(met)} target <= nginx + "
        f"{TARGET_TTFB_EXTRA_MS:.0f} ms"
    )
    return met


def print_proxy_log(log: Path) -> None:
    """The proxy's own account of failed requests (it logs them as warnings)."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if "strm" in line]
    print(f"  the proxy's log ({len(lines)} strm lines), last ones:")
    for line in lines[-5:]:
        print(f"    {line[:200]}")


# --- the run ------------------------------------------------------------------------------


def arguments() -> argparse.Namespace:
    """The command line shared by the proxy benchmarks."""
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
    # A plain SIGTERM would skip atexit, leaving nginx, gunicorn and 256 MiB behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return args


def main() -> None:
    args = arguments()

    nginx, wrk_binary = require_tools()
    if PINNING:
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
    files.mkdir()
    files.chmod(0o755)
    make_files(files)

    origin, origin_pid = start_nginx(nginx, state, "origin", _ORIGIN_SERVER, files=files)
    with children_on_cpu(CONTENDER_CPU):
        nginx_port, nginx_pid = start_nginx(
            nginx, state, "proxy", _PROXY_SERVER, origin=origin, buffer=NGINX_PROXY_BUFFER
        )
        web_port = start_web(root, workers=args.workers)
    entry, token_path = anibridge_paths(origin)
    direct = Contender("origin direct (ceiling)", origin, "/big.bin", "/segment.bin", origin_pid)
    reference = Contender("nginx proxy_pass", nginx_port, "/big.bin", "/segment.bin", nginx_pid)
    ours = Contender(
        f"anibridge ({args.workers} workers)", web_port, entry, token_path, gunicorn_master()
    )
    wrk = Wrk(wrk_binary, state)

    print("STRM proxy vs nginx proxy_pass (proxy_buffering off), same static nginx origin")
    print(
        f"  AniBridge: gunicorn+gevent, {args.workers} workers, entry URL /strm/stream?...&sig "
        "(progressive file, Range passed through)"
    )
    print(f"  nginx: 1 worker, keep-alive upstream, proxy_buffer_size {NGINX_PROXY_BUFFER}")
    if PINNING:
        print(f"  contenders on cpu{CONTENDER_CPU}; origin, Redis and clients on cpu{CLIENT_CPU}")
    else:
        print("  no CPU pinning (fewer than 2 CPUs)")
    print(
        "  cpu = the contender's own CPU time; client cpu = wrk's; "
        "elsewhere = CPUs other programs kept busy"
    )

    print(f"single stream, 256 MiB with Range: bytes=0- (median of {args.streams} after a warm-up)")
    rates, busy = measure_streams((direct, reference, ours), args.streams)
    busy = busy[1:]  # CPUs other programs kept busy while a contender was measured
    stream_ok = print_ratio(
        "single stream", rates[ours.name] / rates[reference.name], TARGET_STREAM_RATIO
    )

    results: dict[tuple[str, int], LoadResult] = {}
    samples: list[tuple[float, int]] = []
    idle_rss = rss_bytes(children(ours.master))
    for connections in (8, 32):
        print(f"2 MiB Range requests over the 256 MiB file, {connections} connections, wrk")
        for contender in (direct, reference, ours):
            if contender is direct and connections == 8:
                continue
            if contender is ours and connections == 32:
                result, samples = wrk.run_sampling_rss(ours, connections, args.seconds)
            else:
                result = wrk.run(contender, contender.big_path, connections, args.seconds, True)
            results[contender.name, connections] = result
            if contender is not direct:
                busy.append(result.elsewhere)
            print_load(contender.name, result)
    segment_ok = True
    for connections in (8, 32):
        ratio = results[ours.name, connections].rate / results[reference.name, connections].rate
        segment_ok &= print_ratio(f"2 MiB req/s at c={connections}", ratio, TARGET_SEGMENT_RATIO)

    print("2 MiB HLS segment via /strm/proxy/<token>/segment.ts, 32 connections (information)")
    token_results = {}
    for contender in (reference, ours):
        token_results[contender.name] = wrk.run(
            contender, contender.segment_path, 32, args.seconds, False
        )
        print_load(contender.name, token_results[contender.name])
        busy.append(token_results[contender.name].elsewhere)
    ratio = token_results[ours.name].rate / token_results[reference.name].rate
    print(f"  token path: {ratio:.2f}x nginx")

    print(f"1 KiB Range, time to response head, one keep-alive client, n={args.probes}")
    ttfb, ttfb_busy = measure_ttfb((reference, ours), files / "big.bin", args.probes)
    busy += ttfb_busy
    ttfb_ok = print_ttfb_verdict(ttfb[ours.name] - ttfb[reference.name])

    served = results[ours.name, 32]
    early = next(((t, rss) for t, rss in samples if t >= 1.0), samples[0])
    late = samples[-1]
    growth = late[1] - early[1]
    memory_ok = growth <= MEMORY_GROWTH_LIMIT
    print(
        f"anibridge RSS, sum over {len(children(ours.master))} gunicorn workers, "
        "during the 32-connection 2 MiB run"
    )
    print(f"  idle, after the single streams {idle_rss / MIB:8.1f} MiB")
    print(f"  early (t={early[0]:4.1f} s)             {early[1] / MIB:8.1f} MiB")
    print(
        f"  late  (t={late[0]:4.1f} s)             {late[1] / MIB:8.1f} MiB"
        f"  (~{served.rate * (late[0] - early[0]):.0f} segments served in between)"
    )
    print(f"  peak                          {max(rss for _, rss in samples) / MIB:8.1f} MiB")
    print(
        f"  growth early->late {growth / MIB:+.1f} MiB -> {verdict(memory_ok)} target "
        f"< {MEMORY_GROWTH_LIMIT / MIB:.0f} MiB (one read buffer per stream)"
    )

    failures = [
        (name, result.errors)
        for name, result in [*((n, r) for (n, _), r in results.items()), *token_results.items()]
        if result.errors
    ]
    print("summary")
    for name, errors in failures:
        print(f"  FAILED REQUESTS {name}: {errors}")
    if any(name == ours.name for name, _ in failures):
        print_proxy_log(root / "web.log")
    print(f"  other programs kept up to {max(busy):.1f} of {os.cpu_count()} CPUs busy meanwhile")
    if max(busy) > INTERFERENCE_LIMIT:
        print(
            "  -> DISTURBED: they competed with the contenders on cpu0, AniBridge (the one "
            "using more CPU) most; rerun on a quiet machine before trusting the ratios"
        )
    for name, met in (
        (">= 0.8x nginx req/s on 2 MiB segments (c=8 and c=32)", segment_ok),
        (">= 0.5x nginx single-stream throughput", stream_ok),
        ("TTFB p50 <= nginx + 2 ms", ttfb_ok),
        ("memory bounded per stream (no growth)", memory_ok),
    ):
        print(f"  {verdict(met):<6} {name}")


if __name__ == "__main__":
    main()
