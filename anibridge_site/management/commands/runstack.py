"""`make run`: Redis if needed, migrations, then every Procfile process under one
supervisor (honcho). Ctrl-C stops them all."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from honcho.environ import parse_procfile
from honcho.manager import Manager
from honcho.printer import Printer

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except redis.RedisError:
        return False


class Command(BaseCommand):
    help = (
        "Start web (gunicorn+gevent), Celery workers and beat from the Procfile; Redis if needed."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--procfile", default=str(settings.BASE_DIR / "Procfile"))

    def handle(self, *args: Any, **options: Any) -> None:
        cfg = settings.CONFIG
        redis_proc = (
            None if redis_answers(cfg.redis_url) else self._start_local_redis(cfg.redis_url)
        )
        try:
            call_command("bootstrap")
            procfile = parse_procfile(Path(options["procfile"]).read_text())
            env = self._process_env()
            manager = Manager(Printer(sys.stdout, colour=sys.stdout.isatty()))
            for name, cmd in procfile.processes.items():
                manager.add_process(name, cmd, env=env, cwd=str(settings.BASE_DIR))
            self.stdout.write(
                f"AniBridge on http://{cfg.host}:{cfg.port} "
                "(health: /health, admin: /admin/); Ctrl-C stops"
            )
            manager.loop()
        finally:
            if redis_proc is not None:
                redis_proc.terminate()
                redis_proc.wait(timeout=10)
        sys.exit(manager.returncode or 0)

    def _process_env(self) -> dict[str, str]:
        cfg = settings.CONFIG
        env = dict(os.environ)
        # The Procfile's commands come from this virtualenv.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env.update(
            MAX_CONCURRENCY=str(cfg.max_concurrency),
            LOG_LEVEL=cfg.log_level,
            DATA_DIR=str(cfg.data_dir),
            PYTHONUNBUFFERED="1",
        )
        return env

    def _start_local_redis(self, url: str) -> subprocess.Popen[bytes]:
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
        proc = subprocess.Popen(
            [
                server,
                "--bind",
                host,
                "--port",
                str(port),
                "--dir",
                str(data),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--protected-mode",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while not redis_answers(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise CommandError(f"redis-server did not come up on {host}:{port}")
            time.sleep(0.2)
        return proc
