from django.apps import AppConfig


class QbshimConfig(AppConfig):
    name = "qbshim"
    default_auto_field = "django.db.models.BigAutoField"
