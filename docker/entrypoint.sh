#!/bin/sh
# Every container migrates (under a lock, so they may start together) and creates the
# admin account from the environment, then runs its command.
set -e
cd /app
python manage.py bootstrap
exec "$@"
