"""The STRM proxy in front of an HTTPS upstream (real CDNs are HTTPS) against nginx
`proxy_pass` to the same upstream, measured in the same run: 2 MiB Range requests per
second at 8 connections, single-stream throughput and time to first byte.

Run: .venv/bin/python bench/bench_strm_proxy_https.py [--workers N] [--seconds 8]
Needs nginx and wrk (scripts/system-deps.sh --bench installs them where it may).

The origin is nginx serving TLS on loopback with a certificate made for this run (a
throw-away CA; the proxy trusts it through SSL_CERT_FILE, nginx through
proxy_ssl_trusted_certificate). Both contenders verify the certificate and keep their
upstream connections alive. Set-up, clients and CPU accounting are bench_strm_proxy.py's.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import signal
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_strm_proxy import (
    CLIENT_CPU,
    CONTENDER_CPU,
    NGINX_PROXY_BUFFER,
    PINNING,
    SECRET,
    Contender,
    CpuSnapshot,
    Wrk,
    anibridge_paths,
    children_on_cpu,
    first_byte_ms,
    gunicorn_master,
    make_files,
    print_load,
    print_ratio,
    require_tools,
    single_stream,
    start_nginx,
    verdict,
)
from bench.harness import percentile, private_environment, start_web
from tests.tls_helpers import make_certificates

TARGET_SEGMENT_RATIO = 0.8
TARGET_TTFB_EXTRA_MS = 2.0

_TLS_ORIGIN = """
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        root {files};
    }}
"""

_TLS_PROXY = """
    upstream origin {{
        server 127.0.0.1:{origin};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass https://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate {ca};
            proxy_ssl_name localhost;  # nginx checks names, not IP addresses
            proxy_ssl_session_reuse on;
            proxy_buffering off;
            proxy_buffer_size {buffer};
            proxy_buffers 4 {buffer};
            proxy_busy_buffers_size {buffer};
        }}
    }}
"""


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
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    nginx, wrk_binary = require_tools()
    if PINNING:
        os.sched_setaffinity(0, {CLIENT_CPU})
    state = Path(tempfile.mkdtemp(prefix="anibridge-bench-https-"))
    atexit.register(shutil.rmtree, state, True)
    state.chmod(0o755)
    ca, cert, key = make_certificates(state)
    os.environ.update(
        STRM_PROXY_MODE="proxy",
        STRM_PROXY_AUTH="token",
        STRM_PROXY_SECRET=SECRET,
        STRM_PROXY_UPSTREAM_ALLOWLIST="127.0.0.1",
        STRM_PUBLIC_BASE_URL="http://127.0.0.1",
        SSL_CERT_FILE=str(ca),  # OpenSSL's default trust store for the proxy: our CA
    )
    root = private_environment()
    files = state / "files"
    files.mkdir()
    files.chmod(0o755)
    make_files(files)

    origin, _ = start_nginx(nginx, state, "origin", _TLS_ORIGIN, files=files, cert=cert, key=key)
    with children_on_cpu(CONTENDER_CPU):
        nginx_port, nginx_pid = start_nginx(
            nginx, state, "proxy", _TLS_PROXY, origin=origin, ca=ca, buffer=NGINX_PROXY_BUFFER
        )
        web_port = start_web(root, workers=args.workers)
    entry, _ = anibridge_paths(origin, scheme="https")
    reference = Contender("nginx proxy_pass (https)", nginx_port, "/big.bin", "", nginx_pid)
    ours = Contender(f"anibridge ({args.workers} workers)", web_port, entry, "", gunicorn_master())
    wrk = Wrk(wrk_binary, state)

    print("STRM proxy vs nginx proxy_pass, both in front of the same HTTPS nginx origin")
    print("  upstream TLS: nginx, ECDSA P-256 certificate made for this run, verified by both")
    if PINNING:
        print(f"  contenders on cpu{CONTENDER_CPU}; origin, Redis and clients on cpu{CLIENT_CPU}")

    print(f"single stream, 256 MiB with Range: bytes=0- (median of {args.streams})")
    rates = {}
    for contender in (reference, ours):
        single_stream(contender.port, contender.big_path)  # warm-up
        before = CpuSnapshot.take(contender.master)
        runs = [single_stream(contender.port, contender.big_path) for _ in range(args.streams)]
        after = CpuSnapshot.take(contender.master)
        rates[contender.name] = statistics.median(runs)
        gib = args.streams / 4
        print(
            f"  {contender.name:<28} {rates[contender.name]:7.1f} MiB/s"
            f"  cpu {before.contender_seconds(after) / gib:5.2f} s/GiB"
            f"  (runs: {', '.join(f'{r:.0f}' for r in runs)}; "
            f"elsewhere {before.elsewhere(after):.1f} cpu)"
        )
    stream_ratio = rates[ours.name] / rates[reference.name]
    print(f"  single stream: {stream_ratio:.2f}x nginx")

    print("2 MiB Range requests over the 256 MiB file, 8 connections, wrk")
    results = {}
    for contender in (reference, ours):
        results[contender.name] = wrk.run(contender, contender.big_path, 8, args.seconds, True)
        print_load(contender.name, results[contender.name])
    segment_ok = print_ratio(
        "2 MiB req/s at c=8",
        results[ours.name].rate / results[reference.name].rate,
        TARGET_SEGMENT_RATIO,
    )

    print(f"1 KiB Range, time to response head, one keep-alive client, n={args.probes}")
    ttfb = {}
    for contender in (reference, ours):
        times = first_byte_ms(contender.port, contender.big_path, files / "big.bin", args.probes)
        ttfb[contender.name] = percentile(times, 50)
        print(
            f"  {contender.name:<28} p50 {percentile(times, 50):7.2f} ms"
            f"  p99 {percentile(times, 99):7.2f} ms"
        )
    extra = ttfb[ours.name] - ttfb[reference.name]
    ttfb_ok = extra <= TARGET_TTFB_EXTRA_MS
    print(
        f"  p50 difference {extra:+.2f} ms -> {verdict(ttfb_ok)} target <= nginx + "
        f"{TARGET_TTFB_EXTRA_MS:.0f} ms"
    )
    print("summary")
    print(f"  {verdict(segment_ok):<6} >= {TARGET_SEGMENT_RATIO}x nginx req/s on 2 MiB at c=8")
    print(f"  {verdict(ttfb_ok):<6} TTFB p50 <= nginx + {TARGET_TTFB_EXTRA_MS:.0f} ms")
    print(f"  (info) single stream {stream_ratio:.2f}x nginx")


if __name__ == "__main__":
    main()
