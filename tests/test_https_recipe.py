"""The HTTPS recipe (docker/caddy, docker/compose.https.yaml) as files: Caddy reads it
and proxies to the anibridge container, and AniBridge trusts exactly Caddy's network.
tests/test_strm_browser.py plays a stream through the same site body."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess

import yaml

from tests.processes import REPO

CADDY = REPO / "docker" / "caddy"


def test_caddy_reads_the_recipe_and_proxies_the_domain_to_web() -> None:
    binary = shutil.which("caddy")
    assert binary, "caddy is not installed: run `make test` (system-deps installs it)"
    env = {**os.environ, "ANIBRIDGE_DOMAIN": "anibridge.example.org"}
    env.pop("ANIBRIDGE_UPSTREAM", None)
    result = subprocess.run(
        [binary, "adapt", "--config", str(CADDY / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=True,
    )
    (server,) = json.loads(result.stdout)["apps"]["http"]["servers"].values()
    assert server["listen"] == [":443"]  # HTTPS with a certificate Caddy obtains
    (route,) = server["routes"]
    assert route["match"] == [{"host": ["anibridge.example.org"]}]
    text = json.dumps(route)
    assert '"handler": "reverse_proxy"' in text and '"dial": "anibridge:8000"' in text
    assert '"encode"' not in text  # media bytes pass unchanged (Range answers)


def test_compose_puts_caddy_in_front_and_trusts_only_its_network() -> None:
    compose = yaml.safe_load((REPO / "docker" / "compose.https.yaml").read_text())
    caddy, web = compose["services"]["caddy"], compose["services"]["anibridge"]
    assert "./caddy:/etc/caddy:ro" in caddy["volumes"]
    assert {"80:80", "443:443"} <= set(caddy["ports"])
    assert caddy["networks"] == ["edge"] and "edge" in web["networks"]
    assert "healthcheck" in caddy
    (subnet,) = [c["subnet"] for c in compose["networks"]["edge"]["ipam"]["config"]]
    assert ipaddress.ip_network(
        web["environment"]["ANIBRIDGE_TRUSTED_PROXIES"]
    ) == ipaddress.ip_network(subnet)
    assert web["environment"]["STRM_PUBLIC_BASE_URL"].startswith("https://")
