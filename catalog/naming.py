"""Release names that Sonarr (and Radarr) parse right and that are safe as file names.

Forms (checked against a port of Sonarr's parser in tests/sonarr_parser.py):

- episode:     Series.Title.S01E05.1080p.WEB.H264.GERMAN-ANIWORLD
- multi:       Series.Title.S01E05-E06.1080p.WEB.H264.GERMAN-ANIWORLD
- season pack: Series.Title.S01.1080p.WEB.H264.GERMAN-ANIWORLD
- movie:       Title.2019.1080p.WEB.H264.GERMAN-MEGAKINO
- anime:       [ANIWORLD] Series Title - 005 (S01E05) [GERMAN 1080p WEB H264]
               (Sonarr reads absolute 5 *and* S01E05. Its anime regexes take 2-digit
               episodes and 2-3 digit absolutes; beyond that it would pick any number
               in the title, so episode 100+ or absolute 1000+ get the episode form.)

Languages: Sonarr drops a language followed by "SUB" (GER.SUB parses as Unknown), so a
subbed release names its *audio* language and adds a tag no language rule reads:
German Sub on AniWorld is `JAPANESE.GerSub` (Sonarr: Japanese), English Sub is
`JAPANESE.EngSub`; German Dub is `GERMAN`, English Dub `ENGLISH`. On s.to and Megakino
the original audio of a subbed release is English, so it is `ENGLISH.GerSub` (each
site's `subbed_audio` and default group are in catalog.registry).

The STRM variant carries the original's `[STRM]` marker just before the group (or at the
end of the anime form), where Sonarr still reads the group, numbers, quality and language.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from catalog import registry
from catalog.identity import MAX_EPISODE, MAX_SEASON, normalize_language, validate_number

DEFAULT_SOURCE = "WEB"
STRM_MARKER = "[STRM]"
MAX_NAME_LENGTH = 240  # leaves room for an extension inside a 255-byte file name

_TRANSLITERATIONS = str.maketrans(
    {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "Ä": "Ae",
        "Ö": "Oe",
        "Ü": "Ue",
        "ß": "ss",
        "ẞ": "SS",
        "&": " and ",
        "'": "",
        "\u2019": "",  # right single quotation mark, the usual apostrophe in titles
        "\u2018": "",
        "`": "",
        "\u00b4": "",  # acute accent used as an apostrophe
    }
)
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")
# (substrings of an ffprobe codec name or RFC 6381 codec string, tag); x26x before the H.26x names.
_CODECS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("x265",), "x265"),
    (("x264",), "x264"),
    (("hevc", "h265", "h.265", "hvc1", "hev1"), "H265"),
    (("avc", "h264", "h.264"), "H264"),
    (("av01", "av1"), "AV1"),
    (("vp09", "vp9"), "VP9"),
)
# Sonarr reads a bare "WEB" only next to one of these (QualityParser SourceRegex).
_WEB_ANCHOR_RESOLUTIONS = ("720p", "1080p", "2160p")
_WEB_ANCHOR_CODECS = ("H264", "H265", "x264", "x265")
_UNUSABLE_GROUP = re.compile(r"\d+|[SE]\d+|[0-9A-F]{8}")


@dataclass(frozen=True)
class _Tags:
    """Everything in a name except the numbering."""

    words: tuple[str, ...]
    language: tuple[str, ...]
    quality: tuple[str, ...]
    group: str
    strm: bool


def title_words(title: str) -> tuple[str, ...]:
    """The title as ASCII words: umlauts transliterated, accents and punctuation dropped."""
    text = unicodedata.normalize("NFKD", title.translate(_TRANSLITERATIONS))
    words = tuple(
        word for word in _NOT_ALNUM.split(text.encode("ascii", "ignore").decode()) if word
    )
    if not words:
        raise ValueError(f"title {title!r} has no letters or digits usable in a release name")
    return words


def resolution_tag(height: int | None) -> str | None:
    """480p/720p/1080p/2160p for a video height (with some slack for cropped video)."""
    if not height or height <= 0:
        return None
    for minimum, tag in ((2000, "2160p"), (1000, "1080p"), (700, "720p")):
        if height >= minimum:
            return tag
    return "480p"


def codec_tag(vcodec: str | None) -> str | None:
    """H264/H265/x264/x265/AV1/VP9 for a codec name; H264 when unknown, None when unrecognised."""
    if not vcodec:
        return "H264"  # the hosters serve H.264 unless a probe says otherwise
    lowered = vcodec.lower()
    return next((tag for needles, tag in _CODECS if any(n in lowered for n in needles)), None)


def source_tag(source: str, resolution: str | None, codec: str | None, *, last: bool) -> str:
    """The source tag; a bare WEB becomes WEB-DL where Sonarr would not recognise it.

    Sonarr needs "720p.WEB." (something after WEB) or "WEB.H264"; `last` says that
    nothing but a closing bracket follows the source tag.
    """
    tag = re.sub(r"[^A-Za-z0-9-]", "", source) or DEFAULT_SOURCE
    anchored = codec in _WEB_ANCHOR_CODECS or (
        resolution in _WEB_ANCHOR_RESOLUTIONS and not (last and codec is None)
    )
    return "WEB-DL" if tag.upper() == "WEB" and not anchored else tag


def language_tags(language: str, site: str) -> tuple[str, ...]:
    """The language words for a canonical language (see the module docstring)."""
    language = normalize_language(language)
    if language == "German Dub":
        return ("GERMAN",)
    if language == "English Dub":
        return ("ENGLISH",)
    subs = "GerSub" if language == "German Sub" else "EngSub"
    return (registry.info(site).subbed_audio, subs)


def release_group(group: str | None, site: str) -> str:
    """The group suffix: the configured one cleaned up, or the site's default."""
    cleaned = _NOT_ALNUM.sub("", group or "").upper()
    if not cleaned:
        return registry.info(site).release_group
    if _UNUSABLE_GROUP.fullmatch(cleaned):
        raise ValueError(
            f"release group {group!r} would be ignored by Sonarr (numbers, S01/E01 or "
            "8 hex digits); choose a name with letters, e.g. ANIWORLD"
        )
    return cleaned


