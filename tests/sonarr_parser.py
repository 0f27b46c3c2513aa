# Sonarr's regexes stay on one line each so they can be compared with the C# source.
# ruff: noqa: E501
"""A Python port of the parts of Sonarr's release-title parser that AniBridge names must pass.

Ported from Sonarr v4 (github.com/Sonarr/Sonarr, `src/NzbDrone.Core/Parser/`):

- `Parser.cs`: `ReportTitleRegex` (all of it, in order, because an earlier regex that
  matches wins), `SimpleTitleRegex`, `SixDigitAirDateRegex`, `CleanQualityBracketsRegex`,
  `RejectHashedReleasesRegexes`, `SeasonFolderRegexes`, `ReversedTitleRegex`,
  `RequestInfoRegex`, and the logic of `ParseTitle` / `ParseMatchCollection`;
- `ParserCommon.cs`: `WebsitePrefixRegex`, `WebsitePostfixRegex`, `CleanTorrentSuffixRegex`
  and the non-CJK `PreSubstitutionRegex` entries;
- `QualityParser.cs`: `SourceRegex`, `ResolutionRegex`, `RawHDRegex`, `MPEG2Regex`,
  `CodecRegex`, `RemuxRegex`, `AnimeBlurayRegex`, `AnimeWebDlRegex`, `HighDefPdtvRegex`,
  `OtherSourceRegex` and `ParseQualityName`;
- `LanguageParser.cs`: `LanguagesOnlyRegex`, `LanguageRegex` (the "followed by SUB" drop
  rule), `CaseSensitiveLanguageRegex`, `GermanDualLanguageRegex`, `GermanMultiLanguageRegex`,
  `CleanSeriesTitleRegex` and `ParseLanguages`;
- `ReleaseGroupParser.cs`: `ReleaseGroupRegex`, `InvalidReleaseGroupRegex`,
  `AnimeReleaseGroupRegex`, the exception lists and `CleanReleaseGroupRegex`.

Movies are Radarr's job; `parse_movie_title` ports only Radarr's "Normal movie format"
regex (`src/NzbDrone.Core/Parser/Parser.cs` in Radarr/Radarr).

The patterns are written as in the C# source and converted by `_net()`:

- `(?<name>...)` becomes `(?P<name>...)`; .NET allows one name several times, Python
  does not, so later uses become `name__2`, `name__3`, ... and `_captures()` reads them
  back in pattern order (.NET's `Group.Captures`);
- .NET allows variable-width look-behinds, Python does not. The few that Sonarr uses are
  rewritten to fixed-width equivalents (`(?<!\\d+)` is exactly `(?<!\\d)`), or, for
  `(?<!\\d+\\W+)` and `(?<!\\b[0]\\d+)`, approximated up to 3 separators / 5 digits;
- Python keeps only the last capture of a repeated group where .NET keeps all.
  `ParseMatchCollection` reads the first and last capture; the ranges AniBridge emits
  (`S01E05-E06`) use two separate groups, so this does not affect our names.

Not ported: the CJK pre-substitutions (our names are ASCII), daily-show air-date details
beyond "is it a valid date", quality revisions (PROPER/REPACK) and hash detection.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

_I = re.IGNORECASE

# (.NET look-behind, Python replacement) applied verbatim by _net().
_ZERO_NUMBER_BEFORE = r"(?<!\b0\d)(?<!\b0\d\d)(?<!\b0\d\d\d)(?<!\b0\d\d\d\d)"
_LOOKBEHIND_REWRITES: tuple[tuple[str, str], ...] = (
    (r"(?<!\d+|\(|\[|e|x)", r"(?<![\d(\[ex])"),
    (r"(?<![-_. ]|\b[0]\d+)", r"(?<![-_. ])" + _ZERO_NUMBER_BEFORE),
    (r"(?<!\b[0]\d+)", _ZERO_NUMBER_BEFORE),
    (r"(?<!\d+\W+)", r"(?<!\d\W)(?<!\d\W\W)(?<!\d\W\W\W)"),
    (r"(?<![()\[!]|\d{1,2}-)", r"(?<![()\[!])(?<!\d-)"),
    (r"(?<!\d{1,2}-)", r"(?<!\d-)"),
    (r"(?<!\d+)", r"(?<!\d)"),
    (r"(?<!WEB[-_. ]?)", r"(?<!WEB)(?<!WEB[-_. ])"),
)
_NET_NAMED_GROUP = re.compile(r"\(\?<([A-Za-z_][A-Za-z0-9_]*)>")
_NET_BACKREFERENCE = re.compile(r"\\k<([A-Za-z_][A-Za-z0-9_]*)>")


def _net(pattern: str) -> str:
    """Translate a .NET pattern from Sonarr's source into Python `re` syntax."""
    for dotnet, python in _LOOKBEHIND_REWRITES:
        pattern = pattern.replace(dotnet, python)
    seen: dict[str, int] = {}

    def rename(match: re.Match[str]) -> str:
        name = match[1]
        seen[name] = seen.get(name, 0) + 1
        suffix = "" if seen[name] == 1 else f"__{seen[name]}"
        return f"(?P<{name}{suffix}>"

    pattern = _NET_NAMED_GROUP.sub(rename, pattern)
    return _NET_BACKREFERENCE.sub(lambda m: f"(?P={m[1]})", pattern)


def _rx(pattern: str, flags: int = _I) -> re.Pattern[str]:
    return re.compile(_net(pattern), flags)


