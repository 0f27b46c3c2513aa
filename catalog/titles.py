"""Resolve a title as Sonarr/Radarr send it to a site entry (site, slug) in a title index.

Pure Python (no Django): the index is built from (site, slug, title, alternatives)
entries and answers a query in well under a millisecond. Matching runs in two steps:
an exact lookup of the normalised form, then a fuzzy step that gathers candidates
through token postings (with one-edit spelling neighbours) and scores them by
IDF-weighted token coverage of both sides, so that extra words on either side
("Attack on Titan" vs "Attack on Titan: Junior High") cost what they are worth.
"""

from __future__ import annotations

import math
import re
import sys
import unicodedata
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import NamedTuple

from rapidfuzz.distance import Indel

from catalog import registry

__all__ = [
    "Match",
    "ParsedQuery",
    "TitleEntry",
    "TitleIndex",
    "normalize",
    "parse_query",
    "split_alternatives",
]

# No title is longer; a longer query parameter is cut rather than parsed at length.
MAX_QUERY_LENGTH = 300
# A query's year is only a year inside this range; "Blade Runner 2049" keeps its number.
MIN_YEAR = 1900
MAX_YEAR = 2039

# Scores are 0..100. Exact hits outrank every fuzzy hit; a prefix hit ("Demon Slayer"
# for "Demon Slayer: Kimetsu no Yaiba") is weaker evidence than a full title.
ACCEPT_SCORE = 86.0
FUZZY_CAP = 96.0
# Within one site a main title outranks another entry's alternative of the same name.
KIND_SCORE = {"main": 100.0, "alt": 99.5, "slug": 99.0, "prefix": 92.0}
# "Hell's Paradise: Jigokuraku": two names of the same entry joined by a separator.
COMPOUND_SCORE = 95.0
# Dropping a trailing number as a season ("Overlord II") is a guess: pay for it.
SEASON_NUMBER_PENALTY = 4.0
# Query has a year/country, entry has none (or the other way round): slightly weaker.
UNKNOWN_QUALIFIER_PENALTY = 3.0
# Scores within this margin are a tie between sites; the earlier site wins.
TIE_MARGIN = 1.0
# Two entries of one site this close on fuzzy evidence (or equal on exact evidence):
# refuse to guess rather than pick one at random.
AMBIGUOUS_MARGIN = 1.5

FUZZY_CANDIDATES = 24
# Share of the fuzzy score that comes from character-level similarity (word order).
ORDER_WEIGHT = 0.25
MIN_FUZZY_TOKEN_SIMILARITY = 0.8
# Shorter words have too many one-edit neighbours to look them up by spelling.
MIN_FUZZY_TOKEN_LENGTH = 4

_ARTICLES = frozenset({"the", "a", "an", "der", "die", "das", "ein", "eine"})
# Function words carry little identity; they still count, just less.
_MINOR_WORDS = frozenset(
    {
        "the", "a", "an", "of", "and", "or", "to", "in", "on", "at", "is", "it", "for",
        "with", "from", "by", "as", "be", "der", "die", "das", "des", "dem", "den",
        "ein", "eine", "von", "zu", "im", "am", "mit", "fur", "fuer", "no", "wa", "ga",
        "wo", "ni", "de",
    }
)  # fmt: skip
_MINOR_FACTOR = 0.25
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
_SLUG_ID = re.compile(r"^\d{3,}-(?=\w)")
# Where a title can be cut into "main part: subtitle".
_DASHES = "-\u2013\u2014"  # hyphen, en dash, em dash
_SEPARATOR = re.compile(rf"\s*[:~]\s*|\s+[{_DASHES}]+(?=\s|\w)|[{_DASHES}]\s+")


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


class TitleEntry(NamedTuple):
    """One site entry: its main title and the alternative titles the site lists."""

    site: str
    slug: str
    title: str
    alternatives: Sequence[str] = ()
    year: int | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """The entry a query resolved to and how sure we are (score 0..100)."""

    site: str
    slug: str
    title: str
    score: float
    via: str  # main | alt | slug | prefix | compound, "fuzzy:" in front when not exact


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


def _deletions(token: str) -> set[str]:
    return {token[:i] + token[i + 1 :] for i in range(len(token))}


