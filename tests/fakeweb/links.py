"""Every hoster link the fake sites show, derived deterministically from catalog_data.

A link is one (site, slug, season, episode, language, hoster). Its `code` is the
hoster's video id (alphanumeric: Filemoon's extractor insists), its `redirect_id`
the number behind aniworld's `/redirect/<id>`; s.to uses `/r?t=<code>`.
Season 0 is aniworld's `/filme` (episode = film number); megakino films are S1E1.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from tests.fakeweb import catalog_data as data

EMBED_PATHS = {
    "VOE": "/e/{code}",
    "Vidmoly": "/embed-{code}.html",
    "Vidoza": "/embed-{code}.html",
    "Filemoon": "/e/{code}",
    "Doodstream": "/e/{code}",
}
# The hoster servers of a FakeWeb are named like this.
SERVER_NAMES = {
    "VOE": "voe",
    "Vidmoly": "vidmoly",
    "Vidoza": "vidoza",
    "Filemoon": "filemoon",
    "Doodstream": "doodstream",
}


@dataclass(frozen=True)
class HosterLink:
    site: str
    slug: str
    season: int
    episode: int
    language: str
    hoster: str
    media: str
    code: str
    redirect_id: int

    @property
    def embed_path(self) -> str:
        return EMBED_PATHS[self.hoster].format(code=self.code)

    @property
    def server(self) -> str:
        return SERVER_NAMES[self.hoster]


def _link(
    site: str, slug: str, season: int, episode: int, language: str, hoster: str, media: str
) -> HosterLink:
    identity = f"{site}|{slug}|{season}|{episode}|{language}|{hoster}"
    digest = hashlib.sha1(identity.encode(), usedforsecurity=False)
    hexdigest = digest.hexdigest()
    return HosterLink(
        site,
        slug,
        season,
        episode,
        language,
        hoster,
        media,
        hexdigest[:12],
        int(hexdigest[12:19], 16),
    )


class LinkTable:
    def __init__(self) -> None:
        links: list[HosterLink] = []
        for series in data.all_series():
            for season in series.seasons:
                for ep in season.episodes:
                    for language in series.episode_languages(ep):
                        for hoster in series.episode_hosters(ep):
                            links.append(
                                _link(
                                    series.site,
                                    series.slug,
                                    season.number,
                                    ep.number,
                                    language,
                                    hoster,
                                    series.media_for(hoster),
                                )
                            )
            for film in series.films:
                for language in series.languages:
                    for hoster in series.hosters:
                        links.append(
                            _link(
                                series.site,
                                series.slug,
                                0,
                                film.number,
                                language,
                                hoster,
                                series.media_for(hoster),
                            )
                        )
        for entry in data.MEGAKINO:
            for number in range(1, max(entry.episodes, 1) + 1):
                for hoster in entry.hosters:
                    links.append(
                        _link(
                            "megakino",
                            entry.slug,
                            1,
                            number,
                            "German Dub",
                            hoster,
                            data.HOSTER_MEDIA[hoster],
                        )
                    )
        self._defaults = tuple(links)
        self._use(self._defaults)

    def _use(self, links: tuple[HosterLink, ...]) -> None:
        by_code = {link.code: link for link in links}
        by_redirect = {link.redirect_id: link for link in links}
        if len(by_code) != len(links) or len(by_redirect) != len(links):
            raise RuntimeError("fakeweb link ids collide: change a slug or title")
        # Swapped together, so a server thread sees the old table or the new one.
        self.links, self.by_code, self.by_redirect = links, by_code, by_redirect

    def set_languages(
        self, site: str, slug: str, season: int, episode: int, languages: tuple[str, ...]
    ) -> None:
        """Make one episode offer exactly `languages`, on the hosters it has by default
        (VOE if none): () holds it back, more languages release them. reset() undoes it."""
        where = (site, slug, season, episode)
        default = [link for link in self._defaults if _where(link) == where]
        hosters = dict.fromkeys(link.hoster for link in default) or {"VOE": None}
        media = {link.hoster: link.media for link in default}
        kept = [link for link in self.links if _where(link) != where]
        added = [
            _link(*where, language, hoster, media.get(hoster, data.HOSTER_MEDIA[hoster]))
            for language in languages
            for hoster in hosters
        ]
        self._use((*kept, *added))

    def reset(self) -> None:
        self._use(self._defaults)

    def for_episode(self, site: str, slug: str, season: int, episode: int) -> list[HosterLink]:
        return [
            link
            for link in self.links
            if (link.site, link.slug, link.season, link.episode) == (site, slug, season, episode)
        ]

    def find(
        self, site: str, slug: str, season: int, episode: int, language: str, hoster: str
    ) -> HosterLink:
        for link in self.for_episode(site, slug, season, episode):
            if (link.language, link.hoster) == (language, hoster):
                return link
        raise KeyError(f"no {hoster}/{language} link for {site} {slug} S{season}E{episode}")


def _where(link: HosterLink) -> tuple[str, str, int, int]:
    return (link.site, link.slug, link.season, link.episode)
