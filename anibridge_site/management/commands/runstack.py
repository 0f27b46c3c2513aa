"""`make run`: migrations, then every Procfile process (and Redis when it is local and
not running) under anibridge_site/supervisor.py, which restarts a process that dies.

This command replaces itself with the supervisor (exec), so the Django it loaded for
the migrations does not stay in memory for the life of the stack. Ctrl-C stops all.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from anibridge_site import supervisor

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
# Threads of the one worker for quick work (.strm jobs, probes, refreshes); downloads
# get MAX_CONCURRENCY more, so they never take the quick work's threads.
QUICK_WORK_THREADS = 8
_PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def parse_procfile(text: str) -> list[tuple[str, str]]:
    """(name, command) of each `name: command` line; comments and blank lines skipped."""
    processes = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _PROCFILE_LINE.match(line.strip())
        if match is None:
            raise CommandError(f"Procfile line {number} is not 'name: command': {line!r}")
        processes.append((match[1], match[2]))
    return processes


class Command(BaseCommand):
    help = (
        "Migrate, then run web (gunicorn+gevent) and the Celery worker with its scheduler "
        "from the Procfile, and Redis if needed, restarting any that dies."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--procfile", default=str(settings.BASE_DIR / "Procfile"))

    def handle(self, *args: Any, **options: Any) -> None:
        cfg = settings.CONFIG
        processes = parse_procfile(Path(options["procfile"]).read_text())
        if not redis_answers(cfg.redis_url):
            processes.insert(0, ("redis", self._local_redis_command(cfg.redis_url)))
        call_command("bootstrap")
        self.stdout.write(
            f"AniBridge on http://{cfg.host}:{cfg.port} "
            "(health: /health, admin: /admin/); Ctrl-C stops"
        )
        self.stdout.flush()
        sys.stderr.flush()
        script = Path(supervisor.__file__)
        argv = [
            sys.executable,
            "-P",  # not the script's folder on sys.path: it holds a `celery.py`
            str(script),
            "--state",
            str(supervisor.state_path(cfg.data_dir)),
            "--cwd",
            str(settings.BASE_DIR),
            *(f"{name}={command}" for name, command in processes),
        ]
        os.execve(sys.executable, argv, self._process_env())  # noqa: S606 - argv is ours

    def _process_env(self) -> dict[str, str]:
        cfg = settings.CONFIG
        env = dict(os.environ)
        # The Procfile's commands come from this virtualenv.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env.update(
            MAX_CONCURRENCY=str(cfg.max_concurrency),
            WORKER_CONCURRENCY=str(QUICK_WORK_THREADS + cfg.max_concurrency),
            LOG_LEVEL=cfg.log_level,
            DATA_DIR=str(cfg.data_dir),
            PYTHONUNBUFFERED="1",
            # bootstrap ran Django's system checks; in the worker they would import
            # every view for the URL check (~30 MiB it never uses).
            CELERY_SKIP_CHECKS="1",
        )
        return env

    def _local_redis_command(self, url: str) -> str:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 6379
        server = shutil.which("redis-server")
        if parts.scheme != "redis" or host not in LOCAL_HOSTS:
            raise CommandError(f"Redis at {url} does not answer; start it or fix REDIS_URL.")
        if server is None:
            raise CommandError(
                f"Redis at {url} does not answer and redis-server is not installed: "
                "install it ('sudo apt-get install redis-server' or 'brew install redis') "
                "or point REDIS_URL at a running Redis."
            )
        data = settings.CONFIG.data_dir / "redis"
        data.mkdir(parents=True, exist_ok=True)
        self.stdout.write(
            f"Redis not reachable at {url}: starting redis-server on {host}:{port} ({data})"
        )
        # Append-only file under DATA_DIR: queued jobs survive a restart of the stack.
        listen = ["--bind", host, "--port", str(port), "--protected-mode", "yes"]
        persist = ["--dir", str(data), "--appendonly", "yes", "--save", ""]
        return shlex.join([server, *listen, *persist, "--loglevel", "warning"])
