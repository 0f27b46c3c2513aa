"""Prepare the database before the processes start: wait for it, migrate under a lock,
create the admin account from ANIBRIDGE_ADMIN_USER/ANIBRIDGE_ADMIN_PASSWORD."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import OperationalError

MIGRATE_LOCK_ID = 0x616E6962  # "anib": any constant shared by every process


@contextmanager
def migration_lock() -> Iterator[None]:
    """One migrating process at a time, also when web and workers start together."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [MIGRATE_LOCK_ID])
            try:
                yield
            finally:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATE_LOCK_ID])
        return
    path = settings.CONFIG.data_dir / ".migrate.lock"
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class Command(BaseCommand):
    help = "Wait for the database, apply migrations under a lock, create the admin account."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--wait", type=float, default=30.0, help="seconds to wait for the database"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self._wait_for_database(options["wait"])
        if settings.CONFIG.db_migrate_on_startup:
            with migration_lock():
                call_command("migrate", interactive=False, verbosity=0)
            self.stdout.write("database ready: migrations applied")
        else:
            self._check_migrated()
        self._ensure_admin()

    def _check_migrated(self) -> None:
        """DB_MIGRATE_ON_STARTUP=false: start only on a database someone migrated."""
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            raise CommandError(
                f"the database needs {len(pending)} migration(s) and "
                "DB_MIGRATE_ON_STARTUP=false: back it up, then run "
                "'python manage.py migrate' (or set DB_MIGRATE_ON_STARTUP=true)"
            )
        self.stdout.write("database ready: no migrations pending (DB_MIGRATE_ON_STARTUP=false)")

    def _wait_for_database(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                connection.ensure_connection()
                return
            except OperationalError as exc:
                if time.monotonic() > deadline:
                    raise CommandError(
                        f"database not reachable after {seconds:.0f}s: {exc}"
                    ) from exc
                time.sleep(1)

    def _ensure_admin(self) -> None:
        cfg = settings.CONFIG
        if not cfg.admin_user:
            return
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=cfg.admin_user, defaults={"is_staff": True, "is_superuser": True}
        )
        # The environment is the source of truth: a changed password takes effect.
        if created or not user.check_password(cfg.admin_password) or not user.is_superuser:
            user.set_password(cfg.admin_password)
            user.is_staff = user.is_superuser = True
            user.save()
            self.stdout.write(
                f"admin account {cfg.admin_user!r} {'created' if created else 'updated'}"
            )
