"""What resolving an episode yields, and how it fails."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ResolvedStream:
    """A direct media URL (HLS playlist or progressive file) and how to fetch it."""

    url: str
    provider: str
    site: str
    # The hoster binds its links to these (Referer, User-Agent, cookies): every
    # request for this URL and anything under it must send them.
    headers: dict[str, str] = field(default_factory=dict)


class ResolveError(Exception):
    """The episode could not be resolved; str() is one line a user can act on."""


class LanguageNotOffered(ResolveError):
    def __init__(self, episode: str, language: str, offered: list[str]) -> None:
        have = ", ".join(offered) if offered else "none"
        super().__init__(f"{episode}: {language} is not offered (available: {have})")
        self.offered = offered


class NoHosterWorked(ResolveError):
    def __init__(self, episode: str, attempts: list[tuple[str, str]]) -> None:
        detail = "; ".join(f"{name}: {why}" for name, why in attempts) or "no hoster listed"
        super().__init__(f"{episode}: no hoster worked ({detail})")
        self.attempts = attempts
