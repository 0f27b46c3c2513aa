"""What AniBridge needs from a streaming site; AniWorld, s.to and Megakino implement it."""

from __future__ import annotations

from typing import Protocol

from catalog.identity import EpisodeIdentity
from catalog.streams import ResolvedStream, ResolveError
from catalog.titles import TitleEntry

__all__ = ["HosterLinks", "NotOnSite", "Site", "SiteError", "TitleEntry"]

# Language ("German Dub", ...) -> hoster name ("VOE", ...) -> the link `resolve_link`
# takes (the site's redirect link, or the hoster embed URL itself), in the site's order.
HosterLinks = dict[str, dict[str, str]]


class SiteError(ResolveError):
    """The site itself failed (unreachable, HTTP 5xx, unexpected page): says nothing
    about whether the episode exists, so it is worth trying again later."""


class NotOnSite(ResolveError):
    """The site answered that the series, season or episode does not exist."""


class Site(Protocol):
    name: str  # "aniworld.to", "s.to" or "megakino"
    languages: tuple[str, ...]  # what the site can offer at all, e.g. s.to: German/English Dub

    def title_entries(self) -> list[TitleEntry]:
        """The site's whole title index (alphabet page or sitemap); network access."""
        ...

    def suggest(self, query: str) -> list[TitleEntry]:
        """The site's own search, best first; [] where the site has none."""
        ...

    def seasons(self, slug: str) -> dict[int, int]:
        """Season number -> number of episodes; season 0 holds films/specials."""
        ...

    def film_titles(self, slug: str) -> dict[int, str]:
        """Film/special number (season 0 episode N) -> its title on the site."""
        ...

    def film_details(self, slug: str) -> tuple[dict[int, str], int | None]:
        """film_titles, and the release year where the film's page gives one."""
        ...

    def hoster_links(self, identity: EpisodeIdentity) -> HosterLinks:
        """Every hoster link of the episode, all languages (identity.language is ignored).

        One page load. Raises NotOnSite or SiteError."""
        ...

    def resolve_link(self, provider: str, link: str) -> ResolvedStream:
        """The direct stream URL behind one hoster link; raises ResolveError with the reason."""
        ...