# --- Parser.cs: ReportTitleRegex, in Sonarr's order ------------------------------------
_REPORT_TITLE_PATTERNS: tuple[str, ...] = (
    # Daily episode with year in series title and air time after date (Plex DVR format)
    r"^^(?<title>.+?\((?<titleyear>\d{4})\))[-_. ]+(?<airyear>19[4-9]\d|20\d\d)(?<sep>[-_]?)(?<airmonth>0\d|1[0-2])\k<sep>(?<airday>[0-2]\d|3[01])[-_. ]\d{2}[-_. ]\d{2}[-_. ]\d{2}",
    # Daily episodes without title (2018-10-12, 20181012)
    r"^(?<airyear>19[6-9]\d|20\d\d)(?<sep>[-_]?)(?<airmonth>0\d|1[0-2])\k<sep>(?<airday>[0-2]\d|3[01])(?!\d)",
    # Multi-Part episodes without a title (S01E05.S01E06)
    r"^(?:\W*S(?<season>(?<!\d+)(?:\d{1,2}|\d{4})(?!\d+))(?:e{1,2}(?<episode>\d{1,3}(?!\d+)))+){2,}",
    # Multi-Part episodes without a title (1x05.1x06)
    r"^(?:\W*(?<season>(?<!\d+)(?:\d{1,2}|\d{4})(?!\d+))(?:x{1,2}(?<episode>\d{1,3}(?!\d+)))+){2,}",
    # Episodes without a title, Multi (S01E04E05, 1x04x05, etc)
    r"^(?:S?(?<season>(?<!\d+)(?:\d{1,2}|\d{4})(?!\d+))(?:(?:[-_]|[ex]){1,2}(?<episode>\d{2,3}(?!\d+))){2,})",
    # Split episodes (S01E05a, S01E05b, etc)
    r"^(?<title>.+?)(?:S?(?<season>(?<!\d+)(?:\d{1,2}|\d{4})(?!\d+))(?:(?:[-_ ]?[ex])(?<episode>\d{2,3}(?!\d+))(?<splitepisode>[a-d])(?:[ _.])))",
    # Episodes without a title, Single (S01E05, 1x05)
    r"^(?:S?(?<season>(?<!\d+)(?:\d{1,2}|\d{4})(?!\d+))(?:(?:[-_ ]?[ex])(?<episode>\d{2,3}(?!\d+))))",
    # Anime - [SubGroup] Title Absolute (Season+Episode)
    r"^(?:\[(?<subgroup>.+?)\](?:_|-|\s|\.)?)(?<title>.+?)[-_. ]+(?<absoluteepisode>(?<!\d+)\d{2,3}(\.\d{1,2})?(?!\d+))(?:[-_. ])+\((?:S(?<season>(?<!\d+)\d{1,2}(?!\d+))(?:(?:[ex]|\W[ex]){1,2}(?<episode>\d{2}(?!\d+))))(?:v\d+)?(?:\)(?!\d+)).*?(?<hash>[(\[]\w{8}[)\]])?$",
    # Anime - [SubGroup] Title Absolute - Season+Episode
    r"^(?:\[(?<subgroup>.+?)\](?:_|-|\s|\.)?)(?<title>.+?)[-_. ]+(?<absoluteepisode>(?<!\d+)\d{2,3}(\.\d{1,2})?(?!\d+))(?:[-_. ](?<![()\[!]))+(?:S(?<season>(?<!\d+)\d{1,2}(?!\d+))(?:(?:[ex]|\W[ex]){1,2}(?<episode>\d{2}(?!\d+))))(?:v\d+)?(?:[_. ](?!\d+)).*?(?<hash>[(\[]\w{8}[)\]])?$",
    # Anime - [SubGroup] Title Season+Episode
    r"^(?:\[(?<subgroup>.+?)\](?:_|-|\s|\.)?)(?<title>.+?)(?:[-_\W](?<![()\[!]))+(?:S?(?<season>(?<!\d+)\d{1,2}(?!\d+))(?:(?:[ex]|\W[ex]){1,2}(?<episode>\d{2}(?!\d+)))+)(?:v\d+)?(?:[_. ](?!\d+)).*?(?<hash>[(\[]\w{8}[)\]])?$",
    # Anime - [SubGroup] Title Episode Absolute Episode Number
    r"^(?:\[(?<subgroup>.+?)\][-_. ]?)(?<title>.+?)[-_. ]+?(?:Episode)(?:[-_. ]+(?<absoluteepisode>(?<!\d+)\d{2,3}(\.\d{1,2})?(?!\d+)))+.*?(?<hash>[(\[]\w{8}[)\]])?$",
    # Anime - [SubGroup] Title Absolute Episode Number + Season+Episode
    r"^(?:\[(?<subgroup>.+?)\](?:_|-|\s|\.)?)(?<title>.+?)(?:(?:[-_\W](?<![()\[!]))+(?<absoluteepisode>\d{2,3}(\.\d{1,2})?))+(?:_|-|\s|\.)+(?:S?(?<season>(?<!\d+)\d{1,2}(?!\d+))(?:(?:\-|[ex]|\W[ex]){1,2}(?<episode>\d{2}(?!\d+)))+).*?(?<hash>[(\[]\w{8}[)\]])?(?:$|\.)",
    # Anime - [SubGroup] Title Season+Episode + Absolute Episode Number
    r"^(?:\[(?<subgroup>.+?)\](?:_|-|\s|\.)?)(?<title>.+?)(?:[-_\W](?<![()\[!]))+(?:S?(?<season>(?<!\d+)\d{1,2}(?!\d+))(?:(?:\-|[ex]|\W[ex]){1,2}(?<episode>\d{2}(?!\d+)))+)(?:(?:_|-|\s|\.)+(?<absoluteepisode>(?<!\d+)\d{2,3}(\.\d{1,2})?(?!\d+|\-[a-z])))+.*?(?<hash>[(\[]\w{8}[)\]])?$",
    # Anime - [SubGroup] Title with trailing number Absolute Episode Number - Batch separated with tilde
    r"^\[(?<subgroup>.+?)\][-_. ]?(?<title>.+?[^-]+?)(?:(?<![-_. ]|\b[0]\d+) - )[-_. ]?(?<absoluteepisode>\d{2,3}(\.\d{1,2})?(?!\d+))\s?~\s?(?<absoluteepisode>\d{2,3}(\.\d{1,2})?(?!\d+))(?:[-_. ]+(?<special>special|ova|ovd))?.*?(?<hash>[(\[]\w{8}[)\]])?(?:$|\.mkv)",
    # Anime - [SubGroup] Title with season number in brackets Absolute Episode Number
    r"^\[(?<subgroup>.+?)\][-_. ]?(?<title>[^-]+?)[_. ]+?\(Season[_. ](?<season>\d+)\)[-_. ]+?(?:[-_. ]?(?<absoluteepisode>\d{2,3}(\.\d{1,2})?(?!\d+)))+(?:[-_. ]+(?<special>special|ova|ovd))?.*?(?<hash>[(\[]\w{8}[)\]])?(?:$|\.mkv)",
    # Anime - [SubGroup] Title with trailing 3-digit number and sub title - Absolute Episode Number
    r"^\[(?<subgroup>[^\]]+?)\][-_. ]?(?<title>[^]]+?)(?:[-_. ]{3}?(?<absoluteepisode>\d{2}(\.\d{1,2})?(?!-?\d+|-[a-z]+)))+(?:[-_. ]+(?<special>special|ova|ovd))?.*?(?<hash>[(\[]\w{8}[)\]])?(?:$|\.mkv)",
    # Anime - [SubGroup] Title with trailing number Absolute Episode Number
    r"^\[(?<subgroup>.+?)\][-_. ]?(?<title>[^-]+?)(?:(?<![-_. ]|\b[0]\d+) - )(?:[-_. ]?(?<absoluteepisode>\d{2,3}(\.\d{1,2})?(?!\d+)))+(?:[-_. ]+(?<special>special|ova|ovd))?.*?(?<hash>[(\[]\w{8}[)\]])?(?:$|\.mkv)",
    # Anime - [SubGroup] Title with trailing number S## (Full season)
    r"^\[(?<subgroup>.+?)\][-_. ]?(?<title>.+?)[-_. ]+(?:S(?<season>(?<!\d+)(?:\d{1,2}|\d{4})(?![ex]?\d+))).+?(?:$|\.mkv)",
    # Anime - [SubGroup] Title with trailing number Absolute Episode Number
    r"^\[(?<subgroup>.+?)\][-_. ]?(?<title>[^-]+?)(?:(?<![-_. ]|\b[0]\d+)[_ ]+)(?:[-_. ]?(?<absoluteepisode>\d{3}(\.\d{1,2})?(?!\d+|-[a-z]+)))+(?:[-_. ]+(?<special>special|ova|ovd))?.*?(?<hash>[(\[]\w{8}[)\]])?(?:$|\.mkv)",
    # Anime - [SubGroup] Title - Absolute Episode Number
    r"^\[(?<subgroup>.+?)\][-_. ]?(?<title>.+?)(?:(?<!\b[0]\d+))(?:[. ]-[. ](?<absoluteepisode>\d{2,3}(\.\d{1,2})?(?!\d+|[-])))+(?:[-_. ]+(?<special>special|ova|ovd))?.*?(?<hash>[(\[]\w{8}[)\]])?(?:$|\.mkv)",
    # Anime - [SubGroup] Title Absolute Episode Number - Absolute Episode Number (batches)
    r"^\[(?<subgroup>.+?)\][-_. ]?(?<title>.+?)(?:(?<!\b[0]\d+))(?<absoluteepisode>\d{2,3}(\.\d{1,2})?(?!\d+|[-]))[. ]-[. ](?<absoluteepisode>\d{2,3}(\.\d{1,2})?(?!\d+|[-]))(?:[-_. ]+(?<special>special|ova|ovd))?.*?(?<hash>[(\[]\w{8}[)\]])?(?:$|\.mkv)",
    # Anime - [SubGroup] Title Absolute Episode Number
    r"^\[(?<subgroup>.+?)\][-_. ]?(?<title>.+?)[-_. ]+\(?(?:[-_. ]?#?(?<absoluteepisode>\d{2,3}(\.\d{1,2})?(?!\d+|-[a-z]+)))+\)?(?:[-_. ]+(?<special>special|ova|ovd))?.*?(?<hash>[(\[]\w{8}[)\]])?(?:$|\.mkv)",
    # Multi-episode Repeated (S01E05 - S01E06)
    r"^(?<title>.+?)(?:(?:[-_\W](?<![()\[!]))+S(?<season>(?<!\d+)(?:\d{1,2}|\d{4})(?!\d+))(?:(?:e|[-_. ]e){1,2}(?<episode>\d{1,3}(?!\d+)))+){2,}",
    # Multi-episode Repeated (1x05 - 1x06)
    r"^(?<title>.+?)(?:(?:[-_\W](?<![()\[!]))+(?<season>(?<!\d+)(?:\d{1,2}|\d{4})(?!\d+))(?:x{1,2}(?<episode>\d{1,3}(?!\d+)))+){2,}",
    # Single episodes with a title (S01E05, 1x05, etc) followed by ".5 [SP]"
    r"^(?<title>.+?)(?:(?:[-_\W](?<![()\[!]))+S?(?<season>(?<!\d+)(?:\d{1,2})(?!\d+))(?:[ex]|\W[ex]|_){1,2}(?<episode>\d{2,3}(?!\d+|(?:[ex]|\W[ex]|_|-){1,2}\d+))(?<special>\.5[ .]\[SP\]))",
    # Single episodes with a title (S01E05, 1x05, etc) and trailing info in slashes
    r"^(?<title>.+?)(?:(?:[-_\W](?<![()\[!]))+S?(?<season>(?<!\d+)(?:\d{1,2})(?!\d+))(?:[ex]|\W[ex]|_){1,2}(?<episode>\d{2,3}(?!\d+|(?:[ex]|\W[ex]|_|-){1,2}\d+))).+?(?:\[.+?\])(?!\\)",
    # Anime - Title Season EpisodeNumber + Absolute Episode Number [SubGroup]
    r"^(?<title>.+?)(?:[-_\W](?<![()\[!]))+(?:S?(?<season>(?<!\d+)\d{1,2}(?!\d+))(?:(?:[ex]|\W[ex]|-){1,2}(?<episode>(?<!\d+)\d{2}(?!\d+)))+)[-_. (]+?(?:[-_. ]?(?<absoluteepisode>(?<!\d+)\d{3}(\.\d{1,2})?(?!\d+|[pi])))+.+?\[(?<subgroup>.+?)\](?:$|\.mkv)",
    # Multi-Episode with a title (S01E05E06, S01E05-06, S01E05 E06, etc) and trailing info in slashes
    r"^(?<title>.+?)(?:(?:[-_\W](?<![()\[!]))+S?(?<season>(?<!\d+)(?:\d{1,2})(?!\d+))(?:[ex]|\W[ex]|_){1,2}(?<episode>\d{2,3}(?!\d+))(?:(?:\-|[ex]|\W[ex]|_){1,2}(?<episode>\d{2,3}(?!\d+)))+).+?(?:\[.+?\])(?!\\)",
    # Anime - Title Absolute Episode Number [SubGroup] [Hash]? (Series Title Episode 99-100 [RlsGroup] [ABCD1234])
    r"^(?<title>.+?)[-_. ]Episode(?:[-_. ]+(?<absoluteepisode>\d{2,3}(\.\d{1,2})?(?!\d+)))+(?:.+?)\[(?<subgroup>.+?)\].*?(?<hash>[(\[]\w{8}[)\]])?$",
    # Anime - Title Absolute Episode Number [SubGroup] [Hash]
    r"^(?<title>.+?)(?:(?:_|-|\s|\.)+(?<absoluteepisode>\d{3}(\.\d{1,2})(?!\d+)))+(?:.+?)\[(?<subgroup>.+?)\].*?(?<hash>[(\[]\w{8}[)\]])?$",
    # Anime - Title Absolute Episode Number (Year) [SubGroup]
    r"^(?<title>.+?)[-_. ]+(?<absoluteepisode>(?<!\d+)\d{2}(?!\d+))[-_. ](\(\d{4}\))[-_. ]\[(?<subgroup>.+?)\]",
    # Anime - Title with trailing number, Absolute Episode Number and hash
    r"^(?<title>[^-]+?)(?:(?<![-_. ]|\b[0]\d+) - )(?:[-_. ]?(?<absoluteepisode>\d{2,3}(\.\d{1,2})?(?!\d+)))+(?:[-_. ]+(?<special>special|ova|ovd))?.*?(?<hash>[(\[]\w{8}[)\]])(?:$|\.mkv)",
    # Anime - Title Absolute Episode Number [Hash]
    r"^(?<title>.+?)(?:(?:_|-|\s|\.)+(?<absoluteepisode>\d{2,3}(\.\d{1,2})?(?!\d+)))+(?:[-_. ]+(?<special>special|ova|ovd))?[-_. ]+.*?(?<hash>[(\[]\w{8}[)\]])$",
    # Episodes with airdate AND season/episode number, capture season/episode only
    r"^(?<title>.+?)?\W*(?<airdate>\d{4}\W+[0-1][0-9]\W+[0-3][0-9])(?!\W+[0-3][0-9])[-_. ](?:s?(?<season>(?<!\d+)(?:\d{1,2})(?!\d+)))(?:[ex](?<episode>(?<!\d+)(?:\d{1,3})(?!\d+)))",
    # Episodes with airdate AND season/episode number
    r"^(?<title>.+?)?\W*(?<airyear>\d{4})\W+(?<airmonth>[0-1][0-9])\W+(?<airday>[0-3][0-9])(?!\W+[0-3][0-9]).+?(?:s?(?<season>(?<!\d+)(?:\d{1,2})(?!\d+)))(?:[ex](?<episode>(?<!\d+)(?:\d{1,3})(?!\d+)))",
    # Episodes with absolute episode number AND airdate (TJET Wrestling)
    r"^(?<title>.+?)?[-_. ](?:e\d{2,3}(?!\d+))[-_. ](?<airyear>\d{4})\W+(?<airmonth>[0-1][0-9])\W+(?<airday>[0-3][0-9])(?!\W+[0-3][0-9]).+?(?:\[[a-z]+\])",
    # Single or multi episode releases with multiple titles, then season and episode numbers after the last title
    r"^((?<title>.*?)[ ._]\/[ ._])+\(?S(?<season>(?<!\d+)\d{1,2}(?!\d+))(?:\W|_)?E?[ ._]?(?<episode>(?<!\d+)\d{1,2}(?!\d+))(?:-(?<episode>(?<!\d+)\d{1,2}(?!\d+)))?(?:[ ._]of[ ._](?<episodecount>\d{1,2}))?\)?[ ._][\(\[]",
    # Multi-episode with title (S01E99-100, S01E05-06)
    r"^(?<title>.+?)(?:[-_\W](?<![()\[!]))+S(?<season>(?<!\d+)(?:\d{1,2})(?!\d+))E(?<episode>\d{2,3}(?!\d+))(?:-(?<episode>\d{2,3}(?!\d+)))+(?:[-_. ]|$)",
    # Multi-episode with title (S01E05-06, S01E05-6)
    r"^(?<title>.+?)(?:[-_\W](?<![()\[!]))+S(?<season>(?<!\d+)(?:\d{1,2})(?!\d+))E(?<episode>\d{1,2}(?!\d+))(?:-(?<episode>\d{1,2}(?!\d+)))+(?:[-_. ]|$)",
    # Episodes with a Chinese title and English title
    r"^(?<title>[\u4E00-\u9FCC]+)[_. ](?<title>.+?)(?:(?:[-_\W](?<![()\[!]))+S?(?<season>(?<!\d+)(?:\d{1,2})(?!\d+))(?:[ex]|\W[ex]){1,2}(?<episode>\d{2,3}(?!\d+))(?:(?:\-|[ex]|\W[ex]|_){1,2}(?<episode>\d{2,3}(?!\d+)))*)(?:[-_. ]|$)",
    # Episodes with a title, Single episodes (S01E05, 1x05, etc) & Multi-episode (S01E05E06, S01E05-06, S01E05 E06, etc)
    r"^(?<title>.+?)(?:(?:[-_\W](?<![()\[!]))+S?(?<season>(?<!\d+)(?:\d{1,2})(?!\d+))(?:[ex]|\W[ex]){1,2}(?<episode>\d{2,3}(?!\d+))(?:(?:\-|[ex]|\W[ex]|_){1,2}(?<episode>\d{2,3}(?!\d+)))*)(?:[-_. ]|$)",
    # Episodes with a title, 4 digit season number (S2016E05, etc)
    r"^(?<title>.+?)(?:(?:[-_\W](?<![()\[!]))+S(?<season>(?<!\d+)(?:\d{4})(?!\d+))(?:e|\We|_){1,2}(?<episode>\d{2,4}(?!\d+))(?:(?:\-|e|\We|_){1,2}(?<episode>\d{2,3}(?!\d+)))*)\W?(?!\\)",
    # Episodes with a title, 4 digit season number (2016x05, etc)
    r"^(?<title>.+?)(?:(?:[-_\W](?<![()\[!]))+(?<season>(?<!\d+)(?:\d{4})(?!\d+))(?:x|\Wx){1,2}(?<episode>\d{2,4}(?!\d+))(?:(?:\-|x|\Wx|_){1,2}(?<episode>\d{2,3}(?!\d+)))*)\W?(?!\\)",
    # Episodes with a title, Single episodes (s01.05)
    r"^(?<title>.+?)(?:[-_\W](?<![()\[!]))+S(?<season>(?<!\d+)(?:\d{2})(?!\d+))(?:\.)(?<episode>\d{2,3}(?!\d+))(?:[-_. ]|$)",
    # Multi-season pack
    r"^(?<title>.+?)(Complete Series)?[-_. ]+(?:S|(?:Season|Saison|Series|Stagione)[_. ])(?<season>(?<!\d+)(?:\d{1,2})(?!\d+))(?:[-_. ]{1}|[-_. ]{3})(?:S|(?:Season|Saison|Series|Stagione)[_. ])?(?<season>(?<!\d+)(?:\d{1,2})(?!\d+))",
    # Partial season pack
    r"^(?<title>.+?)(?:\W+S(?<season>(?<!\d+)(?:\d{1,2})(?!\d+))\W+(?:(?:(?:Part|Vol)\W?|(?<!\d+\W+)e|p)(?<seasonpart>\d{1,2}(?!\d+)))+)",
    # Anime - 4 digit absolute episode number in batch (1017-1088) or 1017-1088
    r"^(?:\[(?<subgroup>.+?)\][-_. ]?)(?<title>.+?)[-_. ]+?\(?(?<absoluteepisode>\d{4}(\.\d{1,2})?(?!\d+))[-](?<absoluteepisode>\d{4}(\.\d{1,2})?(?!\d+))\)?",
    # Anime - 4 digit absolute episode number
    r"^(?:\[(?<subgroup>.+?)\][-_. ]?)(?<title>.+?)[-_. ]+?(?<absoluteepisode>\d{4}(\.\d{1,2})?(?!\d+))",
    # Anime - Title 4-digit Absolute Episode Number [SubGroup]
    r"^(?<title>.+?)[-_. ]+(?<absoluteepisode>(?<!\d+)\d{4}(?!\d+))[-_. ]\[(?<subgroup>.+?)\]",
    # Mini-Series with year in title, treated as season 1, episodes are labelled as Part01, Part 01, Part.1
    r"^(?<title>.+?\d{4})(?:\W+(?:(?:Part\W?|e)(?<episode>\d{1,2}(?!\d+)))+)",
    # Mini-Series, treated as season 1, multi episodes are labelled as E1-E2
    r"^(?<title>.+?)(?:[-._ ][e])(?<episode>\d{2,3}(?!\d+))(?:(?:\-?[e])(?<episode>\d{2,3}(?!\d+)))+",
    # Episodes with airdate and part (2018.04.28.Part.2)
    r"^(?<title>.+?)?\W*(?<airyear>\d{4})[-_. ]+(?<airmonth>[0-1][0-9])[-_. ]+(?<airday>[0-3][0-9])(?![-_. ]+[0-3][0-9])[-_. ]+Part[-_. ]?(?<part>[1-9])",
    # 3-digit season number: Title.S001E01, Title.S001E01-E02
    r"^(?<title>.+?)[-_. ]+S(?<season>(?<!\d+)\d{3}(?!\d+))E(?<episode>(?<!\d+)\d{2}(?!\d+))(?:-[ex](?<episode>(?<!\d+)\d{2}(?!\d+)))?([_. ]|$)(?!\\)",
    # Mini-Series, treated as season 1, episodes are labelled as Part01, Part 01, Part.1
    r"^(?<title>.+?)(?:\W+(?:(?:(?<!\()Part\W?|(?<!\d+\W+)e)(?<episode>\d{1,2}(?!\d+|\))))+)",
    # Mini-Series, treated as season 1, episodes are labelled as Part One/Two/Three/...Nine
    r"^(?<title>.+?)(?:\W+(?:Part[-._ ](?<episode>One|Two|Three|Four|Five|Six|Seven|Eight|Nine)(?>[-._ ])))",
    # Mini-Series, treated as season 1, episodes are labelled as XofY
    r"^(?<title>.+?)(?:\W+(?:(?<episode>(?<!\d+)\d{1,2}(?!\d+))of\d+)+)",
    # Supports Season 01 Episode 03
    r'(?:.*(?:"|^))(?<title>.*?)(?:[-_\W](?<![()\[]))+(?:\W?Season\W?)(?<season>(?<!\d+)\d{1,2}(?!\d+))(?:\W|_)+(?:Episode\W)(?:[-_. ]?(?<episode>(?<!\d+)\d{1,2}(?!\d+)))+',
    # Multi-episode with episodes in square brackets (Series Title [S01E11E12] or Series Title [S01E11-12])
    r"(?:.*(?:^))(?<title>.*?)[-._ ]+\[S(?<season>(?<!\d+)\d{2}(?!\d+))(?:[E-]{1,2}(?<episode>(?<!\d+)\d{2}(?!\d+)))+\]",
    # Multi-episode with episodes in brackets (Series Title (S01E11E12) or (S01E1-3 of 12))
    r"(?:.*(?:^))(?<title>.*?)[-._ ]+\(S(?<season>(?<!\d+)\d{2}(?!\d+))(?:[E-]{1,2}(?<episode>(?<!\d+)\d{1,2}(?!\d+)))+([._ ]+of[._ ]+[\dx]+)?\)",
    # Multi-episode release with no space between series title and season (S01E11E12)
    r"(?:.*(?:^))(?<title>.*?)S(?<season>(?<!\d+)\d{2}(?!\d+))(?:E(?<episode>(?<!\d+)\d{2}(?!\d+)))+",
    # Multi-episode with single episode numbers (S6.E1-E2, S6.E1E2, S6E1E2, etc)
    r"^(?<title>.+?)[-_. ]S(?<season>(?<!\d+)(?:\d{1,2}|\d{4})(?!\d+))(?:[-_. ]?[ex]?(?<episode>(?<!\d+)\d{1,2}(?!\d+)))+",
    # Single or multi episode releases with multiple titles, each followed by season and episode numbers in brackets
    r"^(?<title>.*?)[ ._]\(S(?<season>(?<!\d+)\d{1,2}(?!\d+))(?:\W|_)?E?[ ._]?(?<episode>(?<!\d+)\d{1,2}(?!\d+))(?:-(?<episode>(?<!\d+)\d{1,2}(?!\d+)))?\)(?:[ ._]\/[ ._])(?<title>.*?)[ ._]\(",
    # Multi-episode with episodes in brackets (Series Title (S1E11-12) or (S1E1-3 of 12))
    r"(?:.*(?:^))(?<title>.*?)[-._ ]+\(S(?<season>(?<!\d+)\d{1}(?!\d+))(?:[E-]{1,2}(?<episode>(?<!\d+)\d{1,2}(?!\d+)))+([._ ]+of[._ ]+[\dx]+)?\)",
    # Single episode season or episode S1E1 or S1-E1 or S1.Ep1 or S01.Ep.01
    r'(?:.*(?:"|^))(?<title>.*?)(?:\W?|_)S(?<season>(?<!\d+)\d{1,2}(?!\d+))(?:\W|_)?Ep?[ ._]?(?<episode>(?<!\d+)\d{1,2}(?!\d+))',
    # 3 digit season S010E05
    r'(?:.*(?:"|^))(?<title>.*?)(?:\W?|_)S(?<season>(?<!\d+)\d{3}(?!\d+))(?:\W|_)?E(?<episode>(?<!\d+)\d{1,2}(?!\d+))',
    # 5 digit episode number with a title
    r"^(?:(?<title>.+?)(?:_|-|\s|\.)+)(?:S?(?<season>(?<!\d+)\d{1,2}(?!\d+)))(?:(?:\-|[ex]|\W[ex]|_){1,2}(?<episode>(?<!\d+)\d{5}(?!\d+)))",
    # 5 digit multi-episode with a title
    r"^(?:(?<title>.+?)(?:_|-|\s|\.)+)(?:S?(?<season>(?<!\d+)\d{1,2}(?!\d+)))(?:(?:[-_. ]{1,3}ep){1,2}(?<episode>(?<!\d+)\d{5}(?!\d+)))+",
    # Separated season and episode numbers S01 - E01
    r"^(?<title>.+?)(?:_|-|\s|\.)+S(?<season>\d{2}(?!\d+))(\W-\W)E(?<episode>(?<!\d+)\d{2}(?!\d+))(?!\\)",
    # Season and episode numbers in square brackets (Series Title - [02x01] - Episode 1)
    r"^(?<title>.+?)?(?:[-_\W](?<![()\[!]))+\[(?:s)?(?<season>(?<!\d+)\d{1,2})(?:(?:[ex])(?<episode>\d{2}))(?:(?:[-ex]){1,2}(?<episode>\d{2}))*\].+?(?:\.|$)",
    # Anime - Title with season number - Absolute Episode Number (Title S01 - EP14)
    r"^(?<title>.+?S\d{1,2})[-_. ]{3,}(?:EP)?(?<absoluteepisode>\d{2,3}(\.\d{1,2})?(?!\d+|[-]))",
    # Anime - French titles with single episode numbers ([RlsGroup] Title - Episode 1)
    r"^(?:\[(?<subgroup>.+?)\][-_. ]?)?(?<title>.+?)[-_. ]+?(?:Episode[-_. ]+?)(?<absoluteepisode>\d{1}(\.\d{1,2})?(?!\d+))",
    # Anime - Absolute episode number in square brackets
    r"^(?:\[(?<subgroup>.+?)\][-_. ]?)(?<title>.+?)[-_. ]+?\[(?<absoluteepisode>\d{2,3}(\.\d{1,2})?(?!\d+))\]",
    # Japanese variety shows with leading date
    r"^(?<airyear>\d{2})(?<airmonth>[0-1][0-9])(?<airday>[0-3][0-9])(?![-_. ]+[0-3][0-9])[-_. ](?<title>.+?)[-_. ](?:Season[-_. ]?(?<season>\d{1,2})[-_. ])?(?:ep|#)(?<episode>\d{2,3})",
    # Season only releases followed by year
    r"^(?<title>.+?)[-_. ]+?(?:S|Season|Saison|Series|Stagione)[-_. ]?(?<season>\d{1,2}(?=[-_. ]\d{4}[-_. ]+))(?<extras>EXTRAS|SUBPACK)?(?!\\)",
    # Season only releases
    r"^(?<title>.+?)[-_. ]+?(?:S|Season|Saison|Series|Stagione)[-_. ]?(?<season>\d{1,2}(?![-_. ]?\d+))(?:[-_. ]|$)+(?<extras>EXTRAS|SUBPACK)?(?!\\)",
    # 4 digit season only releases
    r"^(?<title>.+?)[-_. ]+?(?:S|Season|Saison|Series|Stagione)[-_. ]?(?<season>\d{4}(?![-_. ]?\d+))(\W+|_|$)(?<extras>EXTRAS|SUBPACK)?(?!\\)",
    # Spanish tracker releases
    r"^(?<title>.+?)(?:(?:[-_. ]+?Temporada.+?|\[.+?\])\[Cap)(?:[-_. ]+(?<season>(?<!\d+)\d{1,2})(?<episode>(?<!e|x)(?:[1-9][0-9]|[0][1-9])))+(?:\])",
    # Supports 103/113 naming
    r"^(?<title>.+?)?(?:(?:[_.-](?<![()\[!]))+(?<season>(?<!\d+)[1-9])(?<episode>[1-9][0-9]|[0][1-9])(?![a-z]|\d+))+(?:[_.]|$)",
    # 4 digit episode number, Episodes without a title
    r"^(?:S?(?<season>(?<!\d+)\d{1,2}(?!\d+))(?:(?:\-|[ex]|\W[ex]|_){1,2}(?<episode>\d{4}(?!\d+|i|p)))+)(\W+|_|$)(?!\\)",
    # 4 digit episode number, Episodes with a title
    r"^(?<title>.+?)(?:(?:[-_\W](?<![()\[!]|\d{1,2}-))+S?(?<season>(?<!\d+)\d{1,2}(?!\d+))(?:(?:\-|[ex]|\W[ex]|_){1,2}(?<episode>\d{4}(?!\d+|i|p)))+)\W?(?!\\)",
    # Episodes with airdate (2018.04.28)
    r"^(?<title>.+?)?\W*(?<airyear>\d{4})[-_. ]+(?<airmonth>[0-1][0-9])[-_. ]+(?<airday>[0-3][0-9])(?![-_. ]+[0-3][0-9])",
    # Turkish tracker releases (01 BLM, 3. Blm, 04.Bolum, etc)
    r"^(?<title>.+?)[_. ](?<absoluteepisode>\d{1,4})(?:[_. ]+)(?:BLM|B[oö]l[uü]m)",
    # Episodes with airdate (04.28.2018)
    r"^(?<title>.+?)?\W*(?<ambiguousairmonth>[0-1][0-9])[-_. ]+(?<ambiguousairday>[0-3][0-9])[-_. ]+(?<airyear>\d{4})(?!\d+)",
    # Episodes with airdate (28.04.2018)
    r"^(?<title>.+?)?\W*(?<ambiguousairday>[0-3][0-9])[-_. ]+(?<ambiguousairmonth>[0-1][0-9])[-_. ]+(?<airyear>\d{4})(?!\d+)",
    # Episodes with airdate (20180428)
    r"^(?<title>.+?)?\W*(?<!\d+)(?<airyear>\d{4})(?<airmonth>[0-1][0-9])(?<airday>[0-3][0-9])(?!\d+)",
    # Anime - Title Absolute Episode Number (E195 or E1206)
    r"^(?:\[(?<subgroup>.+?)\][-_. ]?)?(?<title>.+?)(?:(?:_|-|\s|\.)+(?:e|ep)(?<absoluteepisode>(\d{3}|\d{4})(\.\d{1,2})?))+[-_. ].*?(?<hash>[(\[]\w{8}[)\]])?$",
    # Daily episodes that use short month format instead of number
    r"^(?<title>.+?)[-_. ]+(?<airday>[1-2]\d|3[01]|[1-9])(?:th|st|rd)[-_. ](?<shortairmonth>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[-_. ](?<airyear>19[4-9]\d|20\d\d)",
    # Supports 1103/1113 naming
    r"^(?<title>.+?)?(?:(?:[-_. ](?<![()\[!]))*(?<!\d{1,2}-)(?<season>(?<!\d+|\(|\[|e|x)\d{2})(?<episode>(?<!e|x)(?:[1-9][0-9]|[0][1-9])(?!p|i|\d+|\)|\]|\W\d+|\W(?:e|ep|x)\d+)))+([-_. ]+|$)(?!\\)",
    # Dutch/Flemish release titles
    r"^(?<title>.+?)[-_. ](?:Se\.(?<season>(?<!\d+)(?:\d{1,2}|\d{4})(?!\d+))(?:(?:[-_ ]?afl\.)(?<episode>\d{1,3}(?!\d+))(?:(?:[-]|[-_ ]en[-_ ])(?<episode>\d{1,3}(?!\d+)))*))",
    # Episodes with single digit episode number (S01E1, S01E5E6, etc)
    r"^(?<title>.*?)(?:(?:[-_\W](?<![()\[!]))+S?(?<season>(?<!\d+)\d{1,2}(?!\d+))(?:(?:\-|[ex]){1,2}(?<episode>\d{1}))+)+(\W+|_|$)(?!\\)",
    # iTunes Season 1\05 Title (Quality).ext
    r"^(?:Season(?:_|-|\s|\.)(?<season>(?<!\d+)\d{1,2}(?!\d+)))(?:_|-|\s|\.)(?<episode>(?<!\d+)\d{1,2}(?!\d+))",
    # iTunes 1-05 Title (Quality).ext
    r"^(?:(?<season>(?<!\d+)(?:\d{1,2})(?!\d+))(?:-(?<episode>\d{2,3}(?!\d+))))",
    # Anime Range - Title Absolute Episode Number (ep01-12)
    r"^(?:\[(?<subgroup>.+?)\][-_. ]?)?(?<title>.+?)(?:_|\s|\.)+(?:e|ep)(?<absoluteepisode>\d{2,3}(\.\d{1,2})?)-(?<absoluteepisode>(?<!\d+)\d{1,2}(\.\d{1,2})?(?!\d+|-)).*?(?<hash>[(\[]\w{8}[)\]])?$",
    # Anime - Title Absolute Episode Number (e66)
    r"^(?:\[(?<subgroup>.+?)\][-_. ]?)?(?<title>.+?)(?:(?:_|-|\s|\.)+(?:e|ep)(?<absoluteepisode>\d{2,4}(\.\d{1,2})?))+[-_. ].*?(?<hash>[(\[]\w{8}[)\]])?$",
    # Anime - Title Episode Absolute Episode Number (Series Title Episode 01)
    r"^(?<title>.+?)[-_. ](?:Episode)(?:[-_. ]+(?<absoluteepisode>(?<!\d+)\d{2,3}(\.\d{1,2})?(?!\d+)))+.*?(?<hash>[(\[]\w{8}[)\]])?$",
    # Anime Range - Title Absolute Episode Number (1 or 2 digit absolute episode numbers in a range, 1-10)
    r"^(?:\[(?<subgroup>.+?)\][-_. ]?)?(?<title>.+?)[_. ]+(?<absoluteepisode>(?<!\d+)\d{1,2}(\.\d{1,2})?(?!\d+))-(?<absoluteepisode>(?<!\d+)\d{1,2}(\.\d{1,2})?(?!\d+|-)).*?(?<hash>[(\[]\w{8}[)\]])?$",
    # Anime - Title Episode/Episodio Absolute Episode Number
    r"^(?:\[(?<subgroup>.+?)\][-_. ]?)?(?<title>.+?)[-_. ]+(?:Episode|Episodio)(?:[-_. ]+(?<absoluteepisode>(?<!\d+)\d{2,4}(\.\d{1,2})?(?!\d+|[ip])))+.*?(?<hash>[(\[]\w{8}[)\]])?$",
    # Anime - Title [Absolute Episode Number] from AniLibriaTV
    r"^(?:\[(?<subgroup>.+?)\][-_. ]?)?(?<title>.+?)(?:[-_. ]\[)(?:(?:-?)(?<absoluteepisode>(?<!\d+)\d{2,3}(\.\d{1,2})?(?!\d+|[ip])))+(?:\][-_. ]).*?(?<hash>[(\[]\w{8}[)\]])?$",
    # Simple season releases in the format 'Series (year) - Temporada season'
    r"^(?<title>.+?)[_. ]-[_. ](?:Temporada)[-_. ]?(?<season>\d{1,2}(?![_. ]?\d+))(?:[_. ]|$)+(?<extras>EXTRAS|SUBPACK)?(?!\\)",
    # Anime - Title Absolute Episode Number
    r"^(?:\[(?<subgroup>.+?)\][-_. ]?)?(?<title>.+?)(?:[-_. ]+(?<absoluteepisode>(?<!\d+)\d{2,4}(\.\d{1,2})?(?!\d+|[ip])))+.*?(?<hash>[(\[]\w{8}[)\]])?$",
    # Anime - Title {Absolute Episode Number}
    r"^(?:\[(?<subgroup>.+?)\][-_. ]?)?(?<title>.+?)(?:(?:[-_\W](?<![()\[!]))+(?<absoluteepisode>(?<!\d+)\d{2,3}(\.\d{1,2})?(?!\d+|[ip])))+.*?(?<hash>[(\[]\w{8}[)\]])?$",
    # Extant, terrible multi-episode naming (extant.10708.hdtv-lol.mp4)
    r"^(?<title>.+?)[-_. ](?<season>[0]?\d?)(?:(?<episode>\d{2}){2}(?!\d+))[-_. ]",
    # Season only releases for poorly named anime
    r"^(?:\[(?<subgroup>.+?)\][-_. ])?(?<title>.+?)[-_. ]+?[\[(](?:S|Season|Saison|Series|Stagione)[-_. ]?(?<season>\d{1,2}(?![-_. ]?\d+))(?:[-_. )\]]|$)+(?<extras>EXTRAS|SUBPACK)?(?!\\)",
    # Episodes without a title, Single episode numbers (S1E1, 1x1)
    r"^(?:S?(?<season>(?<!\d+)(?:\d{1,2}|\d{4})(?!\d+))(?:(?:[-_ ]?[ex])(?<episode>\d{1}(?!\d+))))",
    # Anime OVA special
    r"^\[(?<subgroup>.+?)\][-_. ]?(?<title>.+?)(?:[-_. ]+(?<special>special|ova|ovd)).*?(?<hash>[(\[]\w{8}[)\]])?(?:$|\.mkv)",
)
REPORT_TITLE_REGEXES: tuple[re.Pattern[str], ...] = tuple(
    _rx(pattern) for pattern in _REPORT_TITLE_PATTERNS
)

