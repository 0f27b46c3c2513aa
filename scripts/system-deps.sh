#!/usr/bin/env bash
# Install the system programs AniBridge needs when they are missing and we may:
# ffmpeg/ffprobe (yt-dlp merges and probes with them) and redis-server (started
# locally by `make run` and the tests when REDIS_URL does not answer).
set -euo pipefail

missing=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
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
# Redis is optional when REDIS_URL points at a running server; ffmpeg is not.
for m in "${missing[@]}"; do [ "$m" = ffmpeg ] && exit 1; done
exit 0
