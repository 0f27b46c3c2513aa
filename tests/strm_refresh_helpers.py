"""Shared by the refresh/dead-link suites: a download dir per test, and mappings whose
.strm file was written the way the .strm job writes it."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from catalog.identity import EpisodeIdentity
from strm import resolved
from strm.files import write_strm
from strm.models import StrmUrlMapping
from strm.stream_urls import stream_url
from tests.fakeweb import FakeWeb
from tests.strm_helpers import use_proxy_config

KAIJU_1 = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 1, "German Dub", "VOE")
KAIJU_2 = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 2, "German Dub", "VOE")
HARBOR_1 = EpisodeIdentity("s.to", "the-quiet-harbor", 1, 1, "German Dub", "VOE")
# Episode 9 does not exist: it no longer resolves.
KAIJU_GONE = EpisodeIdentity("aniworld.to", "kaiju-academy", 1, 9, "German Dub", "VOE")


def use_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mode: str, **changes: object) -> Path:
    """STRM settings for `mode` ("direct"/"proxy") with a DOWNLOAD_DIR of this test's own."""
    downloads = tmp_path / "downloads"
    downloads.mkdir(exist_ok=True)
    use_proxy_config(monkeypatch, strm_proxy_mode=mode, download_dir=downloads, **changes)
    return downloads


def resolves(web: FakeWeb) -> int:
    """Resolutions so far: every one loads VOE's embed page once."""
    return web.counts.total("voe", "/e/*")


def with_strm_file(identity: EpisodeIdentity, directory: Path | None = None) -> StrmUrlMapping:
    """Resolve `identity` and write its .strm file as the .strm job would (URL per mode)."""
    resolution = resolved.current(identity)
    proxy = settings.CONFIG.strm_proxy_mode == "proxy"
    url = stream_url(identity) if proxy else resolution.url
    name = f"{identity.slug}.S{identity.season:02d}E{identity.episode:02d}"
    path = write_strm(directory or settings.CONFIG.download_dir, name, url)
    return recorded(identity, str(path))


def recorded(identity: EpisodeIdentity, strm_path: str = "") -> StrmUrlMapping:
    mapping, _ = StrmUrlMapping.objects.update_or_create(
        site=identity.site,
        slug=identity.slug,
        season=identity.season,
        episode=identity.episode,
        language=identity.language,
        provider=identity.provider or "",
        defaults={"strm_path": strm_path},
    )
    return mapping


def strm_url(mapping: StrmUrlMapping) -> str:
    return Path(mapping.strm_path).read_text().strip()
