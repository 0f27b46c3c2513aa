from django.apps import AppConfig


class QbshimConfig(AppConfig):
    name = "qbshim"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the receiver that deletes an expired job's torrent (downloads.cleanup).
        from qbshim import tasks  # noqa: F401
