"""The network guard still sees what leaves loopback through the new connection paths:
a proxy configured off loopback, and an allow-listed target off loopback, for our
HTTP/1.1 client and for the requests sessions of the site fetches."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from django.conf import settings

from catalog.egress import upstream
from catalog.sites.base import SiteError
from catalog.sites.http import fetch_text
from tests.netguard import expect_violations


def _configure(monkeypatch: pytest.MonkeyPatch, **fields: Any) -> None:
    monkeypatch.setattr(settings, "CONFIG", dataclasses.replace(settings.CONFIG, **fields))


def test_a_proxy_off_loopback_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    # 192.0.2.0/24 is TEST-NET-1: never routed, and refused by the guard before a packet.
    _configure(
        monkeypatch,
        all_proxy="http://192.0.2.10:3128",
        strm_proxy_upstream_allowlist=("127.0.0.1",),
    )
    with expect_violations() as caught:
        with pytest.raises(upstream.Unreachable, match=r"proxy http://192\.0\.2\.10:3128"):
            upstream.open_url("http://127.0.0.1:9/seg.ts", {})
        with pytest.raises(SiteError, match=r"proxy http://192\.0\.2\.10:3128"):
            fetch_text("http://127.0.0.1:9/page")
    assert len(caught) == 2 and all("192.0.2.10:3128" in v for v in caught)


def test_an_allow_listed_target_off_loopback_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    _configure(monkeypatch, strm_proxy_upstream_allowlist=("192.0.2.0/24",))
    with expect_violations() as caught:
        with pytest.raises(upstream.Unreachable):
            upstream.open_url("http://192.0.2.20/seg.ts", {})
        with pytest.raises(SiteError):
            fetch_text("http://192.0.2.20/page")
    assert len(caught) == 2 and all("192.0.2.20:80" in v for v in caught)
