from __future__ import annotations

from django.apps import AppConfig


class AniBridgeConfig(AppConfig):
    name = "anibridge_site"
    verbose_name = "AniBridge"

    def ready(self) -> None:
        # `shared_task`s (and `.delay()` in the web process) bind to this app.
        from anibridge_site import celery  # noqa: F401
