"""The stream a download reads: the resolved URL and headers, re-resolved from the same
hoster when the CDN stops taking them (an expired token), as the STRM proxy does."""

from __future__ import annotations

import logging

from catalog.egress.fetch import FetchFailed
from catalog.identity import EpisodeIdentity
from catalog.streams import ResolvedStream, ResolveError

log = logging.getLogger(__name__)

# Re-resolves in a row that did not let a single further piece through: past this the
# CDN refuses us for another reason than a token (a block, an outage).
MAX_FRUITLESS_REFRESHES = 2


class DownloadFailed(Exception):
    """This hoster's stream cannot be downloaded; str() is one line. The job tries the
    next hoster."""


class Source:
    def __init__(self, identity: EpisodeIdentity, stream: ResolvedStream) -> None:
        self.identity = identity
        self.stream = stream
        self.refreshes = 0
        self._fruitless = 0

    @property
    def provider(self) -> str:
        return self.stream.provider

    @property
    def url(self) -> str:
        return self.stream.url

    @property
    def headers(self) -> dict[str, str]:
        return dict(self.stream.headers)

    def refresh(self, why: FetchFailed) -> None:
        """A fresh URL from the same hoster; DownloadFailed when there is none, or when
        fresh URLs keep being refused."""
        from catalog.resolve import resolve_hoster  # the site packages load only in workers

        self._fruitless += 1
        if self._fruitless > MAX_FRUITLESS_REFRESHES:
            raise DownloadFailed(f"still refused after re-resolving {self.refreshes} times: {why}")
        log.info("%s: %s; re-resolving %s", self.identity, why, self.provider)
        try:
            self.stream = resolve_hoster(self.identity, self.provider)
        except ResolveError as exc:
            raise DownloadFailed(f"{why}; re-resolving failed: {exc}") from exc
        self.refreshes += 1

    def progressed(self) -> None:
        """A piece came through: the last re-resolve helped."""
        self._fruitless = 0