# --- Parser.cs / ParserCommon.cs: clean-up before matching -----------------------------
_REJECT_HASHED_RELEASES = tuple(
    re.compile(pattern, flags)
    for pattern, flags in (
        (r"^[0-9a-zA-Z]{32}", 0),
        (r"^[a-z0-9]{24}$", 0),
        (r"^[A-Z]{11}\d{3}$", 0),
        (r"^[a-z]{12}\d{3}$", 0),
        (r"^Backup_\d{5,}S\d{2}-\d{2}$", 0),
        (r"^123$", 0),
        (r"^abc$", _I),
        (r"^abc[-_. ]xyz", _I),
        (r"^b00bs$", _I),
        (r"^\d{6}_\d{2}$", 0),
        (r"^[0-9a-zA-Z]{30}", 0),
        (r"^[0-9a-zA-Z]{26}", 0),
        (r"^[0-9a-zA-Z]{39}", 0),
        (r"^[0-9a-zA-Z]{24}", 0),
    )
)
_SEASON_FOLDER = re.compile(r"^(Season[ ._-]*\d+|Specials)$")
_REVERSED_TITLE = re.compile(r"(?:^|[-._ ])(p027|p0801|\d{2,3}E\d{2}S)[-._ ]")
_SIMPLE_TITLE = _rx(
    r"(?:(480|540|576|720|1080|1440|2160)[ip]|[xh][\W_]?26[45]|DD\W?5\W1|[<>?*]|848x480|1280x720|1920x1080|3840x2160|4096x2160|(?<![a-f0-9])(8|10)[ -]?(b(?![a-z0-9])|bit))\s*?"
)
_SIX_DIGIT_AIR_DATE = _rx(
    r"(?<=[_.-])(?<airdate>(?<!\d)(?<airyear>[1-9]\d{1})(?<airmonth>[0-1][0-9])(?<airday>[0-3][0-9]))(?=[_.-])"
)
_CLEAN_QUALITY_BRACKETS = re.compile(r"\[[a-z0-9 ._-]+\]$", _I)
_REQUEST_INFO = re.compile(r"^(?:\[.+?\])+")
# ParserCommon.cs; the CJK pre-substitutions are left out (AniBridge names are ASCII).
_PRE_SUBSTITUTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\.E(\d{2,4})\.\d{6}$"), r".S01E\1."),
    (
        _rx(r"^(?<title>.+?(?=[ ._-]\()).+?\((?<year>\d{4})\/(?<info>S[^\/]+)", 0),
        r"\g<title> (\g<year>) - \g<info> ",
    ),
)
_WEBSITE_PREFIX = _rx(
    r"^(?:(?:\[|\()\s*)?(?:www\.)?[-a-z0-9-]{1,256}\.(?<!Naruto-Kun\.)(?:[a-z]{2,6}\.[a-z]{2,6}|xn--[a-z0-9-]{4,}|[a-z]{2,})\b(?:\s*(?:\]|\))|[ -]{2,})[ -]*"
)
_WEBSITE_POSTFIX = re.compile(
    r"(?:\[\s*)?(?:www\.)?[-a-z0-9-]{1,256}\.(?:xn--[a-z0-9-]{4,}|[a-z]{2,6})\b(?:\s*\])$", _I
)
_CLEAN_TORRENT_SUFFIX = re.compile(r"\[(?:ettv|rartv|rarbg|cttv|publichd)\]$", _I)

