"""How a title reads: `parse_query` takes a title (as Sonarr, Radarr or a site writes it)
apart into normalised tokens and the hints that are not part of the name (season,
part, year, country); catalog.titles matches the results against its index.

Pure Python (no Django).
"""

from __future__ import annotations

import re
import sys
import unicodedata
from dataclasses import dataclass

__all__ = [
    "MAX_QUERY_LENGTH",
    "SEPARATOR",
    "SLUG_ID",
    "ParsedQuery",
    "normalize",
    "parse_query",
    "split_alternatives",
]

# No title is longer; a longer query parameter is cut rather than parsed at length.
MAX_QUERY_LENGTH = 300
# A query's year is only a year inside this range; "Blade Runner 2049" keeps its number.
MIN_YEAR = 1900
MAX_YEAR = 2039

_ARTICLES = frozenset({"the", "a", "an", "der", "die", "das", "ein", "eine"})
_ROMAN = {"ii": 2, "iii": 3, "iv": 4, "vi": 6, "vii": 7, "viii": 8, "ix": 9}
_ORDINAL_WORDS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
    "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10,
}  # fmt: skip
_SEASON_WORDS = frozenset({"season", "staffel", "cour"})
_PART_WORDS = frozenset({"part", "teil"})
# "(It)" and "(Es)" are words more often than countries, so they are not listed.
_COUNTRIES = frozenset({"us", "uk", "gb", "de", "au", "ca", "nz", "jp", "fr", "kr"})

_UMLAUTS_AE = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
_UMLAUTS_PLAIN = str.maketrans({"ä": "a", "ö": "o", "ü": "u", "ß": "ss"})
# "&" reads "and"; the multiplication sign ("Hunter x Hunter") is an x; apostrophes
# (straight, curly, acute, modifier) vanish so "Journey's" == "Journeys".
_SYMBOLS = str.maketrans(
    {"&": " and ", "\u00d7": " x "} | dict.fromkeys("'`\u2019\u2018\u00b4\u02bc", "")
)
_PAREN_QUALIFIER = re.compile(r"\(\s*(\d{4}|[a-z]{2})\s*\)")
_SPLIT = re.compile(r"[\W_]+")
_ORDINAL_NUM = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)$")
_SEASON_TOKEN = re.compile(r"^s(\d{1,2})$")
# Megakino-style slugs start with a numeric id ("6573-oppenheimer").
SLUG_ID = re.compile(r"^\d{3,}-(?=\w)")
# Where a title can be cut into "main part: subtitle".
_DASHES = "-\u2013\u2014"  # hyphen, en dash, em dash
SEPARATOR = re.compile(rf"\s*[:~]\s*|\s+[{_DASHES}]+(?=\s|\w)|[{_DASHES}]\s+")


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """A title taken apart: normalised tokens plus the hints that are not part of the name."""

    raw: str
    full: tuple[str, ...]  # normalised tokens, season words kept (films: "Dune Part Two")
    core: tuple[str, ...]  # normalised tokens, season words removed
    season_hint: int | None
    part_hint: int | None  # "Part 2" is usually the second cour of a season, not season 2
    year: int | None
    country: str | None
    bare_year: bool  # the year was a bare trailing number ("Dune 2021"), not "(2021)"
    plain: tuple[str, ...] | None  # core with umlauts folded to plain letters, if any

    @property
    def text(self) -> str:
        return " ".join(self.core)

    @property
    def key(self) -> str:
        return "".join(self.core)


def split_alternatives(raw: str) -> list[str]:
    """Split aniworld's comma-separated ``data-alternative-title`` into titles."""
    return [part.strip() for part in raw.split(",") if part.strip()]


def _fold(text: str, table: dict[int, str]) -> str:
    text = text.lower().translate(table).translate(_SYMBOLS)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _clean_number(token: str) -> str:
    return (token.lstrip("0") or "0") if token.isdigit() else token


def _merge_letter_runs(tokens: list[str]) -> list[str]:
    # "9-1-1" and "S.W.A.T." are one word to a person; a run of single characters joins.
    out: list[str] = []
    run: list[str] = []
    for token in [*tokens, ""]:
        if len(token) == 1 and token.isascii():
            run.append(token)
            continue
        if len(run) >= 2:
            out.append("".join(run))
        else:
            out.extend(run)
        run = []
        if token:
            out.append(token)
    return out


