"""A site behind its circuit breaker: what `get_site` hands out.

Every call to the site's pages goes through `breaker.guard(site)`: refused at once
while the site is cooling down, counted as a failure when the site fails (SiteError;
logged once, there). Hoster links are resolved through the site's redirect
(`/redirect/ID`, `/r?t=`); when that answers a challenge page instead, the site's
hoster resolution (circuit "<site> hosters") pauses for
PROVIDER_CHALLENGE_BACKOFF_SECONDS, so the next resolutions do not run into it too.
"""

from __future__ import annotations

import logging

from django.conf import settings

from catalog import breaker
from catalog.identity import EpisodeIdentity
from catalog.package import ChallengePage
from catalog.sites.base import HosterLinks, NotOnSite, Site, SiteError, TitleEntry
from catalog.streams import ResolvedStream

log = logging.getLogger(__name__)


def hosters_circuit(site: str) -> str:
    """The circuit of a site's hoster resolution (its redirect links)."""
    return f"{site} hosters"


class GuardedSite:
    """`site`, with every page load guarded by the site's circuit."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.name = site.name
        self.languages = site.languages

    def title_entries(self) -> list[TitleEntry]:
        with breaker.guard(self.name):
            try:
                entries = self.site.title_entries()
            except NotOnSite as exc:
                raise SiteError(f"{exc}; check the site's index URL setting") from None
            if not entries:
                # An empty index page is a changed layout or a challenge page, not a
                # site without titles; storing it would blank the index.
                raise SiteError(f"{self.name} listed no titles; its index page may have changed")
        return entries

    def suggest(self, query: str) -> list[TitleEntry]:
        with breaker.guard(self.name):
            return self.site.suggest(query)

    def seasons(self, slug: str) -> dict[int, int]:
        with breaker.guard(self.name):
            return self.site.seasons(slug)

    def film_titles(self, slug: str) -> dict[int, str]:
        with breaker.guard(self.name):
            return self.site.film_titles(slug)

    def film_details(self, slug: str) -> tuple[dict[int, str], int | None]:
        with breaker.guard(self.name):
            return self.site.film_details(slug)

    def hoster_links(self, identity: EpisodeIdentity) -> HosterLinks:
        with breaker.guard(self.name):
            return self.site.hoster_links(identity)

    def resolve_link(self, provider: str, link: str) -> ResolvedStream:
        circuit = hosters_circuit(self.name)
        breaker.check(circuit)
        try:
            return self.site.resolve_link(provider, link)
        except ChallengePage as exc:
            seconds = settings.CONFIG.provider_challenge_backoff_seconds
            breaker.trip(circuit, str(exc), seconds)
            log.warning(
                "%s: %s; pausing its hoster links for %.0f s (PROVIDER_CHALLENGE_BACKOFF_SECONDS)",
                self.name,
                exc,
                seconds,
            )
            raise breaker.CircuitOpen(breaker.state(circuit)) from None
