"""Balanced sampling (ALGORITHM.md §5, §6), pure Python + numpy.

Every coin is a hash of (seed, image_uuid, text, entry_id), and the text an image is
represented by (unit "image") the smallest hash of (seed, image_uuid, text) among its
texts, so a pair's fate depends on nothing else: not on partitioning, task retries or
cluster size. Both hashes are Spark's xxhash64 (the row key of those values, the draw of
the row key), so the Spark stage computes the key in the JVM (curate.stages.sample) and
this module the same numbers in Python: the keys with the xxhash package (`row_keys`), the
draws from them with numpy (`text_draws`, `text_draw`).
"""
from __future__ import annotations

import struct
from typing import Callable, Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from xxhash import xxh64_intdigest

from curate import schemas
from curate.core.counting import ids_by_language, ids_by_language_code

_TWO_TO_MINUS_53 = 2.0 ** -53
# splitmix64 (Steele, Lea, Flood 2014): the golden-ratio increment and the finalizer's
# multipliers; numpy's uint64 arithmetic wraps as the algorithm needs.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
# Spark's xxhash64(a, b, ...) hashes each value with the previous hash as the seed,
# starting from 42; a long is hashed as its 8 bytes little-endian, a string as its UTF-8.
_SPARK_HASH_SEED = 42
# Hashed before the row key for the text draw, so the draw that picks an image's text and
# the row key that flips its coins are different numbers.
DRAW_SALT = 0x7E47D8A5
# The columns the Spark stage adds for sample_keyed_batches.
ROW_KEY, LANG_CODE = "row_key", "lang_code"


def keep_probabilities(entry_counts: np.ndarray, t: int) -> np.ndarray:
    """p[e] = 1 for tail entries (count < t), t / count[e] for head entries."""
    counts = np.asarray(entry_counts, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(counts < t, 1.0, t / np.maximum(counts, 1.0))


def tail_proportion(entry_counts: np.ndarray, t: int) -> float:
    """p of ALGORITHM.md §6: the share of all matches that fall on tail entries (< t)."""
    counts = np.asarray(entry_counts, dtype=np.int64)
    total = int(counts.sum())
    return float(counts[counts < t].sum() / total) if total else 1.0


def language_t(entry_counts: np.ndarray, p: float) -> int:
    """t of a language with tail proportion p (ALGORITHM.md §6): the count at which the
    cumulative share of the sorted counts is closest to p (at least 1)."""
    ordered = np.sort(np.asarray(entry_counts, dtype=np.int64))
    cumulative = np.cumsum(ordered)
    if not len(ordered) or cumulative[-1] == 0:
        return 1
    return max(1, int(ordered[np.argmin(np.abs(cumulative / cumulative[-1] - p))]))


def thresholds(counts_by_lang: Mapping[str, np.ndarray], t: int,
               overrides: Mapping[str, int] | None = None, english: str = "en"
               ) -> dict[str, int]:
    """t per language: `t` for English; for every other language the t that gives it
    English's tail proportion (ALGORITHM.md §6); `overrides` win. Without English counts
    every language takes `t` (one list, whatever its language)."""
    overrides = dict(overrides or {})
    if english not in counts_by_lang:
        return {lang: overrides.get(lang, t) for lang in counts_by_lang}
    p = tail_proportion(counts_by_lang[english], t)
    return {lang: overrides.get(lang, t if lang == english else language_t(counts, p))
            for lang, counts in counts_by_lang.items()}


def language_summary(entry_counts: np.ndarray, t: int) -> dict:
    """For threshold t: head entries, their share of all matches, the tail proportion."""
    counts = np.asarray(entry_counts, dtype=np.int64)
    total = int(counts.sum())
    head = counts >= t
    return {"t": int(t), "head_entries": int(head.sum()),
            "head_share_of_matches": float(counts[head].sum() / total) if total else 0.0,
            "tail_proportion": tail_proportion(counts, t)}




def _chain_seed(*longs: int) -> int:
    """The running hash of Spark's xxhash64 after the given long values."""
    h = _SPARK_HASH_SEED
    for value in longs:
        h = xxh64_intdigest(struct.pack("<q", value), h)
    return h






def coins(keys: np.ndarray, entry_ids: np.ndarray) -> np.ndarray:
    """Uniform numbers in [0, 1), one per (row key, entry id): the key mixed with the id by
    splitmix64's finalizer, so one hash per pair serves all its entries' coins."""
    x = np.asarray(keys, dtype=np.uint64) ^ (np.asarray(entry_ids).astype(np.uint64) * _GOLDEN)
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) * _TWO_TO_MINUS_53