# MediaFiles/FileExtensions.cs: extensions RemoveFileExtension strips (a representative
# subset of Sonarr's media list, plus .par2/.nzb), with the quality GetQualityForExtension gives.
_MEDIA_EXTENSION_QUALITY: dict[str, str] = {
    ".strm": "SDTV",
    ".avi": "SDTV",
    ".mpg": "SDTV",
    ".mpeg": "SDTV",
    ".wmv": "SDTV",
    ".ts": "SDTV",
    ".mkv": "HDTV-720p",
    ".mp4": "HDTV-720p",
    ".m4v": "SDTV",
    ".webm": "Unknown",
    ".m2ts": "HDTV-720p",
}
_FILE_EXTENSION = re.compile(r"\.[a-z0-9]{2,4}$", _I)


def remove_file_extension(title: str) -> str:
    """FileExtensions.RemoveFileExtension: drop a known media or usenet extension."""

    def strip(match: re.Match[str]) -> str:
        extension = match[0].lower()
        known = extension in _MEDIA_EXTENSION_QUALITY or extension in (".par2", ".nzb")
        return "" if known else match[0]

    return _FILE_EXTENSION.sub(strip, title)


# --- QualityParser.cs ------------------------------------------------------------------
_SOURCE = re.compile(
    r"""\b(?:
        (?P<bluray>BluRay|Blu-Ray|HD-?DVD|BDMux|BD(?!$))|
        (?P<webdl>WEB[-_. ]DL(?:mux)?|WEBDL|AmazonHD|AmazonSD|iTunesHD|MaxdomeHD|NetflixU?HD|WebHD|HBOMaxHD|DisneyHD|[. ]WEB[. ](?:[xh][ .]?26[45]|AVC|HEVC|DDP?5[. ]1)|[. ](?-i:WEB)$|(?:720|1080|2160)p[-. ]WEB[-. ]|[-. ]WEB[-. ](?:720|1080|2160)p|\b\s\/\sWEB\s\/\s\b|(?:AMZN|NF|DP)[. -]WEB[. -](?!Rip))|
        (?P<webrip>WebRip|Web-Rip|WEBMux)|
        (?P<hdtv>HDTV)|
        (?P<bdrip>BDRip|BDLight)|
        (?P<brrip>BRRip)|
        (?P<dvd>DVD|DVDRip|NTSC|PAL|xvidvd)|
        (?P<dsr>WS[-_. ]DSR|DSR)|
        (?P<pdtv>PDTV)|
        (?P<sdtv>SDTV)|
        (?P<tvrip>TVRip)
        )(?:\b|$|[ .])""",
    _I | re.VERBOSE,
)
_RAW_HD = re.compile(r"\b(?P<rawhd>RawHD|Raw[-_. ]HD)\b", _I)
_MPEG2 = re.compile(r"\b(?P<mpeg2>MPEG[-_. ]?2)\b")
_RESOLUTION = re.compile(
    r"\b(?:(?P<R360p>360p)|(?P<R480p>480p|640x480|848x480)|(?P<R540p>540p)|(?P<R576p>576p)|(?P<R720p>720p|1280x720|960p)|(?P<R1080p>1080p|1920x1080|1440p|FHD|1080i|4kto1080p)|(?P<R2160p>2160p|3840x2160|4k[-_. ](?:UHD|HEVC|BD|H265)|(?:UHD|HEVC|BD|H265)[-_. ]4k))\b",
    _I,
)
_IMPLIED_RESOLUTION = re.compile(r"\b(?P<R2160p>UHD)\b", _I)
_CODEC = re.compile(
    r"\b(?:(?P<x264>x264)|(?P<h264>h264)|(?P<xvidhd>XvidHD)|(?P<xvid>Xvid)|(?P<divx>divx))\b", _I
)
_OTHER_SOURCE = re.compile(r"(?P<hdtv>HD[-_. ]TV)|(?P<sdtv>SD[-_. ]TV)", _I)
_ANIME_BLURAY = re.compile(r"bd(?:720|1080|2160)|(?<=[-_. (\[])bd(?=[-_. )\]])", _I)
_ANIME_WEBDL = re.compile(r"\[WEB\]|[\[\(]WEB[ .]", _I)
_HIGH_DEF_PDTV = re.compile(r"hr[-_. ]ws", _I)
_REMUX = re.compile(
    r"(?:[_. \[]|\d{4}p-|\bHybrid-)(?P<remux>(?:(BD|UHD)[-_. ]?)?Remux)\b|(?P<remux2>(?:(BD|UHD)[-_. ]?)?Remux[_. ]\d{4}p)",
    _I,
)
_SD_RESOLUTIONS = ("360p", "480p", "540p", "576p")


