"""The `aniworld` package without patchright (as the image installs it): a hoster's
captcha page fails that hoster with a clear reason and the next one takes over.

tests/test_image_packages.py runs this file with patchright (and the other packages the
image leaves out) unimportable; in the dev venv patchright is there but no Chromium,
and the same holds."""

from __future__ import annotations

import sys

import pytest

from catalog import browserless
from catalog.identity import EpisodeIdentity
from catalog.resolve import resolve_stream
from tests.fakeweb import FakeWeb
from tests.fakeweb import catalog_data as data

KAIJU = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 2, "German Dub")


def test_a_captcha_page_fails_the_hoster_and_the_next_one_takes_over(
    fake_sites: FakeWeb, caplog: pytest.LogCaptureFixture
) -> None:
    voe = fake_sites.links.find(data.ANIWORLD, "kaiju-academy", 1, 2, "German Dub", "VOE")
    # 503 is what the package takes for a challenge page: it reaches for the browser.
    fake_sites.hoster("VOE").fail_next(f"/e/{voe.code}", status=503, count=10)
    caplog.set_level("INFO", logger="catalog.resolve")
    stream = resolve_stream(KAIJU)
    assert stream.provider == "Filemoon"
    assert f"{KAIJU}: VOE failed" in caplog.text


def test_the_stand_in_takes_patchrights_place_only_when_it_is_missing(
    aniworld_package: FakeWeb,
) -> None:
    module = sys.modules.get("patchright")
    assert module is not None  # the package imported it (real or stand-in)
    if getattr(module, "__file__", None) is None:
        with pytest.raises(browserless.BrowserNotAvailable, match="runs no browser"):
            module.sync_api.sync_playwright()
    else:
        assert module.__name__ == "patchright" and browserless._installed()