# XXH64's primes (Collet's xxHash specification).
_P1, _P2, _P3, _P4, _P5 = (np.uint64(0x9E3779B185EBCA87), np.uint64(0xC2B2AE3D27D4EB4F),
                           np.uint64(0x165667B19E3779F9), np.uint64(0x85EBCA77C2B2AE63),
                           np.uint64(0x27D4EB2F165667C5))


def text_draws(keys: np.ndarray) -> np.ndarray:
    """text_draw of each row key (uint64, as row_keys or Spark's long viewed unsigned),
    int64: XXH64 of one 8-byte input, in numpy (its uint64 arithmetic wraps as XXH64's)."""
    with np.errstate(over="ignore"):
        h = np.uint64(_chain_seed(DRAW_SALT)) + _P5 + np.uint64(8)
        h = h ^ (_rotl(np.asarray(keys, dtype=np.uint64) * _P2, 31) * _P1)
        h = _rotl(h, 27) * _P1 + _P4
        h ^= h >> np.uint64(33)
        h *= _P2
        h ^= h >> np.uint64(29)
        h *= _P3
        h ^= h >> np.uint64(32)
    return h.view(np.int64)


def _rotl(x: np.ndarray, bits: int) -> np.ndarray:
    return (x << np.uint64(bits)) | (x >> np.uint64(64 - bits))




# After the draw, an image's rows are ordered by these (only exact duplicates of
# (image_uuid, text) ever get that far).
UNIT_ORDER_COLUMNS = ("text", "url", "lang", "matched_entry_ids")


def unit_order(draw: int, row: dict) -> tuple:
    """How an image's rows are ordered to pick one (unit "image"): by draw, then by the
    rest of the row, nulls first."""
    return (draw,) + tuple((0,) if row[name] is None else (1, row[name])
                           for name in UNIT_ORDER_COLUMNS)






def expected_kept(batches: Iterator[pa.RecordBatch], counts_by_lang: Mapping[str, np.ndarray],
                  t_table: Mapping[str, np.ndarray], default_lang: str) -> np.ndarray:
    """Σ over rows of each row's keep probability 1 − ∏(1 − p[e]), for G sets of
    thresholds at once: t_table[lang] holds G values of that language's t."""
    total = np.zeros(len(next(iter(t_table.values()))))
    for batch in batches:
        for lang, _rows, ids in ids_by_language(batch, default_lang):
            lengths = pc.list_value_length(ids).to_numpy(zero_copy_only=False)
            counts = counts_by_lang[lang][pc.list_flatten(ids).to_numpy(zero_copy_only=False)]
            t = np.asarray(t_table[lang], dtype=np.float64)[:, None]
            p = np.minimum(1.0, t / np.maximum(counts, 1))        # keep_probabilities, G rows
            total += _keep_probability(p, _starts(lengths)).sum(axis=-1)
    return total


def _starts(lengths: np.ndarray) -> np.ndarray:
    """Where each row's entries start in the flattened ids (rows have at least one)."""
    return np.concatenate(([0], np.cumsum(lengths)[:-1]))


