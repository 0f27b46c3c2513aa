from django.apps import AppConfig


class DownloadsConfig(AppConfig):
    name = "downloads"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Job handlers register themselves on import.
        from downloads import download  # noqa: F401
