"""What AniWorld and s.to share: structure and hoster links read through the `aniworld`
package, redirect -> embed -> extractor for the stream.

The package reports failures unevenly (AniWorld pages parse to "nothing" on a 404 or
a 503, s.to raises after trying every mirror), so when it yields nothing or raises,
one more request asks the page's status to tell "not on the site" (cacheable) from
"the site is down" (worth retrying).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from catalog import aniworld_compat, package
from catalog.identity import EpisodeIdentity
from catalog.sites.base import HosterLinks, NotOnSite, SiteError
from catalog.streams import ResolvedStream

log = logging.getLogger(__name__)

T = TypeVar("T")


def episode_label(site: str, slug: str, season: int, episode: int | None = None) -> str:
    label = f"{site}/{slug} S{season:02d}"
    return label if episode is None else f"{label}E{episode:02d}"


class PackageSite:
    """Base of the sites the package models; subclasses name the package classes."""

    name: str
    languages: tuple[str, ...]  # what the site can offer, in our canonical names

    # -- what a subclass provides --------------------------------------------------

    def _series(self, url: str) -> Any:
        raise NotImplementedError

    def _episode(self, url: str) -> Any:
        raise NotImplementedError

    def film_titles(self, slug: str) -> dict[int, str]:
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------

    def page_url(self, slug: str, season: int | None = None, episode: int | None = None) -> str:
        """The canonical URL the package accepts (routed to the configured base URL)."""
        try:
            return aniworld_compat.package_url(self.name, slug, season, episode)
        except ValueError:
            raise NotOnSite(f"{slug!r} is not a {self.name} slug") from None

    def seasons(self, slug: str) -> dict[int, int]:
        package.ensure_package()
        url = self.page_url(slug)
        what = f"{self.name}/{slug}"

        def read() -> dict[int, int]:
            series = self._series(url)
            return {int(s.season_number): int(s.episode_count) for s in series.seasons}

        found = self._read(url, what, read)
        if not found:
            package.raise_for_page(url, what)
            raise SiteError(f"{what}: the page lists no seasons; the site may have changed")
        for season, count in found.items():
            if not count:
                self._raise_unless_empty(slug, season)
        return dict(sorted(found.items()))

    def _raise_unless_empty(self, slug: str, season: int) -> None:
        """SiteError when a season the series page lists came out empty because its page
        failed to load (the package counts those as empty). A missing page is an empty
        season, as the site says; a page without episodes is worth a word."""
        what = episode_label(self.name, slug, season)
        try:
            package.raise_for_page(self.page_url(slug, season), what)
        except NotOnSite:
            return
        log.warning("%s: the series page lists it, but its page shows no episodes", what)

    def film_details(self, slug: str) -> tuple[dict[int, str], int | None]:
        return self.film_titles(slug), None  # the film pages give no year the package reads

    def hoster_links(self, identity: EpisodeIdentity) -> HosterLinks:
        package.ensure_package()
        url = self.page_url(identity.slug, identity.season, identity.episode)
        what = episode_label(self.name, identity.slug, identity.season, identity.episode)
        episode = self._episode(url)
        links = self._read(url, what, lambda: self._links_by_language(episode))
        if not links:
            package.raise_for_page(url, what)
        return links

    def resolve_link(self, provider: str, link: str) -> ResolvedStream:
        embed_url = package.follow_site_link(link)
        return package.extract_stream(provider, embed_url, self.name)

    def _links_by_language(self, episode: Any) -> HosterLinks:
        links: HosterLinks = {}
        for language in self.languages:
            providers = episode.available_providers(language)
            if providers:
                links[language] = {
                    str(p): str(episode.provider_link(language, p)) for p in providers
                }
        return links

    def _read(self, url: str, what: str, read: Callable[[], T]) -> T:
        """`read()`, with a failure explained by the page's status (see module doc)."""
        try:
            return read()
        except Exception as exc:
            log.info("%s: the aniworld package failed on %s: %s", what, url, package.one_line(exc))
            package.raise_for_page(url, what)
            raise SiteError(f"{what}: {package.one_line(exc)}") from None