def _season_number(token: str) -> int | None:
    if token.isdigit():
        return int(token)
    return _ROMAN.get(token)


def _split_season(words: list[str]) -> tuple[list[str], int | None, int | None]:
    """Remove season words ("2nd Season", "Staffel 2", "Part 2", "S2", "Final Season").

    Returns the remaining words, the season number and the part number.
    """
    hint: int | None = None
    part: int | None = None
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else ""
        ordinal = _ORDINAL_NUM.match(word)
        if nxt in _SEASON_WORDS and (ordinal or word in _ORDINAL_WORDS or word == "final"):
            if ordinal:
                hint = hint or int(ordinal.group(1))
            elif word in _ORDINAL_WORDS:
                hint = hint or _ORDINAL_WORDS[word]
            if out and out[-1] == "the":
                out.pop()
            i += 2
            continue
        if word in _SEASON_WORDS | _PART_WORDS and _season_number(nxt) is not None:
            number = _season_number(nxt)
            if word in _PART_WORDS:
                part = part or number
            else:
                hint = hint or number
            i += 2
            continue
        season = _SEASON_TOKEN.match(word)
        if season and i == len(words) - 1 and i > 0:
            hint = hint or int(season.group(1))
            i += 1
            continue
        out.append(word)
        i += 1
    if not out:  # a title that is only season words stays what it is
        return words, None, None
    return out, hint, part


def _drop_article(tokens: list[str]) -> list[str]:
    if len(tokens) > 1 and tokens[0] in _ARTICLES:
        return tokens[1:]
    return tokens


def _tokens(text: str) -> tuple[list[str], int | None, str | None]:
    """Normalised tokens of a folded text, with a parenthesised year/country taken out."""
    year: int | None = None
    country: str | None = None
    for qualifier in _PAREN_QUALIFIER.findall(text):
        if qualifier.isdigit() and MIN_YEAR <= int(qualifier) <= MAX_YEAR:
            year = year or int(qualifier)
        elif qualifier in _COUNTRIES:
            country = country or ("uk" if qualifier == "gb" else qualifier)
    text = _PAREN_QUALIFIER.sub(
        lambda m: " " if m.group(1).isdigit() or m.group(1) in _COUNTRIES else m.group(0), text
    )
    raw = [sys.intern(t) for t in _SPLIT.split(text) if t]  # one copy per word in an index
    tokens: list[str] = []
    for position, word in enumerate(raw):
        if word == "und":
            word = "and"
        elif position > 0 and word in _ROMAN:
            word = str(_ROMAN[word])
        tokens.append(_clean_number(word))
    return _merge_letter_runs(tokens), year, country


def parse_query(title: str) -> ParsedQuery:
    """Normalise a title and split off its season words, year and country qualifier."""
    folded = _fold(title, _UMLAUTS_AE)
    tokens, year, country = _tokens(folded)
    bare_year = False
    last = tokens[-1] if len(tokens) >= 2 else ""
    if year is None and len(last) == 4 and last.isdigit() and MIN_YEAR <= int(last) <= MAX_YEAR:
        year, bare_year = int(last), True
        tokens = tokens[:-1]
    core, hint, part = _split_season(tokens)
    plain: tuple[str, ...] | None = None
    if any(ch in title.lower() for ch in "äöü"):
        plain_tokens, _, _ = _tokens(_fold(title, _UMLAUTS_PLAIN))
        if bare_year:
            plain_tokens = plain_tokens[:-1]
        plain = tuple(_drop_article(_split_season(plain_tokens)[0]))
    return ParsedQuery(
        raw=title,
        full=tuple(_drop_article(tokens)),
        core=tuple(_drop_article(core)),
        season_hint=hint,
        part_hint=part,
        year=year,
        country=country,
        bare_year=bare_year,
        plain=plain,
    )


def normalize(title: str) -> str:
    """The comparable form of a title, season words removed.

    ``"Attack on Titan: The Final Season"`` -> ``"attack on titan"``.
    """
    return parse_query(title).text
