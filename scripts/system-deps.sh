#!/usr/bin/env bash
# Install the system programs AniBridge needs when they are missing and we may:
# ffmpeg/ffprobe (downloads join segments, probes read media with them) and redis-server (started
# locally by `make run` and the tests when REDIS_URL does not answer).
# `--tests` (make test) also wants what the browser playback test runs: chromium
# (headless), caddy (the HTTPS recipe in docker/caddy) and npm (installs hls.js).
# `--bench` also wants nginx and wrk: bench/bench_strm_proxy.py runs it when they
# are missing (it measures the STRM proxy against nginx, with wrk as the client).
set -euo pipefail

bench=0
tests=0
[ "${1:-}" = "--bench" ] && bench=1
[ "${1:-}" = "--tests" ] && tests=1

missing=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ "$tests" -eq 1 ]; then
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v caddy >/dev/null 2>&1 || missing+=(caddy)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
fi
if [ "$bench" -eq 1 ]; then
  # nginx lives in /usr/sbin, which a user's PATH may lack.
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v wrk >/dev/null 2>&1 || missing+=(wrk)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo -n"
if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; }; then
  echo "installing system packages: ${missing[*]}"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi

echo "missing system programs: ${missing[*]}" >&2
echo "install them with your package manager, e.g. 'sudo apt-get install ${missing[*]}'" >&2
echo "(or on macOS: 'brew install ${missing[*]/redis-server/redis}')" >&2
# Redis is optional when REDIS_URL points at a running server; ffmpeg is not, nor
# what the tests or the benchmark asked for.
for m in "${missing[@]}"; do
  case "$m" in ffmpeg | nginx | wrk | chromium | caddy | npm) exit 1 ;; esac
done
exit 0
