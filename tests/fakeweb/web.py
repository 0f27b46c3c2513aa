"""FakeWeb: starts every fake origin and tells you where they are."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from tests.fakeweb import catalog_data as data
from tests.fakeweb.cdn import FakeCdn
from tests.fakeweb.hosters import Doodstream, FakeHoster, Filemoon, Vidmoly, Vidoza, Voe
from tests.fakeweb.links import HosterLink, LinkTable
from tests.fakeweb.media import MediaSet, generate_media
from tests.fakeweb.server import FakeServer, Traffic
from tests.fakeweb.sites import AniworldSite, MegakinoSite, StoSite
from tests.fakeweb.skyhook import SkyHook


class FakeWeb:
    """All fakes, each on its own 127.0.0.1 port. Use as a context manager.

    `urls` maps server name -> base URL (no trailing slash): aniworld, sto, megakino,
    voe, vidmoly, vidoza, filemoon, doodstream, cdn, skyhook. `counts` counts
    requests per server and path. Media is generated (or reused) on construction.
    """

    def __init__(self, media_dir: Path | None = None, *, verbose: bool = False) -> None:
        self.media: MediaSet = generate_media(media_dir)
        self.links = LinkTable()
        self.counts = Traffic()
        self.cdn = FakeCdn(self.counts, self.media, verbose=verbose)
        hosters: list[FakeHoster] = [
            cls(name, self.counts, self.links, self.cdn, verbose=verbose)
            for name, cls in (
                ("voe", Voe),
                ("vidmoly", Vidmoly),
                ("vidoza", Vidoza),
                ("filemoon", Filemoon),
                ("doodstream", Doodstream),
            )
        ]
        self.aniworld = AniworldSite(
            "aniworld", self.counts, self.links, self.embed_url, verbose=verbose
        )
        self.sto = StoSite("sto", self.counts, self.links, self.embed_url, verbose=verbose)
        self.megakino = MegakinoSite(
            "megakino", self.counts, self.links, self.embed_url, verbose=verbose
        )
        self.skyhook = SkyHook("skyhook", self.counts, verbose=verbose)
        servers: list[FakeServer] = [self.aniworld, self.sto, self.megakino, *hosters]
        servers += [self.cdn, self.skyhook]
        self.servers: dict[str, FakeServer] = {s.name: s for s in servers}
        self._started = False

    @property
    def urls(self) -> dict[str, str]:
        return {name: server.base_url for name, server in self.servers.items()}

    def url(self, server: str, path: str = "") -> str:
        return self.servers[server].base_url + path

    def app_env(self) -> dict[str, str]:
        """AniBridge settings (environment variables) that point it at these fakes: for
        processes we start (Celery workers); `fake_sites` applies the same in-process."""
        return {
            "ANIWORLD_BASE_URL": self.urls["aniworld"],
            "ANIWORLD_ALPHABET_URL": self.url("aniworld", "/animes-alphabet"),
            "STO_BASE_URL": self.urls["sto"],
            "STO_ALPHABET_URL": self.url("sto", "/serien?by=alpha"),
            "MEGAKINO_BASE_URL": self.urls["megakino"],
            "SKYHOOK_BASE_URL": self.urls["skyhook"],
            "STRM_PROXY_UPSTREAM_ALLOWLIST": "127.0.0.1",
        }

    def embed_url(self, link: HosterLink) -> str:
        """Where a hoster link's redirect points."""
        return self.url(link.server, link.embed_path)

    def publish(self, slug: str) -> None:
        """The site adds a catalog_data.LATE series now (until the next reset())."""
        site = next(s.site for s in data.LATE if s.slug == slug)
        (self.aniworld if site == data.ANIWORLD else self.sto).publish(slug)

    def hoster(self, name: str) -> FakeServer:
        """The server of a hoster by the package's provider name ("VOE", ...)."""
        return self.servers[name.lower()]

    def start(self) -> FakeWeb:
        if not self._started:
            for server in self.servers.values():
                server.start()
            self._started = True
        return self

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        self._started = False

    def reset(self) -> None:
        """Forget traffic, disarm faults, restore the CDN's token policy and the links."""
        self.counts.reset()
        self.links.reset()
        for server in self.servers.values():
            server.clear_faults()
        self.cdn.reset_config()
        self.megakino.require_token_cookie = False
        self.aniworld.published.clear()
        self.sto.published.clear()

    def __enter__(self) -> FakeWeb:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
