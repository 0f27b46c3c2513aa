"""What AniBridge needs from a streaming site; AniWorld, s.to and Megakino implement it."""

from __future__ import annotations

from typing import Protocol

from catalog.identity import EpisodeIdentity
from catalog.streams import ResolvedStream
from catalog.titles import TitleEntry

__all__ = ["Site", "TitleEntry"]


class Site(Protocol):
    name: str  # "aniworld.to", "s.to" or "megakino"

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

    def episode_languages(self, identity: EpisodeIdentity) -> dict[str, list[str]]:
        """Language -> hosters offering the episode in it, in the site's order."""
        ...

    def resolve(self, identity: EpisodeIdentity, provider: str) -> ResolvedStream:
        """The direct stream URL from one hoster; raises ResolveError with the reason."""
        ...