def build_release_name(
    *,
    title: str,
    site: str,
    language: str,
    season: int | None = None,
    episode: int | None = None,
    last_episode: int | None = None,
    absolute: int | None = None,
    year: int | None = None,
    height: int | None = None,
    vcodec: str | None = None,
    source: str = DEFAULT_SOURCE,
    group: str | None = None,
    strm: bool = False,
) -> str:
    """The release name for a movie (no season), season pack (no episode) or episode(s).

    An episode with an absolute number gets the anime form. Raises ValueError for
    numbers out of range or a title with nothing usable in it.
    """
    anime = _anime_numbering_fits(episode, absolute)
    resolution, codec = resolution_tag(height), codec_tag(vcodec)
    quality = (resolution, source_tag(source, resolution, codec, last=anime), codec)
    tags = _Tags(
        words=title_words(title),
        language=language_tags(language, site),
        quality=tuple(tag for tag in quality if tag),
        group=release_group(group, site),
        strm=strm,
    )
    if season is None:
        _refuse_episode_numbers_for_movie(episode, absolute)
        return _fitted(tags, lambda t: _dotted(t, _year_token(year)))
    validate_number("season", season, MAX_SEASON)
    if episode is None:
        return _fitted(tags, lambda t: _dotted(t, f"S{season:02d}"))
    episode_token = _episode_token(season, episode, last_episode)
    if absolute is not None:
        _check_absolute(absolute, episode, last_episode)
    if absolute is None or not anime:
        return _fitted(tags, lambda t: _dotted(t, episode_token))
    return _fitted(tags, lambda t: _anime(t, absolute, episode_token))


def _anime_numbering_fits(episode: int | None, absolute: int | None) -> bool:
    """Whether Sonarr's "[Group] Title - 005 (S01E05)" regex can read both numbers."""
    if not isinstance(episode, int) or not isinstance(absolute, int):
        return False
    return episode <= 99 and absolute <= 999


def _check_absolute(absolute: int, episode: int, last_episode: int | None) -> None:
    if last_episode not in (None, episode):
        raise ValueError("absolute numbering names a single episode; drop last_episode")
    if validate_number("absolute", absolute, MAX_EPISODE) < 1:
        raise ValueError(f"absolute {absolute} is out of range (1..{MAX_EPISODE})")


def _refuse_episode_numbers_for_movie(episode: int | None, absolute: int | None) -> None:
    if episode is not None or absolute is not None:
        raise ValueError("an episode or absolute number needs a season (season 0 for specials)")


def _year_token(year: int | None) -> str | None:
    if year is None:
        return None
    if isinstance(year, bool) or not isinstance(year, int) or not 1880 <= year <= 2199:
        raise ValueError(f"year {year!r} is not a plausible release year")
    return str(year)


def _episode_token(season: int, episode: int, last_episode: int | None) -> str:
    validate_number("episode", episode, MAX_EPISODE)
    token = f"S{season:02d}E{episode:02d}"
    if last_episode is None or last_episode == episode:
        return token
    validate_number("last_episode", last_episode, MAX_EPISODE)
    if last_episode < episode:
        raise ValueError(f"last_episode {last_episode} is before episode {episode}")
    return f"{token}-E{last_episode:02d}"


def _dotted(tags: _Tags, numbering: str | None) -> str:
    parts = [*tags.words, *([numbering] if numbering else []), *tags.quality, *tags.language]
    if tags.strm:
        parts.append(STRM_MARKER)
    return ".".join(parts) + f"-{tags.group}"


def _anime(tags: _Tags, absolute: int, episode_token: str) -> str:
    details = " ".join([*tags.language, *tags.quality])
    name = f"[{tags.group}] {' '.join(tags.words)} - {absolute:03d} ({episode_token}) [{details}]"
    return f"{name} {STRM_MARKER}" if tags.strm else name


def _fitted(tags: _Tags, render: Callable[[_Tags], str]) -> str:
    """The rendered name, dropping trailing title words until it fits MAX_NAME_LENGTH."""
    name = render(tags)
    while len(name) > MAX_NAME_LENGTH and len(tags.words) > 1:
        tags = _Tags(tags.words[:-1], tags.language, tags.quality, tags.group, tags.strm)
        name = render(tags)
    return name
