from django.apps import AppConfig


class StrmConfig(AppConfig):
    name = "strm"
    default_auto_field = "django.db.models.BigAutoField"
