"""Docker cannot run here; check the files for what the stack relies on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.processes import REPO

COMPOSE_FILES = ["docker/compose.yaml", "docker/compose.gluetun.yaml"]


def _compose(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text())


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_runs_every_process_with_a_healthcheck(name: str) -> None:
    services = _compose(name)["services"]
    assert {"redis", "web", "worker", "downloads", "beat"} <= set(services)
    for service, spec in services.items():
        if service == "gluetun":
            continue  # its image has its own HEALTHCHECK
        assert "healthcheck" in spec, f"{service} has no healthcheck"


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_keeps_data_on_a_volume_and_waits_for_redis(name: str) -> None:
    compose = _compose(name)
    for service in ("web", "worker", "downloads", "beat"):
        spec = compose["services"][service]
        assert "anibridge-data:/data" in spec["volumes"]
        assert spec["depends_on"]["redis"]["condition"] == "service_healthy"
        assert spec["environment"]["DATA_DIR"] == "/data"
    assert "anibridge-data" in compose["volumes"]


def test_gluetun_variant_routes_every_anibridge_container_through_the_vpn() -> None:
    services = _compose("docker/compose.gluetun.yaml")["services"]
    for service in ("redis", "web", "worker", "downloads", "beat"):
        assert services[service]["network_mode"] == "service:gluetun"
    assert "8000:8000" in services["gluetun"]["ports"]


def test_dockerfile_is_non_root_with_ffmpeg_and_a_healthcheck() -> None:
    text = (REPO / "docker" / "Dockerfile").read_text()
    assert "ffmpeg" in text
    assert "\nUSER 1000:1000\n" in text
    assert "HEALTHCHECK" in text and "/health" in text
    assert Path(REPO / "docker" / "entrypoint.sh").stat().st_mode & 0o111
