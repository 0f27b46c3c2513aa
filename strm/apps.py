from django.apps import AppConfig


class StrmConfig(AppConfig):
    name = "strm"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The .strm job handler registers itself on import.
        from strm import jobs  # noqa: F401