def _resolution(name: str) -> str | None:
    match = _RESOLUTION.search(name)
    if match:
        return next(group for group, value in match.groupdict().items() if value)[1:]
    return "2160p" if _IMPLIED_RESOLUTION.search(name) else None


def _quality_for_source(source: str, resolution: str | None, name: str, remux: bool) -> str:
    """The branch of ParseQualityName taken once SourceRegex has matched."""
    if source == "bluray":
        codec = _CODEC.search(name)
        if codec and (codec["xvid"] or codec["divx"]):
            return "Bluray-480p"
        if resolution in ("2160p", "1080p"):
            return f"Bluray-{resolution}" + (" Remux" if remux else "")
        if resolution in _SD_RESOLUTIONS:
            return "Bluray-480p"
        return "Bluray-1080p Remux" if remux else "Bluray-720p"
    if source in ("webdl", "webrip"):
        label = "WEBDL" if source == "webdl" else "WEBRip"
        if resolution in ("2160p", "1080p", "720p"):
            return f"{label}-{resolution}"
        if source == "webdl" and "[WEBDL]" in name:
            return "WEBDL-720p"
        return f"{label}-480p"
    if source == "hdtv":
        if _MPEG2.search(name):
            return "Raw-HD"
        if resolution in ("2160p", "1080p", "720p"):
            return f"HDTV-{resolution}"
        return "HDTV-720p" if "[HDTV]" in name else "SDTV"
    if source in ("bdrip", "brrip"):
        return f"Bluray-{resolution}" if resolution in ("720p", "1080p", "2160p") else "Bluray-480p"
    if source == "dvd":
        return "DVD"
    # pdtv, sdtv, dsr, tvrip
    lowered = name.lower()
    if resolution == "1080p" or "1080p" in lowered:
        return "HDTV-1080p"
    if resolution == "720p" or "720p" in lowered or _HIGH_DEF_PDTV.search(name):
        return "HDTV-720p"
    return "SDTV"