@dataclass(slots=True)
class _Variant:
    entry: int
    kind: str
    text: str
    tokens: tuple[str, ...]
    weights: tuple[float, ...] = ()
    total: float = 0.0


@dataclass(slots=True)
class _Hit:
    entry: int
    score: float
    variant: _Variant
    fuzzy: bool
    via: str


class TitleIndex:
    """Per-site title index over main titles, alternative titles and slugs."""

    def __init__(
        self,
        entries: Iterable[TitleEntry | tuple[str, str, str, Sequence[str]]],
        film_sites: Collection[str] | None = None,
    ) -> None:
        """`film_sites`: sites whose titles come from URL slugs with an id in front
        (catalog.registry's `title_indexing="slugs"`, by default)."""
        self._entries: list[TitleEntry] = [
            e if isinstance(e, TitleEntry) else TitleEntry(*e) for e in entries
        ]
        if film_sites is None:
            film_sites = [s.name for s in registry.all_sites() if s.title_indexing == "slugs"]
        self._film_sites = frozenset(film_sites)
        self.sites: tuple[str, ...] = tuple(dict.fromkeys(e.site for e in self._entries))
        self._years: list[int | None] = []
        self._countries: list[str | None] = []
        self._variants: list[_Variant] = []
        self._exact: dict[str, list[int]] = defaultdict(list)
        self._postings: dict[str, list[int]] = defaultdict(list)
        prefixes: dict[str, list[_Variant]] = defaultdict(list)
        for number, entry in enumerate(self._entries):
            self._add_entry(number, entry, prefixes)
        self._add_prefixes(prefixes)
        self._build_weights()

    def __len__(self) -> int:
        return len(self._entries)

    # -- building -------------------------------------------------------------------

    def _sources(self, entry: TitleEntry) -> list[tuple[str, str]]:
        sources = [(entry.title, "main")]
        alternatives = [a for a in entry.alternatives if a.strip()]
        sources += [(alt, "alt") for alt in alternatives]
        # aniworld separates alternatives with commas, so "Kanojo, Okarishimasu" arrives
        # as two parts; the joined neighbours restore titles that contain a comma.
        sources += [(f"{a}, {b}", "alt") for a, b in pairwise(alternatives)]
        slug = _SLUG_ID.sub("", entry.slug) if entry.site in self._film_sites else entry.slug
        sources.append((slug.replace("-", " "), "slug"))
        return sources

    def _add_entry(
        self, number: int, entry: TitleEntry, prefixes: dict[str, list[_Variant]]
    ) -> None:
        film = entry.site in self._film_sites
        parsed = [(parse_query(text), text, kind) for text, kind in self._sources(entry)]
        year = entry.year or next((p.year for p, _, _ in parsed if p.year), None)
        self._years.append(year)
        self._countries.append(next((p.country for p, _, _ in parsed if p.country), None))
        seen: set[str] = set()
        for query, text, kind in parsed:
            forms = [query.full] if film else [query.core, query.full]
            if query.plain:
                forms.append(query.plain)
            if query.bare_year and query.year:
                forms.append((*query.full, str(query.year)))
            for tokens in forms:
                key = "".join(tokens)
                if not key or key in seen:
                    continue
                seen.add(key)
                self._add_variant(_Variant(number, kind, text, tokens), key)
            if kind in ("main", "alt"):
                for prefix in self._prefix_texts(text):
                    pq = parse_query(prefix)
                    tokens = pq.full if film else pq.core
                    key = "".join(tokens)
                    if len(key) >= 4 and key not in seen:
                        prefixes[key].append(_Variant(number, "prefix", text, tokens))

    @staticmethod
    def _prefix_texts(text: str) -> list[str]:
        return [text[: m.start()] for m in _SEPARATOR.finditer(text) if m.start() > 0]

    def _add_variant(self, variant: _Variant, key: str) -> None:
        index = len(self._variants)
        self._variants.append(variant)
        self._exact[key].append(index)
        for token in set(variant.tokens):
            self._postings[token].append(index)

    def _add_prefixes(self, prefixes: dict[str, list[_Variant]]) -> None:
        for key, variants in prefixes.items():
            by_site: dict[str, dict[int, _Variant]] = defaultdict(dict)
            for variant in variants:
                by_site[self._entries[variant.entry].site].setdefault(variant.entry, variant)
            for owners in by_site.values():
                # A prefix shared by two entries of one site names neither of them.
                if len(owners) == 1:
                    self._variants.append(next(iter(owners.values())))
                    self._exact[key].append(len(self._variants) - 1)

    def _build_weights(self) -> None:
        entries_with: dict[str, set[int]] = defaultdict(set)
        for token, indices in self._postings.items():
            entries_with[token] = {self._variants[i].entry for i in indices}
        self._df = {token: len(entries) for token, entries in entries_with.items()}
        self._n = max(len(self._entries), 1)
        self._max_weight = math.log((self._n + 1) / 0.5)
        for variant in self._variants:
            variant.weights = tuple(self._weight(t) for t in variant.tokens)
            variant.total = sum(variant.weights)
        # One-deletion neighbourhood of every index token (SymSpell): two tokens within one
        # edit share a key. Values are space-joined strings, not lists, to save memory.
        self._deletes: dict[str, str] = {}
        for token in self._df:
            if len(token) >= MIN_FUZZY_TOKEN_LENGTH and not token.isdigit():
                for deleted in _deletions(token):
                    known = self._deletes.get(deleted)
                    self._deletes[deleted] = f"{known} {token}" if known else token
        # Tokens this common cannot select candidates alone; they still score.
        self._common = max(200, self._n // 20)

    def _weight(self, token: str) -> float:
        weight = math.log((self._n + 1) / (self._df.get(token, 0) + 0.5))
        if token.isdigit():  # "John Wick: Chapter 2" vs "Chapter 4": numbers decide
            weight = max(weight, 0.6 * self._max_weight)
        if token in _MINOR_WORDS or len(token) == 1:
            weight *= _MINOR_FACTOR
        return max(weight, 0.05)

    # -- matching -------------------------------------------------------------------

    def match(self, query: str, sites: Sequence[str] | None = None) -> Match | None:
        """Best entry for ``query`` among ``sites`` (in priority order), or None."""
        order = tuple(sites) if sites is not None else self.sites
        if not order:
            return None
        parsed = parse_query(query[:MAX_QUERY_LENGTH])
        hits = self._collect(parsed, frozenset(order), fuzzy_if_exact=False)
        return self._choose(hits, order)

    def candidates(self, query: str, limit: int = 10) -> list[Match]:
        """The best-scoring entries over all sites, accepted or not (for debugging)."""
        parsed = parse_query(query[:MAX_QUERY_LENGTH])
        hits = self._collect(parsed, frozenset(self.sites), fuzzy_if_exact=True)
        ranked = sorted(hits.values(), key=lambda h: -h.score)[:limit]
        return [self._to_match(hit) for hit in ranked]

    def _forms(self, parsed: ParsedQuery) -> list[tuple[tuple[str, ...], float, bool]]:
        """Token forms to look up: (tokens, penalty, for film sites too)."""
        forms: list[tuple[tuple[str, ...], float, bool]] = [(parsed.full, 0.0, True)]
        if parsed.core != parsed.full:
            forms.append((parsed.core, 0.0, False))
        if parsed.plain and parsed.plain != parsed.core:
            forms.append((parsed.plain, 0.0, False))
        if parsed.bare_year and parsed.year:
            forms.append(((*parsed.full, str(parsed.year)), 0.0, True))
        core = parsed.core
        # "Overlord II" is a season of "Overlord" on a series site, not another show.
        if len(core) >= 2 and core[-1].isdigit() and 2 <= int(core[-1]) <= 30:
            forms.append((core[:-1], SEASON_NUMBER_PENALTY, False))
        return [f for f in forms if f[0]]

    def _collect(
        self, parsed: ParsedQuery, sites: frozenset[str], fuzzy_if_exact: bool
    ) -> dict[int, _Hit]:
        best: dict[int, _Hit] = {}
        forms = self._forms(parsed)

        def keep(hit: _Hit) -> None:
            score = self._qualify(hit.score, hit.entry, parsed)
            if score is None:
                return
            hit.score = score
            if hit.entry not in best or best[hit.entry].score < score:
                best[hit.entry] = hit

        for tokens, penalty, films_too in forms:
            for index in self._exact.get("".join(tokens), ()):
                variant = self._variants[index]
                entry = self._entries[variant.entry]
                if entry.site not in sites or (not films_too and entry.site in self._film_sites):
                    continue
                score = KIND_SCORE[variant.kind] - penalty
                keep(_Hit(variant.entry, score, variant, False, variant.kind))
        if best and not fuzzy_if_exact:
            return best
        for entry_number, index in self._compound(parsed.raw):
            entry = self._entries[entry_number]
            if entry.site in sites:
                keep(_Hit(entry_number, COMPOUND_SCORE, self._variants[index], False, "compound"))
        if best and not fuzzy_if_exact:
            return best
        for tokens, penalty, films_too in forms:
            # A candidate that cannot cover half the query's weight cannot reach the
            # threshold; candidates() shows them anyway.
            for index, score in self._fuzzy(tokens, 0.0 if fuzzy_if_exact else 0.5):
                variant = self._variants[index]
                entry = self._entries[variant.entry]
                if entry.site not in sites or (not films_too and entry.site in self._film_sites):
                    continue
                score = min(score, FUZZY_CAP) - penalty
                keep(_Hit(variant.entry, score, variant, True, "fuzzy:" + variant.kind))
        return best

    def _compound(self, raw: str) -> list[tuple[int, int]]:
        """(entry, variant) pairs when the query is two names of one entry.

        "Hell's Paradise: Jigokuraku" is the main title and an alternative joined.
        """
        found: list[tuple[int, int]] = []
        for cut in _SEPARATOR.finditer(raw):
            head = self._named(raw[: cut.start()])
            if head:
                tail = self._named(raw[cut.end() :])
                found += [(entry, index) for entry, index in head.items() if entry in tail]
        return found

    def _named(self, text: str) -> dict[int, int]:
        """Entries that have ``text`` as a full name (not a prefix), with the variant."""
        parsed = parse_query(text)
        named: dict[int, int] = {}
        for tokens in (parsed.core, parsed.full):
            for index in self._exact.get("".join(tokens), ()):
                variant = self._variants[index]
                if variant.kind != "prefix":
                    named.setdefault(variant.entry, index)
        return named

    def _qualify(self, score: float, entry: int, parsed: ParsedQuery) -> float | None:
        """Apply year/country evidence: a conflict rules the entry out."""
        for wanted, known in (
            (parsed.year, self._years[entry]),
            (parsed.country, self._countries[entry]),
        ):
            if wanted is None and known is None:
                continue
            if wanted is None or known is None:
                score -= UNKNOWN_QUALIFIER_PENALTY
            elif isinstance(wanted, int) and isinstance(known, int):
                if abs(wanted - known) > 1:  # premiere vs production year may differ by one
                    return None
            elif wanted != known:
                return None
        return score

    def _neighbours(self, token: str) -> list[tuple[str, float]]:
        """Index tokens within one edit of ``token`` (exact first), with their similarity."""
        found: dict[str, float] = {}
        if token in self._df:
            found[token] = 1.0
        if len(token) < MIN_FUZZY_TOKEN_LENGTH or token.isdigit():
            return list(found.items())
        candidates: set[str] = set(self._deletes.get(token, "").split())
        for deleted in _deletions(token):
            if deleted in self._df:
                candidates.add(deleted)
            candidates.update(self._deletes.get(deleted, "").split())
        for other in candidates:
            if other not in found and not other.isdigit():
                similarity = Indel.normalized_similarity(token, other)
                if similarity >= MIN_FUZZY_TOKEN_SIMILARITY:
                    found[other] = similarity
        return list(found.items())

    def _fuzzy(self, tokens: tuple[str, ...], floor_share: float) -> list[tuple[int, float]]:
        """Score the variants that share the most query weight (tokens or one-edit neighbours)."""
        weights = [self._weight(t) for t in tokens]
        total = sum(weights)
        votes: dict[int, float] = defaultdict(float)
        selective = [
            (token, weight)
            for token, weight in zip(tokens, weights, strict=True)
            if self._df.get(token, 0) <= self._common
        ]
        for token, weight in selective or list(zip(tokens, weights, strict=True)):
            for other, similarity in self._neighbours(token):
                for index in self._postings.get(other, ()):
                    votes[index] += weight * similarity
        if not votes:
            return []
        floor = floor_share * total
        ranked = sorted((v for v in votes.items() if v[1] >= floor), key=lambda v: -v[1])
        out = []
        for index, _ in ranked[:FUZZY_CANDIDATES]:
            out.append((index, self._score(tokens, weights, total, self._variants[index])))
        return out

    def _score(
        self,
        tokens: tuple[str, ...],
        weights: list[float],
        total: float,
        variant: _Variant,
    ) -> float:
        """Weighted F1 of query words found in the title and title words found in the query."""
        other = variant.tokens
        query_done = [False] * len(tokens)
        title_done = [False] * len(other)
        matched_query = 0.0
        matched_title = 0.0

        def pair(i: int | tuple[int, int], j: int | tuple[int, int], similarity: float) -> None:
            nonlocal matched_query, matched_title
            for q in i if isinstance(i, tuple) else (i,):
                query_done[q] = True
                matched_query += weights[q] * similarity
            for t in j if isinstance(j, tuple) else (j,):
                title_done[t] = True
                matched_title += variant.weights[t] * similarity

        for i, token in enumerate(tokens):
            for j, candidate in enumerate(other):
                if not title_done[j] and candidate == token:
                    pair(i, j, 1.0)
                    break
        # A word split or joined differently: "kaguyasama" vs "kaguya sama".
        for i, token in enumerate(tokens):
            for j in range(len(other) - 1):
                if query_done[i] or title_done[j] or title_done[j + 1]:
                    continue
                if other[j] + other[j + 1] == token:
                    pair(i, (j, j + 1), 1.0)
        for j, candidate in enumerate(other):
            for i in range(len(tokens) - 1):
                if title_done[j] or query_done[i] or query_done[i + 1]:
                    continue
                if tokens[i] + tokens[i + 1] == candidate:
                    pair((i, i + 1), j, 1.0)
        # Spelling variants ("kyoujin" vs "kyojin"); numbers must match exactly.
        for i, token in enumerate(tokens):
            if query_done[i] or token.isdigit() or len(token) < 3:
                continue
            best_j, best_similarity = -1, MIN_FUZZY_TOKEN_SIMILARITY
            for j, candidate in enumerate(other):
                if title_done[j] or candidate.isdigit() or len(candidate) < 3:
                    continue
                similarity = Indel.normalized_similarity(token, candidate)
                if similarity >= best_similarity:
                    best_j, best_similarity = j, similarity
            if best_j >= 0:
                pair(i, best_j, best_similarity)
        recall = matched_query / total if total else 0.0
        precision = matched_title / variant.total if variant.total else 0.0
        if recall + precision == 0:
            return 0.0
        f1 = 2 * recall * precision / (recall + precision)
        # Words are compared as a bag; the spelled-out similarity brings word order back
        # in, so "Cursed Moon: Quiet Game" is not "Game of the Cursed Witch: Quiet Moon".
        spelled = Indel.normalized_similarity(" ".join(tokens), " ".join(other))
        return 100.0 * ((1 - ORDER_WEIGHT) * f1 + ORDER_WEIGHT * spelled)

    def _choose(self, hits: dict[int, _Hit], order: Sequence[str]) -> Match | None:
        best_by_site: dict[str, _Hit] = {}
        runner_up: dict[str, float] = {}
        for hit in sorted(hits.values(), key=lambda h: -h.score):
            site = self._entries[hit.entry].site
            if site not in best_by_site:
                best_by_site[site] = hit
            elif site not in runner_up:
                runner_up[site] = hit.score
        accepted = {
            site: hit
            for site, hit in best_by_site.items()
            if hit.score >= ACCEPT_SCORE
            and runner_up.get(site, -1.0) < hit.score - (AMBIGUOUS_MARGIN if hit.fuzzy else 0.01)
        }
        if not accepted:
            return None
        top = max(hit.score for hit in accepted.values())
        for site in order:
            chosen = accepted.get(site)
            if chosen is not None and chosen.score >= top - TIE_MARGIN:
                return self._to_match(chosen)
        return None

    def _to_match(self, hit: _Hit) -> Match:
        entry = self._entries[hit.entry]
        return Match(entry.site, entry.slug, hit.variant.text, round(hit.score, 2), hit.via)
