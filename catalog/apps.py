import logging

from django.apps import AppConfig
from django.conf import settings

log = logging.getLogger("catalog")


class CatalogConfig(AppConfig):
    name = "catalog"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        warn_legacy_proxy_variables(settings.CONFIG.legacy_proxy_variables)


def warn_legacy_proxy_variables(names: tuple[str, ...]) -> None:
    """One warning per process start: the original's PROXY_* settings do nothing here."""
    if names:
        log.warning(
            "Ignored settings: %s. AniBridge has no in-app proxy settings; use a VPN "
            "sidecar (docker/compose.gluetun.yaml) or HTTP_PROXY/HTTPS_PROXY/ALL_PROXY/NO_PROXY.",
            ", ".join(names),
        )