def _quality_for_anime_source(kind: str, resolution: str | None, name: str, remux: bool) -> str:
    lowered = name.lower()
    if kind == "bluray":
        if resolution in _SD_RESOLUTIONS or "480p" in lowered:
            return "DVD"
        for height in ("1080p", "2160p"):
            if resolution == height or height in lowered:
                return f"Bluray-{height}" + (" Remux" if remux else "")
        return "Bluray-1080p" if remux else "Bluray-720p"
    if resolution in _SD_RESOLUTIONS or "480p" in lowered:
        return "WEBDL-480p"
    for height in ("1080p", "2160p"):
        if resolution == height or height in lowered:
            return f"WEBDL-{height}"
    return "WEBDL-720p"


def _quality_without_source(name: str, resolution: str | None, remux: bool) -> str:
    """The tail of ParseQualityName: resolution only, codec, odd resolutions."""
    if resolution is not None:
        if remux and resolution in ("2160p", "1080p"):
            return f"Bluray-{resolution} Remux"
        return {"2160p": "HDTV-2160p", "1080p": "HDTV-1080p", "720p": "HDTV-720p"}.get(
            resolution, "SDTV"
        )
    codec = _CODEC.search(name)
    if codec and codec.group("x264"):
        return "SDTV"
    lowered = name.lower()
    for marker, bluray, other in (
        ("848x480", "Bluray-480p", "SDTV"),
        ("1280x720", "Bluray-720p", "HDTV-720p"),
        ("1920x1080", "Bluray-1080p", "HDTV-1080p"),
    ):
        if marker in lowered:
            return bluray if "bluray" in lowered else other
    for height in ("720p", "1080p", "2160p"):
        if f"bluray{height}" in lowered:
            return f"Bluray-{height}"
    other_source = _OTHER_SOURCE.search(name)
    if other_source:
        return "SDTV" if other_source.group("sdtv") else "HDTV-720p"
    return "Unknown"


def parse_quality_name(name: str) -> str:
    """QualityParser.ParseQualityName: Sonarr's quality name ("WEBDL-1080p", "SDTV", ...)."""
    normalized = name.replace("_", " ").strip()
    if _RAW_HD.search(normalized):
        return "Raw-HD"
    sources = list(_SOURCE.finditer(normalized))
    resolution = _resolution(normalized)
    remux = _REMUX.search(normalized) is not None
    if sources:
        kind = next(group for group, value in sources[-1].groupdict().items() if value is not None)
        return _quality_for_source(kind, resolution, normalized, remux)
    if _ANIME_BLURAY.search(normalized):
        return _quality_for_anime_source("bluray", resolution, normalized, remux)
    if _ANIME_WEBDL.search(normalized):
        return _quality_for_anime_source("webdl", resolution, normalized, remux)
    return _quality_without_source(normalized, resolution, remux)


def parse_quality(name: str) -> str:
    """QualityParser.ParseQuality: the name, then the file extension."""
    name = name.strip()
    quality = parse_quality_name(name)
    if quality != "Unknown":
        return quality
    extension = _FILE_EXTENSION.search(name)
    if extension:
        return _MEDIA_EXTENSION_QUALITY.get(extension[0].lower(), "Unknown")
    return "Unknown"


