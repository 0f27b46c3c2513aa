"""One version number, the same everywhere a user sees it."""

from __future__ import annotations

import re
import tomllib

import pytest
from django.test import Client

from anibridge_site.version import VERSION
from tests.processes import REPO


def test_version_is_semantic_and_the_same_in_pyproject_and_the_changelog() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION)
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == VERSION
    changelog = (REPO / "CHANGELOG.md").read_text()
    newest = re.search(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d\d-\d\d$", changelog, re.MULTILINE)
    assert newest and newest[1] == VERSION


@pytest.mark.django_db
def test_health_and_the_admin_show_the_version(client: Client, admin_client: Client) -> None:
    assert client.get("/health").json()["version"] == VERSION
    assert f"AniBridge {VERSION}" in admin_client.get("/admin/").content.decode()
