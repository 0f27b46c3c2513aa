"""Resolve a title as Sonarr/Radarr send it to a site entry (site, slug) in a title index.

Pure Python (no Django): the index is built from (site, slug, title, alternatives)
entries and answers a query in well under a millisecond. Matching runs in two steps:
an exact lookup of the normalised form, then a fuzzy step that gathers candidates
through token postings (with one-edit spelling neighbours) and scores them by
IDF-weighted token coverage of both sides, so that extra words on either side
("Attack on Titan" vs "Attack on Titan: Junior High") cost what they are worth.
How a title is taken apart into tokens and hints is catalog.title_query's.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import NamedTuple

from rapidfuzz.distance import Indel

from catalog import registry
from catalog.title_query import (
    MAX_QUERY_LENGTH,
    SEPARATOR,
    SLUG_ID,
    ParsedQuery,
    normalize,
    parse_query,
    split_alternatives,
)

__all__ = [
    "Match",
    "ParsedQuery",
    "TitleEntry",
    "TitleIndex",
    "normalize",
    "parse_query",
    "split_alternatives",
]

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
        slug = SLUG_ID.sub("", entry.slug) if entry.site in self._film_sites else entry.slug
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
        return [text[: m.start()] for m in SEPARATOR.finditer(text) if m.start() > 0]

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
        for cut in SEPARATOR.finditer(raw):
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