# --- LanguageParser.cs -----------------------------------------------------------------
_LANGUAGES_ONLY = (
    r"(?<english>\b(?:ing|eng)\b)|(?<italian>\b(?:ita|italian)\b)|(?<german>(?:swiss)?german\b|videomann|ger[. ]dub|\bger\b)"
    r"|(?<flemish>flemish)|(?<greek>greek)|(?<french>(?:_|\b)(?:FR|VF|VF2|VFF|VFI|VFQ|TRUEFRENCH|FRENCH|FRE|FRA)(?:_|\b))"
    r"|(?<russian>\b(?:rus|ru)\b)|(?<hungarian>\b(?:HUNDUB|HUN)\b)|(?<hebrew>\bHebDub\b)"
    r"|(?<polish>\b(?:PL\W?DUB|DUB\W?PL|LEK\W?PL|PL\W?LEK)\b)|(?<chinese>\[(?:CH[ST]|BIG5|GB)\]|简|繁|字幕|国语音轨[.+])"
    r"|(?<bulgarian>\bbgaudio\b)|(?<spanish>\b(?:español|castellano|esp|spa(?!\(Latino\)))\b)"
    r"|(?<ukrainian>\b(?:\dx?)?(?:ukr))|(?<thai>\b(?:THAI)\b)|(?<romanian>\b(?:RoDubbed|ROMANIAN)\b)"
    r"|(?<catalan>[-,. ]cat[. ](?:DD|subs)|\b(?:catalan|catalán)\b)|(?<latvian>\b(?:lat|lav|lv)\b)"
    r"|(?<turkish>\b(?:tur)\b)|(?<urdu>\burdu\b)|(?<romansh>\b(?:romansh|rumantsch|romansch)\b)"
    r"|(?<georgian>\b(?:geo|ka|kat|georgian)\b)|(?<japanese>\(JA\)|JAP|JPN)|(?<portuguese>[_. ]por[_. ])"
    r"|(?<original>\b(?:orig|original)\b)"
)
_LANGUAGES_ONLY_UNNAMED = _NET_NAMED_GROUP.sub("(?:", _LANGUAGES_ONLY)
# A language directly followed (through other languages) by "sub"/"subs" is dropped.
_LANGUAGE = _rx(rf"(?:{_LANGUAGES_ONLY})(?!(?:[-_. ](?:{_LANGUAGES_ONLY_UNNAMED}))*[-_. ]subs?)")
# .NET's "(?i)" inside a group scopes to that group: case-insensitive around, exact codes.
_CASE_SENSITIVE_LANGUAGE = re.compile(
    r"(?i:(?<!SUB[\W|_|^]))(?:(?P<lithuanian>\bLT\b)|(?P<czech>\bCZ\b)|(?P<polish>\bPL\b)"
    r"|(?P<bulgarian>\bBG\b)|(?P<slovak>\bSK\b)|(?P<german>\bDE\b))(?i:(?![\W|_|^]SUB))"
)
_GERMAN_DUAL_LANGUAGE = _rx(r"(?<!WEB[-_. ]?)\bDL\b")
_GERMAN_MULTI_LANGUAGE = re.compile(r"\bML\b", _I)
_CLEAN_SERIES_TITLE_FOR_LANGUAGE = re.compile(r".*?[_. ](S\d{2}(?:E\d{2,4})*[_. ].*)", _I)

# (substring of the lower-cased title, language), in ParseLanguages' order.
_LANGUAGE_WORDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("spanish",), "Spanish"),
    (("danish",), "Danish"),
    (("dutch",), "Dutch"),
    (("japanese",), "Japanese"),
    (("icelandic",), "Icelandic"),
    (("mandarin", "cantonese", "chinese"), "Chinese"),
    (("korean",), "Korean"),
    (("russian",), "Russian"),
    (("polish",), "Polish"),
    (("vietnamese",), "Vietnamese"),
    (("swedish",), "Swedish"),
    (("norwegian",), "Norwegian"),
    (("finnish",), "Finnish"),
    (("turkish",), "Turkish"),
    (("portuguese",), "Portuguese"),
    (("hungarian",), "Hungarian"),
    (("hebrew",), "Hebrew"),
    (("arabic",), "Arabic"),
    (("hindi",), "Hindi"),
    (("malayalam",), "Malayalam"),
    (("ukrainian",), "Ukrainian"),
    (("bulgarian",), "Bulgarian"),
    (("slovak",), "Slovak"),
    (("brazilian", "dublado"), "Portuguese (Brazil)"),
    (("latino",), "Spanish (Latino)"),
    (("latvian",), "Latvian"),
    (("azerbaijani", "azerbaijan"), "Azerbaijani"),
    (("uzbek", "uzbekistan"), "Uzbek"),
)
_CASE_SENSITIVE_GROUPS = ("lithuanian", "czech", "polish", "bulgarian", "slovak", "german")
_REGEX_GROUPS = (
    "english",
    "italian",
    "german",
    "flemish",
    "greek",
    "french",
    "russian",
    "dutch",
    "hungarian",
    "hebrew",
    "polish",
    "chinese",
    "bulgarian",
    "ukrainian",
    "spanish",
    "thai",
    "romanian",
    "catalan",
    "latvian",
    "turkish",
    "urdu",
    "romansh",
    "georgian",
    "japanese",
    "portuguese",
    "original",
)


def _regex_languages(title: str) -> list[str]:
    """LanguageParser.RegexLanguage."""
    languages: list[str] = []
    exact = _CASE_SENSITIVE_LANGUAGE.search(title)
    if exact:
        languages += [name.title() for name in _CASE_SENSITIVE_GROUPS if exact.group(name)]
    for match in _LANGUAGE.finditer(title):
        groups = match.groupdict()
        languages += [name.title() for name in _REGEX_GROUPS if groups.get(name) is not None]
    return languages


def parse_languages(title: str) -> tuple[str, ...]:
    """LanguageParser.ParseLanguages (Sonarr passes the release tokens after S/E)."""
    title = _CLEAN_SERIES_TITLE_FOR_LANGUAGE.sub(r"\1", title)
    lowered = title.lower()
    languages = [
        language for words, language in _LANGUAGE_WORDS if any(word in lowered for word in words)
    ]
    languages += _regex_languages(title)
    if "english" in lowered:
        languages.append("English")
    if not languages:
        languages.append("Unknown")
    if languages == ["German"]:
        if _GERMAN_DUAL_LANGUAGE.search(title):
            languages.append("Original")
        elif _GERMAN_MULTI_LANGUAGE.search(title):
            languages += ["Original", "English"]
    return tuple(dict.fromkeys(languages))


# --- ReleaseGroupParser.cs -------------------------------------------------------------
_GROUP_CHARS = "A-Za-zÀ-ÖØ-öø-ÿ0-9"
_GROUP_NOT_BEFORE_QUALITY = r"(?!.+?(?:HDTV|SDTV|480p|576p|720p|1080p|2160p))"
_DASH_GROUP = re.compile(
    rf"-(?P<releasegroup>[{_GROUP_CHARS}]+(?P<part2>-[{_GROUP_CHARS}]+)?{_GROUP_NOT_BEFORE_QUALITY})(?:\b|[-._ ]|$)",
    _I,
)
_DASH_GROUP_SINGLE = re.compile(
    rf"-(?P<releasegroup>[{_GROUP_CHARS}]+{_GROUP_NOT_BEFORE_QUALITY})(?:\b|[-._ ]|$)", _I
)
_BRACKET_GROUP = re.compile(rf"[-._ ]\[(?P<releasegroup>[{_GROUP_CHARS}]+)\]$", _I)
# The negative look-behind of ReleaseGroupRegex: a group may not end a source, resolution,
# audio or language tag. .NET checks it with an optional `\k<part2>`; see _dash_group_at.
_NOT_A_GROUP_ENDING = (
    r"(?:HDTV|SDTV|WEB-DL|Blu-Ray|480p|576p|720p|1080p|2160p|DTS-HD|DTS-X|DTS-MA|DTS-ES"
    r"|-ES|-EN|-CAT|-GER|-FRA|-FRE|-ITA|\d{1,2}-bit|[ ._]\d{4}-\d{2}|-\d{2})"
)
_INVALID_RELEASE_GROUP = re.compile(r"^([se]\d+|[0-9a-f]{8})$", _I)
_ANIME_RELEASE_GROUP = re.compile(r"^(?:\[(?P<subgroup>(?!\s).+?(?<!\s))\](?:_|-|\s|\.)?)", _I)
_EXCEPTION_RELEASE_GROUP_EXACT = re.compile(
    r"(?:(?P<releasegroup>Fight-BB|VARYG|E\.N\.D|KRaLiMaRKo|BluDragon|DarQ|KCRT|BEN[_. ]THE[_. ]MEN|TAoE|QxR|Vialle)\b)",
    _I,
)
_EXCEPTION_RELEASE_GROUP = re.compile(
    r"(?<=[._ \[])(?P<releasegroup>(Joy|ImE|UTR|t3nzin|Anime Time|Project Angel|Hakata Ramen|HONE|Vyndros|SEV|Garshasp|Kappa|Natty|RCVR|SAMPA|YOGI|r00t|EDGE2020)(?=\]|\)))",
    _I,
)
_CLEAN_RELEASE_GROUP = re.compile(
    r"^(.*?[-._ ](S\d+E\d+)[-._ ])|(-(RP|1|NZBGeek|Obfuscated|Scrambled|sample|Pre|postbot|xpost|Rakuv[a-z0-9]*|WhiteRev|BUYMORE|AsRequested|AlternativeToRequested|GEROV|Z0iDS3N|Chamele0n|4P|4Planet|AlteZachen|RePACKPOST))+$",
    _I,
)


def _ends_badly(text: str) -> bool:
    return re.search(_NOT_A_GROUP_ENDING + "$", text, _I) is not None


def _dash_group_at(title: str, position: int) -> re.Match[str] | None:
    """ReleaseGroupRegex's first alternative at one position, look-behind included."""
    for pattern in (_DASH_GROUP, _DASH_GROUP_SINGLE):
        match = pattern.match(title, position)
        if match is None:
            continue
        before = title[: match.end("releasegroup")]
        part2 = match.groupdict().get("part2") or ""
        if _ends_badly(before) or (part2 and _ends_badly(before[: -len(part2)])):
            continue
        return match
    return None


def _release_group_matches(title: str) -> Iterator[str]:
    """Regex.Matches(ReleaseGroupRegex): left to right, non-overlapping."""
    position = 0
    while position < len(title):
        match = _dash_group_at(title, position) or _BRACKET_GROUP.match(title, position)
        if match is None:
            position += 1
            continue
        yield match["releasegroup"]
        position = max(match.end(), position + 1)


def parse_release_group(title: str) -> str | None:
    """ReleaseGroupParser.ParseReleaseGroup."""
    title = remove_file_extension(title.strip())
    for pattern, replacement in _PRE_SUBSTITUTIONS:
        title, count = pattern.subn(replacement, title)
        if count:
            break
    title = _WEBSITE_PREFIX.sub("", title)
    title = _CLEAN_TORRENT_SUFFIX.sub("", title)
    anime = _ANIME_RELEASE_GROUP.match(title)
    if anime:
        return anime["subgroup"]
    title = _CLEAN_RELEASE_GROUP.sub("", title)
    for exceptions in (_EXCEPTION_RELEASE_GROUP, _EXCEPTION_RELEASE_GROUP_EXACT):
        found = list(exceptions.finditer(title))
        if found:
            return found[-1]["releasegroup"]
    groups = list(_release_group_matches(title))
    if not groups:
        return None
    group = groups[-1]
    if group.isdigit() or _INVALID_RELEASE_GROUP.match(group):
        return None
    return group


