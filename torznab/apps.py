from django.apps import AppConfig


class TorznabConfig(AppConfig):
    name = "torznab"
    default_auto_field = "django.db.models.BigAutoField"
