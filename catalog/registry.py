"""The sites AniBridge knows, one `SiteInfo` each, registered here and nowhere else.

Everything that differs between sites and is not scraping (names, magnets, release
names, what Torznab offers, which settings, how titles are indexed) is a field of the
descriptor; the scraping is the site's `Site` implementation (catalog.sites.base), named
by `implementation` and loaded on first use. Adding a site is one `register()` call plus
its implementation (see README, "Adding a site").

Plain Python on purpose (no Django imports): catalog.identity validates names with it.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "SiteInfo",
    "all_sites",
    "canonical_name",
    "info",
    "register",
    "site_names",
    "unregister",
    "validate_site_name",
]

TitleIndexing = Literal["titles", "slugs"]
Films = Literal["none", "series-pages", "entries"]


@dataclass(frozen=True)
class SiteInfo:
    """What AniBridge knows of one site besides how to scrape it."""

    name: str  # canonical: in identities, magnets, database rows and CATALOG_SITES
    label: str  # for people (admin)
    implementation: str | Callable[[], Any]  # "module:Class" of its Site, or a factory
    aliases: tuple[str, ...] = ()  # more names `normalize_site` accepts (lower case)
    magnet_prefix: str = "aw"  # the original's magnet field prefix (aw_/sto_)
    languages: tuple[str, ...] = ("German Dub",)  # offered by Torznab, best first
    subbed_audio: str = "ENGLISH"  # the audio a subbed release is named with
    release_group: str = ""  # the default group of its release names
    release_group_setting: str | None = None  # Config field that overrides it
    anime: bool = False  # Sonarr's anime numbering (TVDB absolutes, specials), anime category
    films: Films = "none"  # where its films are: on series pages (season 0) or entries
    title_indexing: TitleIndexing = "titles"  # "slugs": titles derived from URL slugs
    has_search: bool = False  # its own search is asked when the title index misses
    base_url_setting: str | None = None  # Config field of its base URL
    refresh_hours_setting: str | None = None  # Config field of its index refresh hours
    refresh_hours: float = 24.0  # without such a setting
    alphabet_html_setting: str | None = None  # Config field of a saved alphabet page
    series_path: str = ""  # the path prefix of its series pages in the alphabet page
    settings: tuple[str, ...] = field(default=())  # every other Config field it reads

    def group(self, config: Any) -> str:
        """The configured release group, or the site's default."""
        configured = getattr(config, self.release_group_setting or "", "")
        return str(configured or self.release_group)

    def index_refresh_hours(self, config: Any) -> float:
        """How often its title index is refreshed; 0 means never automatically."""
        return float(getattr(config, self.refresh_hours_setting or "", self.refresh_hours))

    @property
    def series(self) -> bool:
        """Whether Sonarr's searches find series on it by their titles."""
        return self.title_indexing == "titles"

    def load(self) -> Any:
        """A new instance of its Site implementation."""
        if callable(self.implementation):
            return self.implementation()
        module, _, attribute = self.implementation.partition(":")
        return getattr(importlib.import_module(module), attribute)()


_lock = threading.Lock()
_sites: dict[str, SiteInfo] = {}
_aliases: dict[str, str] = {}


def register(site: SiteInfo) -> SiteInfo:
    """Make `site` known by its name and aliases; ValueError if one is taken."""
    names = {site.name.lower(), *(a.lower() for a in site.aliases)}
    with _lock:
        taken = sorted(n for n in names if _aliases.get(n, site.name) != site.name)
        if taken:
            raise ValueError(f"site names already registered: {', '.join(taken)}")
        _sites[site.name] = site
        _aliases.update(dict.fromkeys(names, site.name))
    return site


def unregister(name: str) -> None:
    """Forget a site registered by `register` (tests register and forget fake sites)."""
    with _lock:
        _sites.pop(name, None)
        for alias in [a for a, n in _aliases.items() if n == name]:
            del _aliases[alias]


def site_names() -> tuple[str, ...]:
    """Every registered site's name, in registration order."""
    return tuple(_sites)


def all_sites() -> tuple[SiteInfo, ...]:
    return tuple(_sites.values())


def canonical_name(value: str) -> str | None:
    """The site's name for a name or alias (any case, spaces trimmed), None if unknown."""
    return _aliases.get(value.strip().lower()) if isinstance(value, str) else None


def info(name: str) -> SiteInfo:
    """The descriptor of a site by name or alias; ValueError if unknown."""
    canonical = canonical_name(name)
    if canonical is None:
        raise ValueError(f"unknown site {name!r}: use one of {', '.join(_sites)}")
    return _sites[canonical]


def validate_site_name(value: str) -> None:
    """A model field validator: the value must be a registered site's own name."""
    from django.core.exceptions import ValidationError

    if value not in _sites:
        raise ValidationError(f"unknown site {value!r}: use one of {', '.join(_sites)}")


# -- the sites --------------------------------------------------------------------------

register(
    SiteInfo(
        name="aniworld.to",
        label="AniWorld",
        implementation="catalog.sites.aniworld:AniworldSite",
        aliases=("aniworld",),
        magnet_prefix="aw",
        languages=("German Dub", "German Sub", "English Sub", "English Dub"),
        subbed_audio="JAPANESE",
        release_group="ANIWORLD",
        release_group_setting="release_group_aniworld",
        anime=True,
        films="series-pages",
        base_url_setting="aniworld_base_url",
        refresh_hours_setting="aniworld_titles_refresh_hours",
        alphabet_html_setting="aniworld_alphabet_html",
        series_path="/anime/stream/",
        settings=("aniworld_alphabet_url",),
    )
)
register(
    SiteInfo(
        name="s.to",
        label="s.to",
        implementation="catalog.sites.sto:StoSite",
        aliases=("sto", "serienstream.to", "serienstream"),
        magnet_prefix="sto",
        languages=("German Dub", "English Dub"),  # "Deutsch"/"Englisch" audio only
        subbed_audio="ENGLISH",
        release_group="STO",
        release_group_setting="release_group_sto",
        has_search=True,
        base_url_setting="sto_base_url",
        refresh_hours_setting="sto_titles_refresh_hours",
        alphabet_html_setting="sto_alphabet_html",
        series_path="/serie/",
        settings=("sto_alphabet_url",),
    )
)
register(
    SiteInfo(
        name="megakino",
        label="Megakino",
        implementation="catalog.sites.megakino:MegakinoSite",
        magnet_prefix="aw",
        languages=("German Dub",),
        subbed_audio="ENGLISH",
        release_group="MEGAKINO",
        films="entries",
        title_indexing="slugs",
        base_url_setting="megakino_base_url",
        refresh_hours_setting="megakino_titles_refresh_hours",
        refresh_hours=12.0,
        settings=("megakino_domain_check_interval_min",),
    )
)