# --- Parser.cs: ParseTitle / ParseMatchCollection -------------------------------------
@dataclass(frozen=True)
class ParsedRelease:
    """The fields of Sonarr's ParsedEpisodeInfo that AniBridge cares about."""

    series_title: str
    season: int | None
    episodes: tuple[int, ...]
    absolute_episodes: tuple[int, ...]
    full_season: bool
    special: bool
    air_date: str | None
    quality: str
    languages: tuple[str, ...]
    release_group: str | None
    release_tokens: str


class _InvalidDate(Exception):
    """Parser.cs InvalidDateException: stops trying further regexes."""


@dataclass(frozen=True)
class _Capture:
    value: str
    end: int


def _captures(matches: list[re.Match[str]], name: str, index: int = 0) -> list[_Capture]:
    """Group.Captures of one match: every variant of a (renamed) group, in pattern order."""
    match = matches[index]
    names = [key for key in match.groupdict() if key == name or key.startswith(f"{name}__")]
    return [_Capture(match[key], match.end(key)) for key in names if match[key] is not None]


def _last_value(matches: list[re.Match[str]], name: str) -> str:
    """Group.Value in .NET: the last capture, or "" when the group did not take part."""
    captures = _captures(matches, name)
    return captures[-1].value if captures else ""


def _last_end(matches: list[re.Match[str]], name: str) -> int:
    captures = _captures(matches, name)
    return captures[-1].end if captures else 0


_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _parse_number(value: str) -> int:
    normalized = unicodedata.normalize("NFKC", value)
    if normalized.isdigit():
        return int(normalized)
    return _NUMBER_WORDS.index(value.lower())


@dataclass
class _Numbers:
    season: int | None = None
    episodes: tuple[int, ...] = ()
    absolute: tuple[int, ...] = ()
    full_season: bool = False
    special: bool = False
    last_index: int = 0


def _episode_numbers(matches: list[re.Match[str]], index: int, numbers: _Numbers) -> bool:
    """One match's episode captures; False when first > last (Sonarr returns null)."""
    captures = _captures(matches, "episode", index)
    if not captures:
        return True
    first, last = _parse_number(captures[0].value), _parse_number(captures[-1].value)
    if first > last:
        return False
    numbers.episodes = tuple(range(first, last + 1))
    numbers.last_index = max(numbers.last_index, captures[-1].end)
    if matches[index].groupdict().get("special") is not None:
        numbers.special = True
    return True


def _absolute_numbers(matches: list[re.Match[str]], index: int, numbers: _Numbers) -> bool:
    captures = _captures(matches, "absoluteepisode", index)
    if not captures:
        return True
    first, last = float(captures[0].value), float(captures[-1].value)
    if first > last:
        return False
    if first % 1 or last % 1:
        if len(captures) != 1:
            return False
        numbers.special = True
        numbers.last_index = max(numbers.last_index, captures[0].end)
        return True
    numbers.absolute = tuple(range(int(first), int(last) + 1))
    if matches[index].groupdict().get("special") is not None:
        numbers.special = True
    numbers.last_index = max(numbers.last_index, captures[-1].end)
    return True


def _season_pack_flags(matches: list[re.Match[str]], numbers: _Numbers) -> None:
    first = matches[0].groupdict()
    if first.get("seasonpart"):
        return
    if first.get("special") is not None:
        numbers.special = True
    else:
        numbers.full_season = True


def _numbered_release(matches: list[re.Match[str]]) -> _Numbers | None:
    """The season/episode/absolute branch of ParseMatchCollection."""
    numbers = _Numbers(last_index=_last_end(matches, "title"))
    for index in range(len(matches)):
        if not _episode_numbers(matches, index, numbers):
            return None
        if not _absolute_numbers(matches, index, numbers):
            return None
        has_episode = bool(_captures(matches, "episode", index))
        has_absolute = bool(_captures(matches, "absoluteepisode", index))
        if not has_episode and not has_absolute:
            _season_pack_flags(matches, numbers)
    seasons = []
    for capture in _captures(matches, "season"):
        if capture.value.isdigit():
            seasons.append(int(capture.value))
            numbers.last_index = max(numbers.last_index, capture.end)
    if seasons:
        numbers.season = seasons[0]
    elif numbers.episodes and not numbers.absolute:
        numbers.season = 1
    else:
        numbers.season = 0
    return numbers


def _air_date(matches: list[re.Match[str]]) -> tuple[str, int]:
    """The daily-show branch of ParseMatchCollection: (yyyy-mm-dd, last index)."""
    groups = matches[0].groupdict()
    year = int(groups["airyear"])
    if groups.get("ambiguousairmonth"):
        month, day = int(groups["ambiguousairmonth"]), int(groups["ambiguousairday"])
        if month <= 12 and day <= 12:
            raise _InvalidDate
    else:
        month, day = int(groups.get("airmonth") or 0), int(groups.get("airday") or 0)
    if month > 12:
        month, day = day, month
    try:
        date = dt.date(year, month, day)
    except ValueError as error:
        raise _InvalidDate from error
    if date > dt.date.today() + dt.timedelta(days=1):
        raise _InvalidDate
    if date < dt.date(1970, 1, 1) and not groups.get("titleyear"):
        raise _InvalidDate
    last = max(_last_end(matches, name) for name in ("airyear", "airmonth", "airday"))
    return date.isoformat(), last


def _simple_title(release_title: str) -> str:
    simple = _SIMPLE_TITLE.sub("", release_title)
    simple = _WEBSITE_PREFIX.sub("", simple)
    simple = _WEBSITE_POSTFIX.sub("", simple)
    simple = _CLEAN_TORRENT_SUFFIX.sub("", simple)
    simple = _CLEAN_QUALITY_BRACKETS.sub(
        lambda m: "" if parse_quality_name(m[0]) != "Unknown" else m[0], simple
    )
    six_digits = _SIX_DIGIT_AIR_DATE.search(simple)
    if six_digits and (six_digits["airmonth"] != "00" or six_digits["airday"] != "00"):
        fixed = f"20{six_digits['airyear']}.{six_digits['airmonth']}.{six_digits['airday']}"
        simple = simple.replace(six_digits["airdate"], fixed)
    return simple


def _valid_before_parsing(title: str) -> bool:
    lowered = title.lower()
    if "password" in lowered and "yenc" in lowered:
        return False
    if not any(char.isalnum() for char in title):
        return False
    without_extension = remove_file_extension(title)
    if any(pattern.search(without_extension) for pattern in _REJECT_HASHED_RELEASES):
        return False
    return not _SEASON_FOLDER.search(without_extension)


def _release_title(title: str) -> str:
    if _REVERSED_TITLE.search(title):
        stem = remove_file_extension(title)
        title = stem[::-1] + title[len(stem) :]
    release_title = remove_file_extension(title).replace("【", "[").replace("】", "]")
    for pattern, replacement in _PRE_SUBSTITUTIONS:
        release_title = pattern.sub(replacement, release_title)
    return release_title


def _build_result(
    title: str, release_title: str, matches: list[re.Match[str]]
) -> ParsedRelease | None:
    """ParseMatchCollection plus the language/quality/group steps of ParseTitle."""
    air_year = _last_value(matches, "airyear")
    air_date = None
    numbers: _Numbers | None
    if air_year.isdigit() and int(air_year) >= 1900:
        air_date, last_index = _air_date(matches)
        numbers = _Numbers(last_index=max(_last_end(matches, "title"), last_index))
    else:
        numbers = _numbered_release(matches)
    if numbers is None:
        return None
    index = numbers.last_index
    tokens = release_title[index:] if index < len(release_title) else release_title
    special = numbers.special or (numbers.full_season and "special" in tokens.lower())
    series_title = _last_value(matches, "title").replace(".", " ").replace("_", " ")
    subgroup = _last_value(matches, "subgroup")
    return ParsedRelease(
        series_title=_REQUEST_INFO.sub("", series_title).strip(" "),
        season=numbers.season if air_date is None else None,
        episodes=numbers.episodes,
        absolute_episodes=numbers.absolute,
        full_season=numbers.full_season and not special,
        special=special,
        air_date=air_date,
        quality=parse_quality(title),
        languages=parse_languages(tokens),
        release_group=subgroup if subgroup.strip() else parse_release_group(release_title),
        release_tokens=tokens,
    )


def parse_title(title: str) -> ParsedRelease | None:
    """Parser.ParseTitle: None when Sonarr could not parse the title."""
    if not _valid_before_parsing(title):
        return None
    release_title = _release_title(title)
    simple_title = _simple_title(release_title)
    for regex in REPORT_TITLE_REGEXES:
        matches = list(regex.finditer(simple_title))
        if not matches:
            continue
        try:
            result = _build_result(title, release_title, matches)
        except _InvalidDate:
            return None
        if result is not None:
            return result
    return None


# --- Radarr Parser.cs: "Normal movie format, e.g: Mission.Impossible.3.2011" -----------
_MOVIE_NORMAL_FORMAT = _rx(
    r"^(?<title>(?![(\[]).+?)?(?:(?:[-_\W](?<![)\[!]))*(?<year>(1(8|9)|20)\d{2}(?!p|i|(1(8|9)|20)\d{2}|\]|\W(1(8|9)|20)\d{2})))+(\W+|_|$)(?!\\)"
)


@dataclass(frozen=True)
class ParsedMovie:
    title: str
    year: int


def parse_movie_title(title: str) -> ParsedMovie | None:
    """The title and year Radarr's normal movie regex reads from a release name."""
    simple = _SIMPLE_TITLE.sub("", remove_file_extension(title))
    match = _MOVIE_NORMAL_FORMAT.search(simple)
    if match is None or not match["title"]:
        return None
    name = re.sub(r"\s+", " ", match["title"].replace("_", " ").replace(".", " ")).strip()
    return ParsedMovie(title=name, year=int(match["year"]))
