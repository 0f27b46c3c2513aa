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

import atexit
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_strm_proxy import (
    CLIENT_CPU,
    CONTENDER_CPU,
    INTERFERENCE_LIMIT,
    NGINX_PROXY_BUFFER,
    PINNING,
    SECRET,
    TARGET_TTFB_EXTRA_MS,
    Contender,
    Wrk,
    anibridge_paths,
    arguments,
    children_on_cpu,
    gunicorn_master,
    make_files,
    measure_streams,
    measure_ttfb,
    print_load,
    print_ratio,
    print_ttfb_verdict,
    require_tools,
    start_nginx,
    verdict,
)
from bench.harness import private_environment, start_web
from tests.tls_helpers import make_certificates

TARGET_SEGMENT_RATIO = 0.8
ROUNDS = 3

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
    args = arguments()

    nginx, wrk_binary = require_tools()
    if PINNING:
        os.sched_setaffinity(0, {CLIENT_CPU})
    state = Path(tempfile.mkdtemp(prefix="anibridge-bench-https-"))
    atexit.register(shutil.rmtree, state, True)
    state.chmod(0o755)
    certs = make_certificates(state)
    ca, cert, key = certs.ca, certs.cert, certs.key
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
    rates, busy = measure_streams((reference, ours), args.streams)
    stream_ratio = rates[ours.name] / rates[reference.name]
    print(f"  single stream: {stream_ratio:.2f}x nginx")

    # Alternating rounds: on a shared machine the load of others changes within seconds,
    # and a ratio is only fair between runs made close together.
    ratios, extras = [], []
    for round_number in range(1, ROUNDS + 1):
        print(f"round {round_number}: 2 MiB Range requests over the 256 MiB file, c=8, wrk")
        results = {}
        for contender in (reference, ours):
            results[contender.name] = wrk.run(contender, contender.big_path, 8, args.seconds, True)
            print_load(contender.name, results[contender.name])
            busy.append(results[contender.name].elsewhere)
        ratios.append(results[ours.name].rate / results[reference.name].rate)
        print(f"  ratio {ratios[-1]:.2f}x nginx")
        print(f"round {round_number}: 1 KiB Range, time to response head, n={args.probes}")
        ttfb, ttfb_busy = measure_ttfb((reference, ours), files / "big.bin", args.probes)
        busy += ttfb_busy
        extras.append(ttfb[ours.name] - ttfb[reference.name])
        print(f"  p50 difference {extras[-1]:+.2f} ms")

    print(f"summary (medians of {ROUNDS} rounds)")
    segment_ok = print_ratio("2 MiB req/s at c=8", statistics.median(ratios), TARGET_SEGMENT_RATIO)
    ttfb_ok = print_ttfb_verdict(statistics.median(extras))
    print(f"  single stream: {stream_ratio:.2f}x nginx (information)")
    print(f"  other programs kept up to {max(busy):.1f} of {os.cpu_count()} CPUs busy meanwhile")
    if max(busy) > INTERFERENCE_LIMIT:
        print("  -> DISTURBED: rerun on a quiet machine before trusting the ratios")
    print(f"  {verdict(segment_ok):<6} >= {TARGET_SEGMENT_RATIO}x nginx req/s on 2 MiB at c=8")
    print(f"  {verdict(ttfb_ok):<6} TTFB p50 <= nginx + {TARGET_TTFB_EXTRA_MS:.0f} ms")


if __name__ == "__main__":
    main()
