"""Unigram counts and bigram PMI over a corpus, and their thresholds (ALGORITHM.md §3).

Over a corpus of N tokens (curate.core.metadata_build.tokens), with c(w) a token's count and
c(w1 w2) a bigram's count:

    PMI(w1 w2) = log2( p(w1 w2) / (p(w1) p(w2)) ),  p(w) = c(w) / N,  p(w1 w2) = c(w1 w2) / N
               = log2( c(w1 w2) * N / (c(w1) * c(w2)) )

Both probabilities are taken over the same N tokens. A unigram is kept when c(w) >=
`min_count` (MetaCLIP: 100); a bigram when PMI >= `min_pmi` (MetaCLIP: 30). :func:`pmi`
computes the value from exact integer products (one rounding, in the division), so the pure
core and the Spark job, which both call it on the driver, give identical floats.

:func:`wiki_statistics` is the pure core over files; the Spark job
(curate.stages.metadata_build) adds up the same per-file partial counts with a shuffle and
applies the same selection functions.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

__all__ = ["pmi", "select_unigrams", "select_bigrams", "WikiStatistics", "wiki_statistics"]


def pmi(c12: int, c1: int, c2: int, n: int) -> float:
    """log2(c12 * n / (c1 * c2)): the PMI of a bigram seen c12 times whose words were seen
    c1 and c2 times among n tokens."""
    return math.log2(c12 * n / (c1 * c2))


def select_unigrams(counts: Iterable[tuple[str, int]], min_count: int) -> list[tuple[str, int]]:
    """(word, count) with count >= min_count, by count descending, then word."""
    kept = [(w, int(c)) for w, c in counts if c >= min_count]
    kept.sort(key=lambda wc: (-wc[1], wc[0]))
    return kept


def select_bigrams(rows: Iterable[tuple[str, str, int, int, int]], n: int, min_pmi: float
                   ) -> list[tuple[str, float, int]]:
    """("w1 w2", PMI, count) of the rows (w1, w2, c12, c1, c2) with PMI >= min_pmi, by PMI
    descending, then string."""
    kept = []
    for w1, w2, c12, c1, c2 in rows:
        value = pmi(int(c12), int(c1), int(c2), n)
        if value >= min_pmi:
            kept.append((f"{w1} {w2}", value, int(c12)))
    kept.sort(key=lambda row: (-row[1], row[0]))
    return kept


@dataclass
class WikiStatistics:
    tokens: int                                  # N
    unigrams: list[tuple[str, int]]              # count >= min_count
    bigrams: list[tuple[str, float, int]]        # PMI >= min_pmi: (bigram, PMI, count)
    counters: dict[str, int] = field(default_factory=dict)   # files, lines, pages, distinct

    def summary(self) -> dict:
        return {**dict(sorted(self.counters.items())), "tokens": self.tokens,
                "unigrams_kept": len(self.unigrams), "bigrams_kept": len(self.bigrams)}


def wiki_statistics(paths: list[str], min_count: int, min_pmi: float) -> WikiStatistics:
    """The pure core: count every file (curate.core.metadata_build.wikitext.count_file) and
    select unigrams and bigrams."""
    from curate.core.metadata_build.wikitext import count_file

    unigrams: Counter = Counter()
    bigrams: Counter = Counter()
    counters: Counter = Counter()
    for path in paths:
        for uni, bi, seen in count_file(path):
            unigrams.update(uni)
            bigrams.update(bi)
            counters.update(seen)
    n = sum(unigrams.values())
    counters["distinct_unigrams"] = len(unigrams)
    counters["distinct_bigrams"] = len(bigrams)
    rows = ((w1, w2, c, unigrams[w1], unigrams[w2]) for (w1, w2), c in bigrams.items())
    return WikiStatistics(n, select_unigrams(unigrams.items(), min_count),
                          select_bigrams(rows, n, min_pmi), dict(counters))
