"""Benchmark the title resolver against a re-implementation of the original algorithm.

Run: .venv/bin/python bench/bench_resolver.py [--entries 20000] [--seed 7]

Builds one 20,000-title index (tests/data/title_index.json plus generated plausible
titles, seeded), runs the labelled queries (tests/data/title_queries.json) and generated
queries through both resolvers in the same process, and prints latency percentiles, the
speed ratio and precision/recall on the labelled set. No Django needed.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
import tracemalloc
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from catalog.titles import TitleEntry, TitleIndex, normalize, split_alternatives  # noqa: E402

DATA = ROOT / "tests" / "data"
FILM_SITE = "megakino"
Label = tuple[str, str] | None

# -- the original algorithm (seed 001, "Slug Resolution"), written from its description --

REFERENCE_ACCEPT = 3.5
REFERENCE_F1_FOR_SEQUENCE = 0.5


def _reference_tokens(text: str) -> list[str]:
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.findall(r"[a-z0-9]+", text)


@dataclass(frozen=True, slots=True)
class _ReferenceTitle:
    site: str
    slug: str
    tokens: frozenset[str]
    alnum: str


def _reference_score(query: frozenset[str], query_alnum: str, title: _ReferenceTitle) -> float:
    """Exact boost + containment boost + token F1 + precision/recall (+ ratio if F1 is high)."""
    score = 0.0
    if query_alnum == title.alnum:
        score += 3.0
    elif query_alnum and title.alnum and (query_alnum in title.alnum or title.alnum in query_alnum):
        score += 1.0
    common = len(query & title.tokens)
    if not common:
        return score
    precision = common / len(title.tokens)
    recall = common / len(query)
    f1 = 2 * precision * recall / (precision + recall)
    score += 2.0 * f1 + 0.5 * precision + 0.5 * recall
    if f1 >= REFERENCE_F1_FOR_SEQUENCE:
        score += SequenceMatcher(None, query_alnum, title.alnum).ratio()
    return score


class ReferenceResolver:
    """Scores every title of every entry; primary sites first, Megakino as fallback."""

    def __init__(self, entries: Sequence[TitleEntry]) -> None:
        # Tokenised once, as the original cached its index: the per-query loop is what we time.
        self._titles: dict[str, list[_ReferenceTitle]] = {}
        for entry in entries:
            for text in (entry.title, *entry.alternatives):
                tokens = _reference_tokens(text)
                if tokens:
                    title = _ReferenceTitle(
                        entry.site, entry.slug, frozenset(tokens), "".join(tokens)
                    )
                    self._titles.setdefault(entry.site, []).append(title)

    def _best(self, query: str, sites: Sequence[str]) -> tuple[float, Label]:
        tokens = _reference_tokens(query)
        query_set, query_alnum = frozenset(tokens), "".join(tokens)
        best_score, best = 0.0, None
        for site in sites:
            for title in self._titles.get(site, ()):
                score = _reference_score(query_set, query_alnum, title)
                if score > best_score:  # strictly greater: ties stay with the earlier site
                    best_score, best = score, (title.site, title.slug)
        return best_score, best

    def match(self, query: str, sites: Sequence[str]) -> Label:
        primary = [s for s in sites if s != FILM_SITE]
        score, best = self._best(query, primary)
        if score >= REFERENCE_ACCEPT:
            return best
        if FILM_SITE in sites:
            score, best = self._best(query, [FILM_SITE])
            if score >= REFERENCE_ACCEPT:
                return best
        return None


# -- synthetic index --------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


EN_ADJ = _words(
    "silent crimson last hidden broken eternal golden lonely wild frozen burning endless "
    "little great dark bright lost secret iron fallen holy cursed brave strange quiet "
    "forgotten electric midnight distant savage gentle final crystal shadow silver scarlet "
    "azure wicked lucky tiny royal ancient modern rogue sacred false true second hollow"
)
EN_NOUN = _words(
    "knight sword dragon garden city sky sea witch blade storm heart moon sun kingdom "
    "academy hunter princess demon angel wolf fox tower road river island empire village "
    "butler detective doctor chef maid hero villain summer winter night dawn star flower "
    "mirror clock song melody dream memory promise journey legend chronicle diary club "
    "family school castle forest mountain ocean desert game war peace love spirit ghost "
    "machine robot pilot soldier assassin thief merchant wizard sage priest"
)
DE_ADJ = _words(
    "kleine grosse dunkle letzte schnelle alte neue wilde stille rote blaue goldene "
    "geheime verlorene tapfere lustige"
)
DE_NOUN = _words(
    "Haus Stadt Wald Familie Klinik Wache Schule Insel Hof Praxis Bande Kommissarin "
    "Dorf Strasse Anwalt Lehrerin Bergwacht Hafen Kanzlei Detektei Tierarzt Polizei"
)
CITIES = _words(
    "Hamburg Berlin Wien Köln München Leipzig Bremen Dresden Kiel Rostock Mallorca Zürich "
    "Boston Chicago Texas Miami Dallas Seattle Denver Vegas Paris London"
)
SYLLABLES = _words(
    "ka ki ku ke ko sa shi su se so ta chi tsu te to na ni nu ne no ha hi fu he ho ma mi mu "
    "me mo ya yu yo ra ri ru re ro wa ga gi gu ge go za ji zu ze zo ba bi bu be bo kyo ryu "
    "sho jo"
)
ROMAJI_PARTICLES = ("no", "wa", "to", "ga", "ni")


def _romaji(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()


def _slugify(title: str) -> str:
    text = unicodedata.normalize("NFKD", title.lower().replace("ß", "ss"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def _anime(rng: random.Random) -> tuple[str, list[str]]:
    adj, noun, noun2 = rng.choice(EN_ADJ), rng.choice(EN_NOUN), rng.choice(EN_NOUN)
    main = rng.choice(
        [
            f"The {adj.title()} {noun.title()}",
            f"{noun.title()} of the {adj.title()} {noun2.title()}",
            f"{adj.title()} {noun.title()}: {rng.choice(EN_ADJ).title()} {noun2.title()}",
            f"My {adj.title()} {noun.title()} Is a {noun2.title()}",
            f"{noun.title()} {noun2.title()} {rng.choice(['Academy', 'Saga', 'Online', 'Quest'])}",
            f"{_romaji(rng)} {_romaji(rng)}",
        ]
    )
    particle = rng.choice(ROMAJI_PARTICLES)
    alternatives = [f"{_romaji(rng)} {particle} {_romaji(rng)}"]
    if rng.random() < 0.5:
        alternatives.append(f"{_romaji(rng)} {_romaji(rng)} {rng.choice(['!', '', '?'])}".strip())
    return main, alternatives


def _series(rng: random.Random) -> tuple[str, list[str]]:
    city = rng.choice(CITIES)
    main = rng.choice(
        [
            f"Die {rng.choice(DE_ADJ)} {rng.choice(DE_NOUN)}",
            f"{rng.choice(DE_NOUN)} {city}",
            f"SOKO {city}",
            f"{rng.choice(DE_NOUN)} in {city}",
            f"{rng.choice(EN_NOUN).title()} {city}",
        ]
    )
    alternatives = [f"The {rng.choice(EN_ADJ).title()} {rng.choice(EN_NOUN).title()}"]
    return main, alternatives if rng.random() < 0.6 else []


def _film(rng: random.Random) -> tuple[str, list[str]]:
    year = rng.randint(1960, 2025)
    main = rng.choice(
        [
            f"{rng.choice(EN_ADJ).title()} {rng.choice(EN_NOUN).title()} ({year})",
            f"{rng.choice(EN_NOUN).title()}: {rng.choice(EN_ADJ).title()} "
            f"{rng.choice(EN_NOUN).title()} ({year})",
            f"Der {rng.choice(DE_ADJ)} {rng.choice(DE_NOUN)} ({year})",
            f"{rng.choice(EN_NOUN).title()} {rng.randint(2, 5)} ({year})",
        ]
    )
    return main, []


def build_entries(
    real: list[TitleEntry], total: int, rng: random.Random, reserved: set[str]
) -> list[TitleEntry]:
    """The real entries plus generated ones until there are ``total`` titles."""
    entries = list(real)
    seen = set(reserved)
    makers: list[tuple[str, Callable[[random.Random], tuple[str, list[str]]]]] = [
        ("aniworld.to", _anime),
        ("s.to", _series),
        ("megakino", _film),
    ]
    shares = (0.25, 0.40, 0.35)
    film_id = 10_000
    while len(entries) < total:
        site, maker = rng.choices(makers, weights=shares)[0]
        main, alternatives = maker(rng)
        keys = {normalize(title) for title in (main, *alternatives)}
        # Generated titles must not collide with each other or with a labelled query,
        # or the labels would stop being true.
        if keys & seen:
            continue
        seen |= keys
        slug = _slugify(main)
        if site == FILM_SITE:
            film_id += 1
            slug = f"{film_id}-{slug}"
        entries.append(TitleEntry(site, slug, main, alternatives))
    return entries


def _typo(title: str, rng: random.Random) -> str | None:
    """Drop one inner letter of the longest word ("Kyoujin" -> "Kyojin")."""
    words = title.split()
    longest = max(range(len(words)), key=lambda i: len(words[i]))
    word = words[longest]
    if len(word) < 7 or not word.isalpha():
        return None
    cut = rng.randrange(1, len(word) - 1)
    words[longest] = word[:cut] + word[cut + 1 :]
    return " ".join(words)


def generated_queries(
    entries: list[TitleEntry], first: int, count: int, rng: random.Random
) -> list[tuple[str, Label]]:
    """Queries for generated entries and for absent titles, with their labels.

    Kinds: the main title, an alternative, the title mangled with a season suffix, one
    typo, and two absent kinds: a spin-off ("Title: Other Words") and a new title.
    """
    queries: list[tuple[str, Label]] = []
    known = {normalize(title) for e in entries for title in (e.title, *e.alternatives)}
    while len(queries) < count:
        kind = rng.random()
        entry = entries[rng.randrange(first, len(entries))]
        label: Label = (entry.site, entry.slug)
        query: str | None = None
        if kind < 0.25:
            query = entry.title
        elif kind < 0.40 and entry.alternatives:
            query = rng.choice(list(entry.alternatives))
        elif kind < 0.55 and entry.site != FILM_SITE:
            mangled = re.sub(r"[^\w ]", "", entry.title).lower()
            query = f"{mangled} Season {rng.randint(2, 4)}"
        elif kind < 0.70:
            query = _typo(entry.title, rng)
        elif kind < 0.85 and entry.site != FILM_SITE:
            query = f"{entry.title}: {rng.choice(EN_ADJ).title()} {rng.choice(EN_NOUN).title()}"
            label = None
        elif kind >= 0.85:
            query = f"{rng.choice(EN_ADJ).title()} {rng.choice(EN_NOUN).title()} {_romaji(rng)}"
            label = None
        if query and (label is not None or normalize(query) not in known):
            queries.append((query, label))
    return queries


# -- measuring --------------------------------------------------------------------------


@dataclass(slots=True)
class Run:
    latencies: list[float]
    predictions: list[Label]


def run(
    resolve: Callable[[str, Sequence[str]], Label], queries: list[tuple[str, list[str]]]
) -> Run:
    latencies: list[float] = []
    predictions: list[Label] = []
    for query, sites in queries:
        start = time.perf_counter()
        predictions.append(resolve(query, sites))
        latencies.append(time.perf_counter() - start)
    return Run(latencies, predictions)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def precision_recall(predictions: list[Label], labels: list[Label]) -> tuple[float, float]:
    made = sum(p is not None for p in predictions)
    correct = sum(p is not None and p == e for p, e in zip(predictions, labels, strict=True))
    positives = sum(e is not None for e in labels)
    return (correct / made if made else 0.0), (correct / positives if positives else 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=20_000, help="titles in the index")
    parser.add_argument("--generated", type=int, default=1_500, help="generated queries (ours)")
    parser.add_argument(
        "--reference-generated",
        type=int,
        default=1_000,
        help="generated queries also run through the (slow) reference",
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    index_doc = json.loads((DATA / "title_index.json").read_text(encoding="utf-8"))
    query_doc = json.loads((DATA / "title_queries.json").read_text(encoding="utf-8"))
    real = [
        TitleEntry(e["site"], e["slug"], e["title"], split_alternatives(e["alternatives"]))
        for e in index_doc["entries"]
    ]
    default_sites: list[str] = query_doc["default_sites"]
    labelled = [
        (q["query"], q.get("sites", default_sites), q["expected"]) for q in query_doc["queries"]
    ]
    labels: list[Label] = [(e["site"], e["slug"]) if e else None for _, _, e in labelled]
    reserved = {normalize(q) for q, _, _ in labelled} | {normalize(e.title) for e in real}

    entries = build_entries(real, args.entries, rng, reserved)
    start = time.perf_counter()
    ours = TitleIndex(entries)
    build_ours = time.perf_counter() - start
    start = time.perf_counter()
    reference = ReferenceResolver(entries)
    build_reference = time.perf_counter() - start

    generated = generated_queries(entries, len(real), args.generated, rng)
    labelled_queries = [(q, sites) for q, sites, _ in labelled]
    generated_queries_ = [(q, default_sites) for q, _ in generated]

    def ours_resolve(query: str, sites: Sequence[str]) -> Label:
        found = ours.match(query, sites)
        return (found.site, found.slug) if found else None

    for query, sites in labelled_queries[:20]:  # warm caches before timing
        ours_resolve(query, sites)

    ours_labelled = run(ours_resolve, labelled_queries)
    ours_generated = run(ours_resolve, generated_queries_)
    ref_generated_queries = generated_queries_[: args.reference_generated]
    started = time.perf_counter()
    ref_labelled = run(reference.match, labelled_queries)
    ref_generated = run(reference.match, ref_generated_queries)
    reference_seconds = time.perf_counter() - started

    # A second build, traced for its size after all timing (tracing slows everything).
    tracemalloc.start()
    traced = TitleIndex(entries)
    memory = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del traced

    ours_all = ours_labelled.latencies + ours_generated.latencies
    ours_common = ours_labelled.latencies + ours_generated.latencies[: len(ref_generated_queries)]
    ref_all = ref_labelled.latencies + ref_generated.latencies

    print(
        f"index: {len(entries):,} entries ({len(real)} real + {len(entries) - len(real):,} "
        f"generated, seed {args.seed}); build ours {build_ours:.2f}s, "
        f"reference {build_reference:.2f}s"
    )
    subset = (
        "all generated queries"
        if len(ref_generated_queries) == len(generated)
        else f"only the first {len(ref_generated_queries)} generated queries (it is slow)"
    )
    print(
        f"queries: {len(labelled)} labelled + {len(generated):,} generated; the reference ran "
        f"the labelled set and {subset} in {reference_seconds:.1f}s, scanning every title"
    )
    print(f"index memory (ours, tracemalloc): {memory / 1e6:.0f} MB")
    print()
    print(
        f"{'latency per query':28} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'mean ms':>8} "
        f"{'n':>6}"
    )
    rows = [
        ("ours (all queries)", ours_all),
        ("ours (same set as ref.)", ours_common),
        ("reference", ref_all),
    ]
    for name, values in rows:
        print(
            f"{name:28} {percentile(values, 0.5) * 1e3:8.3f} {percentile(values, 0.99) * 1e3:8.3f} "
            f"{max(values) * 1e3:8.3f} {statistics.fmean(values) * 1e3:8.3f} {len(values):6}"
        )
    ratio_p50 = percentile(ref_all, 0.5) / percentile(ours_common, 0.5)
    ratio_mean = statistics.fmean(ref_all) / statistics.fmean(ours_common)
    print(
        f"speed ratio (reference / ours, same queries): p50 {ratio_p50:,.0f}x, "
        f"mean {ratio_mean:,.0f}x"
    )
    print()
    categories = [q["category"] for q in query_doc["queries"]]
    print(f"{'labelled set':28} {'precision':>10} {'recall':>8}   wrong answers by category")
    for name, result in (("ours", ours_labelled), ("reference", ref_labelled)):
        precision, recall = precision_recall(result.predictions, labels)
        wrong = Counter(
            category
            for category, got, want in zip(categories, result.predictions, labels, strict=True)
            if got != want
        )
        by_category = ", ".join(f"{c} {n}" for c, n in sorted(wrong.items())) or "none"
        print(f"{name:28} {precision:10.3f} {recall:8.3f}   {by_category}")
    generated_labels = [label for _, label in generated]
    print()
    print("generated queries (labels are by construction, so only indicative):")
    for name, result, count in (
        ("ours", ours_generated, len(generated)),
        ("reference", ref_generated, len(ref_generated_queries)),
    ):
        precision, recall = precision_recall(result.predictions, generated_labels[:count])
        print(f"{name:28} {precision:10.3f} {recall:8.3f}   (n={count})")


if __name__ == "__main__":
    main()