def _keep_probability(p: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """1 − ∏(1 − p[e]) of each row, over the last axis of p (entries flattened by row)."""
    return 1.0 - np.multiply.reduceat(1.0 - p, starts, axis=-1)


def t_for_size(expected: Callable[[np.ndarray], np.ndarray], target: float, t_max: int,
               grid: int = 24, rounds: int = 5) -> tuple[int, float]:
    """(English t, its expected output size) with the size closest to `target`, by a
    bisection that splits each bracket into `grid` candidates: expected(ts) gives the
    expected sizes of candidate ts (nondecreasing in t; one pass over the rows per call).
    t_max: a t above every count (everything kept)."""
    lo, hi = 1, max(2, int(t_max))
    best: tuple[int, float] | None = None
    for _ in range(rounds):
        ts = np.unique(np.round(np.geomspace(lo, hi, grid)).astype(np.int64))
        sizes = np.asarray(expected(ts), dtype=np.float64)
        i = int(np.argmin(np.abs(sizes - target)))
        if best is None or abs(sizes[i] - target) < abs(best[1] - target):
            best = (int(ts[i]), float(sizes[i]))
        above = int(np.searchsorted(sizes, target))
        if above == 0 or above == len(ts):   # the target is outside what t can give
            break
        lo, hi = int(ts[above - 1]), int(ts[above])
        if hi - lo <= 1:
            break
    return best




def keep_decisions(keys: np.ndarray, groups, n_rows: int, p_by_lang: Mapping[str, np.ndarray]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(kept, keep probability) of each of n_rows rows: keep_pair for every row in numpy,
    given the rows' keys (row_keys, uint64) and their entry ids by language (`groups`, as
    counting.ids_by_language yields them). A tail entry's p is 1 and a coin is below 1,
    so it keeps its row as keep_pair does."""
    kept = np.zeros(n_rows, dtype=bool)
    probability = np.zeros(n_rows)
    for lang, rows, ids in groups:
        if lang not in p_by_lang:
            raise ValueError(f"matched rows in language {lang or '(another)'!r} have no counts "
                             f"(counted: {', '.join(sorted(p_by_lang))}); count this matched "
                             f"set first")
        lengths = pc.list_value_length(ids).to_numpy(zero_copy_only=False)
        rows, lengths = rows[lengths > 0], lengths[lengths > 0]   # (matched sets are non-empty)
        flat = pc.list_flatten(ids).to_numpy(zero_copy_only=False)
        p = p_by_lang[lang][flat]
        starts = _starts(lengths)
        probability[rows] = _keep_probability(p, starts)
        # A row with a tail entry is kept whatever its coins: only the others' are drawn.
        sure = np.maximum.reduceat(p, starts) >= 1.0
        kept[rows[sure]] = True
        owner = np.repeat(np.arange(len(rows)), lengths)   # each entry's row (in rows)
        drawn = np.flatnonzero(~sure[owner])
        owner = rows[owner[drawn]]
        kept[owner[coins(keys[owner], flat[drawn]) < p[drawn]]] = True
    return kept, probability




def sample_keyed_batches(batches: Iterator[pa.RecordBatch], p_by_lang: Mapping[str, np.ndarray],
                         languages: list[str], stats: dict | None = None
                         ) -> Iterator[pa.RecordBatch]:
    """sample_batches for batches that bring each row's key (`row_key`: row_keys as Spark's
    long) and language (`lang_code`: its index in `languages`, -1 for
    another): the Spark stage computes both in the JVM."""
    for batch in batches:
        keys = batch.column(ROW_KEY).to_numpy(zero_copy_only=False).view(np.uint64)
        codes = batch.column(LANG_CODE).to_numpy(zero_copy_only=False)
        groups = ids_by_language_code(codes, batch.column("matched_entry_ids"), languages)
        yield from _kept(batch, keys, groups, p_by_lang, stats)


def _kept(batch: pa.RecordBatch, keys: np.ndarray, groups, p_by_lang: Mapping[str, np.ndarray],
          stats: dict | None) -> Iterator[pa.RecordBatch]:
    kept, probability = keep_decisions(keys, groups, batch.num_rows, p_by_lang)
    if stats is not None:
        stats["rows"] = stats.get("rows", 0) + batch.num_rows
        # counted where they leave, not as rows - kept later: the stage checks the two
        stats["not_sampled"] = stats.get("not_sampled", 0) + int(batch.num_rows - kept.sum())
        stats["expected"] = stats.get("expected", 0.0) + float(probability.sum())
    out = batch.select(schemas.CURATED.names).filter(pa.array(kept, pa.bool_()))
    if out.num_rows:
        yield out
