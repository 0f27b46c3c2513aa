#!/usr/bin/env bash
# `make test`: the whole suite on SQLite, then the database-backed tests again on
# PostgreSQL when one is reachable (PG_TEST_URL, or the local server on 5432), then lint.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

pg_url="${PG_TEST_URL:-postgres://postgres@127.0.0.1:5432/anibridge}"
pg_up() { "$PY" - "$pg_url" <<'PYEOF' >/dev/null 2>&1
import sys, psycopg
from urllib.parse import urlsplit
u = urlsplit(sys.argv[1])
psycopg.connect(host=u.hostname, port=u.port or 5432, user=u.username, password=u.password or None,
                dbname="postgres", connect_timeout=3).close()
PYEOF
}
if ! pg_up && command -v pg_ctlcluster >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  # Installed but stopped: start it (the machine image's own command).
  for v in /etc/postgresql/*; do pg_ctlcluster --skip-systemctl-redirect "$(basename "$v")" main start >/dev/null 2>&1 || true; done
fi

# Two pytest processes: the end-to-end tests mostly wait on their subprocesses.
# PYTEST_WORKERS=0 runs in one process (easier to read when debugging).
workers=(-n "${PYTEST_WORKERS:-2}")
[ "${PYTEST_WORKERS:-2}" = 0 ] && workers=()

status=0
echo "== tests on SQLite"
"$PY" -m pytest "${workers[@]}" "$@" || status=1

if pg_up; then
  echo "== database tests on PostgreSQL ($pg_url)"
  # Tests marked engine_agnostic ran on SQLite above; they pin nothing a database decides.
  DATABASE_URL="$pg_url" "$PY" -m pytest "${workers[@]}" -m "django_db and not engine_agnostic" "$@" || status=1
else
  echo "== PostgreSQL not reachable at $pg_url: database tests ran on SQLite only"
  echo "   (start PostgreSQL or set PG_TEST_URL to run them there too)"
fi

echo "== lint"
make --no-print-directory lint || status=1
exit $status
