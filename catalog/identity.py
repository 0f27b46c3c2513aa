"""Which episode we mean: site, slug, season, episode, language, and optionally the hoster.

Plain Python on purpose (no Django imports): magnets, naming and tests use it directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from catalog import registry

LANGUAGES: tuple[str, ...] = ("German Dub", "German Sub", "English Sub", "English Dub")

MAX_SEASON = 999
MAX_EPISODE = 9999
MAX_SLUG_LENGTH = 200
# The provider columns (Job, ClientTask, StrmUrlMapping, EpisodeAvailability) hold 32.
MAX_PROVIDER_LENGTH = 32

# Keys are normalised with _language_key(): lower case, separators collapsed to one space.
_LANGUAGE_ALIASES: dict[str, str] = {
    **dict.fromkeys(
        (
            "german dub",
            "germandub",
            "german dubbed",
            "gerdub",
            "ger dub",
            "german",
            "ger",
            "deu",
            "de",
            "deutsch",
            "deutsch dub",
        ),
        "German Dub",
    ),
    **dict.fromkeys(
        (
            "german sub",
            "germansub",
            "german subbed",
            "german subs",
            "german subtitles",
            "gersub",
            "ger sub",
            "deutsch sub",
            "omu",
            "japanese with german subs",
            "japanese with german subtitles",
            "japanisch mit deutschen untertiteln",
            "mit deutschen untertiteln",
        ),
        "German Sub",
    ),
    **dict.fromkeys(
        (
            "english sub",
            "englishsub",
            "english subbed",
            "english subs",
            "english subtitles",
            "engsub",
            "eng sub",
            "ensub",
            "en sub",
            "englisch sub",
            "japanese with english subs",
            "japanese with english subtitles",
            "japanisch mit englischen untertiteln",
            "mit englischen untertiteln",
        ),
        "English Sub",
    ),
    **dict.fromkeys(
        (
            "english dub",
            "englishdub",
            "english dubbed",
            "engdub",
            "eng dub",
            "english",
            "eng",
            "en",
            "englisch",
        ),
        "English Dub",
    ),
}

_SEPARATORS = re.compile(r"[\s._\-/+,()]+")
# Letters, digits, '-', '_', '.', '~'; must start with a letter or digit (so never "..").
# ASCII only: slugs come from the sites' URLs and go back into URL paths and file names.
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.~-]*")
_PROVIDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]*")


def _language_key(value: str) -> str:
    return _SEPARATORS.sub(" ", value.strip().lower()).strip()


def normalize_language(value: str) -> str:
    """The canonical language ("German Dub", ...) for a label or alias; ValueError if unknown."""
    canonical = _LANGUAGE_ALIASES.get(_language_key(value)) if isinstance(value, str) else None
    if canonical is None:
        raise ValueError(
            f"unknown language {value!r}: use one of {', '.join(LANGUAGES)} "
            "(aliases such as 'ger', 'gersub', 'engsub' or 'eng' work too)"
        )
    return canonical


def normalize_site(value: str) -> str:
    """The canonical site ("aniworld.to", "s.to", ...: catalog.registry); ValueError if unknown."""
    canonical = registry.canonical_name(value)
    if canonical is None:
        raise ValueError(f"unknown site {value!r}: use one of {', '.join(registry.site_names())}")
    return canonical


def validate_slug(slug: str) -> str:
    """The slug unchanged; ValueError when it is empty, too long or could act as a path."""
    if not isinstance(slug, str) or not slug:
        raise ValueError("slug is empty: expected the series/film slug from the site's URL")
    if len(slug) > MAX_SLUG_LENGTH:
        raise ValueError(f"slug is too long ({len(slug)} characters, at most {MAX_SLUG_LENGTH})")
    if "/" in slug or "\\" in slug or ".." in slug:
        raise ValueError(f"slug {slug!r} contains a path separator or '..'")
    if not _SLUG.fullmatch(slug):
        raise ValueError(
            f"slug {slug!r} must start with a letter or digit and contain only letters, "
            "digits, '-', '_', '.' and '~' (ASCII)"
        )
    return slug


def validate_number(field: str, value: int, maximum: int) -> int:
    """A season/episode number unchanged; ValueError unless it is an int in 0..maximum."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{field} must be a whole number, got {value!r}")
    if not 0 <= value <= maximum:
        raise ValueError(f"{field} {value} is out of range (0..{maximum})")
    return value


def normalize_provider(provider: str | None) -> str | None:
    """A hoster name ("VOE", "Filemoon", ...) trimmed, None when blank; ValueError if odd."""
    if provider is None:
        return None
    if not isinstance(provider, str):
        raise ValueError(f"provider must be text, got {provider!r}")
    provider = provider.strip()
    if not provider:
        return None
    if len(provider) > MAX_PROVIDER_LENGTH or not _PROVIDER.fullmatch(provider):
        raise ValueError(
            f"provider {provider!r} is not a hoster name "
            f"(letters, digits, space, '.', '_', '-'; at most {MAX_PROVIDER_LENGTH})"
        )
    return provider


@dataclass(frozen=True)
class EpisodeIdentity:
    """One episode (or film) in one language on one site; values are normalised on creation.

    Films are season 0, episode 1. `provider` is the preferred hoster, if any.
    """

    site: str
    slug: str
    season: int
    episode: int
    language: str
    provider: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "site", normalize_site(self.site))
        object.__setattr__(self, "language", normalize_language(self.language))
        object.__setattr__(self, "provider", normalize_provider(self.provider))
        validate_slug(self.slug)
        validate_number("season", self.season, MAX_SEASON)
        validate_number("episode", self.episode, MAX_EPISODE)

    def key(self) -> str:
        """A stable text key, e.g. "aniworld.to:kaiju-no-8:s1e5:German Dub[:VOE]"."""
        base = f"{self.site}:{self.slug}:s{self.season}e{self.episode}:{self.language}"
        return base if self.provider is None else f"{base}:{self.provider}"

    def __str__(self) -> str:
        return f"{self.site}/{self.slug} S{self.season:02d}E{self.episode:02d} [{self.language}]"
