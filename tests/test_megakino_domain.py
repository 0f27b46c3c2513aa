"""MEGAKINO_DOMAIN_CHECK_INTERVAL_MIN: AniBridge follows Megakino to its next domain."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.conf import settings

from catalog.sites import megakino_domain
from catalog.sites.megakino import MegakinoSite
from tests.fakeweb import catalog_data as data
from tests.fakeweb.web import FakeWeb
from tests.processes import REPO, process_env


class OldDomain:
    """Megakino's previous domain: `routes` maps a path to (status, headers, body)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.hits: list[str] = []
        routes, hits = self.routes, self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                status, headers, body = routes.get(self.path, (404, {}, b"gone"))
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def old(fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch) -> Iterator[OldDomain]:
    domain = OldDomain()
    monkeypatch.setattr(
        settings, "CONFIG", dataclasses.replace(settings.CONFIG, megakino_base_url=domain.url)
    )
    yield domain
    domain.close()


def _slugs() -> set[str]:
    return {entry.slug for entry in MegakinoSite().title_entries()}


EXPECTED = {f"{m.id}-{m.slug}" for m in data.MEGAKINO}


def test_a_domain_that_still_works_stays(fake_sites: FakeWeb) -> None:
    base = settings.CONFIG.megakino_base_url
    assert megakino_domain.check() == base
    assert megakino_domain.current_base() == base
    assert fake_sites.counts.count("megakino", "/mirrors.txt") == 0


def test_a_redirect_to_the_new_domain_is_followed_for_every_later_request(
    old: OldDomain, fake_sites: FakeWeb, caplog: pytest.LogCaptureFixture
) -> None:
    new = fake_sites.urls["megakino"]
    old.routes["/sitemap.xml"] = (301, {"Location": new + "/sitemap.xml"}, b"")
    assert megakino_domain.check() == new
    assert megakino_domain.current_base() == new
    assert f"megakino domain: {old.url} moved to {new}" in caplog.text
    old.hits.clear()
    assert _slugs() == EXPECTED
    assert old.hits == []  # every page now comes from the new domain


def test_when_the_domain_is_dead_its_mirror_list_names_the_next_one(
    old: OldDomain, fake_sites: FakeWeb, caplog: pytest.LogCaptureFixture
) -> None:
    new = fake_sites.urls["megakino"]
    old.routes["/sitemap.xml"] = (503, {}, b"<html>Bitte warten</html>")
    old.routes["/mirrors.txt"] = (
        200,
        {"Content-Type": "text/plain"},
        # A private address and another loopback host are never contacted; the
        # reachable mirror after them is taken.
        f"# Megakino mirrors\nhttp://10.20.30.40\nhttp://127.0.0.2:9\n{new}\n".encode(),
    )
    assert megakino_domain.check() == new
    assert "mirror http://10.20.30.40 is not allowed" in caplog.text
    assert "mirror http://127.0.0.2:9 is not allowed" in caplog.text
    assert f"megakino domain: {old.url} does not answer; using mirror {new}" in caplog.text
    assert _slugs() == EXPECTED


def test_with_no_way_forward_the_base_is_kept_and_the_log_says_what_to_do(
    old: OldDomain, caplog: pytest.LogCaptureFixture
) -> None:
    assert megakino_domain.check() == old.url
    assert megakino_domain.current_base() == old.url
    assert "set MEGAKINO_BASE_URL to Megakino's current address" in caplog.text


def test_a_changed_setting_starts_over_from_it(
    old: OldDomain, fake_sites: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    new = fake_sites.urls["megakino"]
    old.routes["/sitemap.xml"] = (302, {"Location": new + "/sitemap.xml"}, b"")
    megakino_domain.check()
    assert megakino_domain.current_base() == new
    moved_by_user = "https://megakino.example"
    monkeypatch.setattr(
        settings, "CONFIG", dataclasses.replace(settings.CONFIG, megakino_base_url=moved_by_user)
    )
    assert megakino_domain.current_base() == moved_by_user


@pytest.mark.parametrize(("value", "scheduled"), [("", 6000.0), ("0", None), ("15", 900.0)])
def test_beat_checks_the_domain_every_interval_unless_it_is_0(
    value: str, scheduled: float | None
) -> None:
    code = (
        "from django.conf import settings; "
        "e = settings.CELERY_BEAT_SCHEDULE.get('check-megakino-domain'); "
        "print(e and e['schedule'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=REPO,
        env=process_env(
            DJANGO_SETTINGS_MODULE="anibridge_site.settings",
            MEGAKINO_DOMAIN_CHECK_INTERVAL_MIN=value,
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(scheduled)
