"""Balanced sampling against ALGORITHM.md §5 and §6, end to end.

* the keep rule 1 - prod(1 - p[e]) on hand-computed cases, multi-entry texts included;
* a synthetic pool of 10^6 texts (1-5 Zipf-distributed entries each, grouped into images
  of 1-5 texts), built with numpy and Arrow compute: binomial bounds on the head entries'
  single-entry texts, every text with a tail entry kept, the per-image draw uniform over
  an image's texts (chi-square), and --target-size by t_for_size within 1% of N;
* through Spark (~50k rows): count + sample give the same curated set for 1 vs 16 input
  partitions and on a re-run, and a different seed gives a different set of the expected
  size, for unit "image" and unit "pair"; --target-size through run_sample;
* per-language t (§6) on a hand-computed example, through the pure core and run_count.

All pure-core passes over the 10^6 pool are timed at a few seconds each (keep_pair over
every text: ~1.5 s; sample_batches: ~3 s; choose_texts: ~2 s), so the pool is tested whole.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from curate import schemas
from curate.options import CountOptions, SampleOptions, Thresholds
from curate.core.reference import (choose_texts, coin, keep_pair, row_keys, sample_batches,
                                   text_draw)
from curate.core.pick import TextPicker
from curate.core.sampling import (LANG_CODE, ROW_KEY, expected_kept, keep_probabilities,
                                  language_t,
                                  sample_keyed_batches, t_for_size, tail_proportion, thresholds)

# Chi-square critical values at p = 0.001, by degrees of freedom (standard table).
CHI2_999 = {1: 10.828, 2: 13.816, 3: 16.266, 4: 18.467}
SEED = 11


# --------------------------------------------------------------------------------------
# Synthetic pools
# --------------------------------------------------------------------------------------

def _strings(prefix: str, numbers: np.ndarray, width: int = 0, suffix: str = "") -> pa.Array:
    """prefix + number (zero-padded to `width`) + suffix, by Arrow compute (no Python loop)."""
    digits = pc.cast(pa.array(numbers), pa.string())
    if width:
        digits = pc.utf8_lpad(digits, width, "0")
    return pc.binary_join_element_wise(prefix, digits, suffix, "")


def zipf_pool(n_texts: int, n_entries: int, rng_seed: int, exponent: float = 1.1) -> dict:
    """n_texts matched texts, each with a sorted set of 1-5 distinct entries drawn from a
    Zipf law over n_entries entries; texts grouped into images of 1-5 texts, rows sorted by
    image_uuid. Returns the MATCHED table and its numpy parts."""
    rng = np.random.default_rng(rng_seed)
    weights = 1.0 / np.arange(1, n_entries + 1) ** exponent
    weights /= weights.sum()
    draws_per_text = rng.choice(np.arange(1, 6), size=n_texts, p=[.5, .2, .15, .1, .05])
    text_of_draw = np.repeat(np.arange(n_texts), draws_per_text)
    draws = rng.choice(n_entries, size=len(text_of_draw), p=weights)
    order = np.lexsort((draws, text_of_draw))              # by text, then entry
    draws, text_of_draw = draws[order], text_of_draw[order]
    first = np.ones(len(draws), dtype=bool)                # a set holds each entry once
    first[1:] = (draws[1:] != draws[:-1]) | (text_of_draw[1:] != text_of_draw[:-1])
    flat, text_of_match = draws[first].astype(np.int32), text_of_draw[first]
    lengths = np.bincount(text_of_match, minlength=n_texts)
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int32)

    image_sizes = rng.integers(1, 6, size=n_texts)         # more images than needed ...
    ends = np.cumsum(image_sizes)
    n_images = int(np.searchsorted(ends, n_texts)) + 1     # ... cut at n_texts texts
    image_sizes = image_sizes[:n_images].copy()
    image_sizes[-1] -= ends[n_images - 1] - n_texts
    image_of_text = np.repeat(np.arange(n_images), image_sizes)
    image_start = np.concatenate(([0], np.cumsum(image_sizes)[:-1]))
    position = np.arange(n_texts) - image_start[image_of_text]

    rows = np.arange(n_texts)
    columns = {name: pa.nulls(n_texts, schemas.MATCHED.field(name).type)
               for name in schemas.MATCHED.names}
    columns.update(
        image_uuid=_strings("img", image_of_text, width=8),
        url=_strings("http://example.com/", image_of_text, suffix=".jpg"),
        text=_strings("text ", rows),
        text_source=pa.array(np.full(n_texts, "alt")),
        source_path=pa.array(np.full(n_texts, "synthetic")),
        lang=pa.array(np.full(n_texts, "en")),
        matched_entry_ids=pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat)))
    table = pa.Table.from_pydict(columns, schema=schemas.MATCHED)
    return dict(table=table, flat=flat, offsets=offsets, lengths=lengths,
                counts=np.bincount(flat, minlength=n_entries), image_of_text=image_of_text,
                image_sizes=image_sizes, position=position, n_entries=n_entries)


def row_keep_probability(ids: pa.Array, p: np.ndarray) -> np.ndarray:
    """1 - prod(1 - p[e]) per row of a list<int32> column, computed here independently
    of curate (products by np.multiply.reduceat)."""
    ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    flat = ids.flatten().to_numpy(zero_copy_only=False)
    lengths = pc.list_value_length(ids).to_numpy(zero_copy_only=False)
    assert lengths.min() >= 1
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    return 1.0 - np.multiply.reduceat(1.0 - p[flat], starts)


def text_numbers(table: pa.Table) -> np.ndarray:
    """The row number i of each "text i" (every text of a pool is distinct)."""
    return pc.cast(pc.utf8_slice_codeunits(table["text"], 5), pa.int64()).to_numpy()


def run_sample_batches(table: pa.Table, p: np.ndarray, seed: int, rows: int = 65536):
    out = list(sample_batches(iter(table.to_batches(rows)), {"en": p}, "en", seed))
    return pa.Table.from_batches(out, schema=schemas.CURATED)


def keyed(table: pa.Table, seed: int) -> pa.Table:
    """The rows as the sample stage's tasks get them: with the row key the JVM computes
    (Spark's xxhash64, equal to row_keys: test_sampling.py) and the language code (0: en)."""
    keys = row_keys(seed, table["image_uuid"].to_pylist(), table["text"].to_pylist())
    return table.append_column(ROW_KEY, pa.array(keys.view(np.int64))).append_column(
        LANG_CODE, pa.array(np.zeros(table.num_rows, np.int32)))


def run_keep_rule(table: pa.Table, p: np.ndarray, seed: int, rows: int = 65536) -> pa.Table:
    """The production keep rule (what a sample task runs: sample_keyed_batches)."""
    out = list(sample_keyed_batches(iter(keyed(table, seed).to_batches(rows)), {"en": p},
                                    ["en"]))
    return pa.Table.from_batches(out, schema=schemas.CURATED)


def run_pick(table: pa.Table, seed: int, rows: int) -> pa.Table:
    """The production pick of one text per image (core.pick.TextPicker), table's columns."""
    picked = list(TextPicker().pick(iter(keyed(table, seed).to_batches(rows))))
    return pa.Table.from_batches(picked).select(table.schema.names)


def run_choose_texts(table: pa.Table, seed: int, rows: int) -> pa.Table:
    batches = table.to_batches(rows) if rows else [table.combine_chunks().to_batches()[0]]
    return pa.Table.from_batches(list(choose_texts(iter(batches), seed)), schema=table.schema)


def sample_options(t: int, seed: int, unit: str) -> SampleOptions:
    return SampleOptions(Thresholds(t), seed, unit)


def image_boundaries(table: pa.Table, n_files: int) -> list[int]:
    """Row numbers cutting a table sorted by image_uuid into about n_files parts, never
    inside an image (as dedup's range partitioning cuts)."""
    uuids = table["image_uuid"].to_pylist()
    cuts = [0]
    for at in np.linspace(0, len(uuids), n_files + 1)[1:-1].astype(int).tolist():
        while 0 < at < len(uuids) and uuids[at] == uuids[at - 1]:
            at += 1
        cuts.append(at)
    return cuts + [len(uuids)]


def pairs_of(table: pa.Table) -> set[tuple[str, str]]:
    return set(zip(table["image_uuid"].to_pylist(), table["text"].to_pylist()))


# --------------------------------------------------------------------------------------
# The keep rule by hand
# --------------------------------------------------------------------------------------

HAND_T = 10
HAND_COUNTS = np.array([0, 5, 9, 10, 11, 20, 40, 100])
# p[e] = 1 below t (and at t: t / t = 1), t / count[e] above it.
HAND_P = [1.0, 1.0, 1.0, 1.0, 10 / 11, 0.5, 0.25, 0.1]
# Matched set -> keep probability 1 - prod(1 - p[e]), by hand.
HAND_SETS = {
    (5,): 0.5,
    (4,): 10 / 11,
    (5, 6): 1 - 0.5 * 0.75,                 # 0.625, not max(p) = 0.5
    (6, 7): 1 - 0.75 * 0.9,                 # 0.325
    (5, 6, 7): 1 - 0.5 * 0.75 * 0.9,        # 0.6625
    (4, 5, 6, 7): 1 - (1 / 11) * 0.5 * 0.75 * 0.9,
    (1, 7): 1.0,                            # a tail entry: always kept
    (3,): 1.0,                              # count == t: p = 1
    (0, 2, 6): 1.0,
}


def test_keep_probabilities_by_hand():
    assert keep_probabilities(HAND_COUNTS, HAND_T).tolist() == pytest.approx(HAND_P, abs=1e-15)


@pytest.mark.parametrize("entries", list(HAND_SETS), ids=str)
def test_keep_rule_by_hand(entries):
    want = HAND_SETS[entries]
    p = keep_probabilities(HAND_COUNTS, HAND_T)
    # expected_kept of a one-row batch is that row's keep probability ...
    table = hand_table([list(entries)])
    got = expected_kept(iter(table.to_batches()), {"en": HAND_COUNTS},
                        {"en": np.array([HAND_T])}, "en")
    assert got.tolist() == pytest.approx([want], abs=1e-12)
    # ... and keep_pair keeps that share of 20,000 pairs (4 sigma; all of them for 1.0).
    n = 20_000
    kept = sum(keep_pair(SEED, f"img{i}", "a photo of a cat", list(entries), p)
               for i in range(n))
    if want == 1.0:
        assert kept == n
    else:
        assert abs(kept - n * want) <= 4 * math.sqrt(n * want * (1 - want)), (kept, n * want)


def test_keep_pair_is_one_coin_per_entry():
    """Kept iff some entry's own coin succeeds: the coins of (seed, image, text, entry)."""
    p = keep_probabilities(HAND_COUNTS, HAND_T)
    for i in range(2000):
        uuid, text = f"img{i}", f"text {i % 7}"
        want = any(coin(SEED, uuid, text, e) < p[e] for e in (5, 6, 7))
        assert keep_pair(SEED, uuid, text, [5, 6, 7], p) == want


def test_keyed_batches_keep_what_sample_batches_keeps():
    """The Spark stage's core (keys and language indexes computed beforehand, a language
    without counts as -1) keeps the rows sample_batches keeps, with the same statistics."""
    pool = zipf_pool(20_000, 300, rng_seed=5)
    table = pool["table"]
    langs = ["de" if i % 4 == 0 else "en" for i in range(table.num_rows)]
    table = table.set_column(table.schema.get_field_index("lang"), "lang",
                             pa.array(langs, pa.string()))
    p = {"en": keep_probabilities(pool["counts"], 40), "de": keep_probabilities(pool["counts"], 9)}
    want_stats, got_stats = {}, {}
    want = pa.Table.from_batches(list(sample_batches(iter(table.to_batches(3000)), p, "en",
                                                     SEED, want_stats)))
    keys = row_keys(SEED, table["image_uuid"].to_pylist(), table["text"].to_pylist())
    keyed = table.append_column("row_key", pa.array(keys.view(np.int64))).append_column(
        "lang_code", pa.array([["de", "en"].index(code) for code in langs], pa.int32()))
    got = pa.Table.from_batches(list(sample_keyed_batches(iter(keyed.to_batches(3000)), p,
                                                          ["de", "en"], got_stats)))
    assert got.equals(want) and 0 < got.num_rows < table.num_rows
    assert got_stats == pytest.approx(want_stats)
    with pytest.raises(ValueError, match="no counts"):
        list(sample_keyed_batches(iter(keyed.to_batches(3000)), {"en": p["en"]}, ["en", "fr"]))


def hand_table(sets, langs=None, uuids=None) -> pa.Table:
    n = len(sets)
    columns = {name: [None] * n for name in schemas.MATCHED.names}
    columns.update(image_uuid=uuids or [f"img{i:06d}" for i in range(n)],
                   url=[f"http://example.com/{i}.jpg" for i in range(n)],
                   text=[f"text {i}" for i in range(n)], text_source=["alt"] * n,
                   source_path=["hand"] * n, lang=langs or ["en"] * n,
                   matched_entry_ids=[sorted(s) for s in sets])
    return pa.Table.from_pydict(columns, schema=schemas.MATCHED)


# --------------------------------------------------------------------------------------
# The 10^6 pool (pure core)
# --------------------------------------------------------------------------------------

BIG_TEXTS, BIG_ENTRIES, BIG_T = 1_000_000, 50_000, 2000


@pytest.fixture(scope="module")
def big():
    """The pool and what the production keep rule keeps of it (the reference gives the same
    rows: test_keyed_batches_keep_what_sample_batches_keeps, on 20k rows)."""
    pool = zipf_pool(BIG_TEXTS, BIG_ENTRIES, rng_seed=1)
    pool["p"] = keep_probabilities(pool["counts"], BIG_T)
    out = run_keep_rule(pool["table"], pool["p"], SEED)
    pool["kept"] = np.zeros(BIG_TEXTS, dtype=bool)
    pool["kept"][text_numbers(out)] = True
    pool["kept_rows"] = out.num_rows
    return pool


@pytest.mark.slow
def test_big_pool_shape(big):
    """The pool the statistical tests below rely on: a real head and a long tail."""
    counts, lengths = big["counts"], big["lengths"]
    assert big["table"].num_rows == BIG_TEXTS
    assert lengths.min() == 1 and lengths.max() == 5
    assert (counts >= BIG_T).sum() >= 50
    assert ((counts > 0) & (counts < BIG_T)).sum() >= 10_000
    assert set(np.unique(big["image_sizes"][:-1])) == {1, 2, 3, 4, 5}
    assert big["kept_rows"] == big["kept"].sum()          # kept texts are distinct rows


@pytest.mark.slow
def test_head_entries_of_single_entry_texts_are_binomial(big):
    counts, p, lengths, kept = big["counts"], big["p"], big["lengths"], big["kept"]
    single = np.flatnonzero(lengths == 1)
    entry = big["flat"][big["offsets"][single]]
    n = np.bincount(entry, minlength=BIG_ENTRIES)
    k = np.bincount(entry[kept[single]], minlength=BIG_ENTRIES)
    head = np.flatnonzero(counts >= BIG_T)
    assert n[head].min() >= 200, "every head entry needs single-entry texts"
    mean = n[head] * p[head]
    sd = np.sqrt(n[head] * p[head] * (1 - p[head]))
    bad = np.flatnonzero(np.abs(k[head] - mean) > 4 * sd)
    assert not len(bad), [(int(head[i]), int(n[head[i]]), int(k[head[i]]), float(mean[i]))
                          for i in bad]


@pytest.mark.slow
def test_every_text_with_a_tail_entry_is_kept(big):
    counts, offsets, kept = big["counts"], big["offsets"], big["kept"]
    tail_match = counts[big["flat"]] < BIG_T
    has_tail = np.add.reduceat(tail_match.astype(np.int64), offsets[:-1]) > 0
    assert has_tail.sum() > 100_000
    assert kept[has_tail].all(), np.flatnonzero(has_tail & ~kept)[:10]


@pytest.mark.slow
def test_head_only_multi_entry_texts_follow_one_minus_product(big):
    """Texts with 2..5 entries, all of them head: kept count within 4 sigma of
    sum(1 - prod(1 - p[e])), for each number of entries."""
    counts, p, lengths, kept = big["counts"], big["p"], big["lengths"], big["kept"]
    head_only = np.add.reduceat((counts[big["flat"]] < BIG_T).astype(np.int64),
                                big["offsets"][:-1]) == 0
    q = row_keep_probability(big["table"]["matched_entry_ids"], p)
    for size in (2, 3, 4, 5):
        rows = head_only & (lengths == size)
        assert rows.sum() >= 500, size
        mean, sd = q[rows].sum(), math.sqrt((q[rows] * (1 - q[rows])).sum())
        assert abs(kept[rows].sum() - mean) <= 4 * sd, (size, int(kept[rows].sum()), mean, sd)
    # And the whole pool: expected_kept is that sum, and the realised size is near it.
    want = expected_kept(iter(big["table"].to_batches(65536)), {"en": counts},
                         {"en": np.array([BIG_T])}, "en")[0]
    assert want == pytest.approx(q.sum(), rel=1e-9)
    assert abs(big["kept_rows"] - want) <= 4 * math.sqrt((q * (1 - q)).sum())


@pytest.mark.slow
def test_image_unit_picks_each_text_position_uniformly(big):
    """The production pick (core.pick.TextPicker) over the pool sorted by image_uuid, in
    9,973-row batches (so images are split across batch ends): one row per image, one of
    its own texts, and for images of k = 2..5 texts the chosen position is uniform
    (chi-square, p = 0.001)."""
    table, image_of_text, sizes = big["table"], big["image_of_text"], big["image_sizes"]
    batch_rows = 9973
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    cut = np.arange(batch_rows, BIG_TEXTS, batch_rows)
    split = np.unique(image_of_text[cut][image_of_text[cut] == image_of_text[cut - 1]])
    assert len(split) >= 50, "some images must span a batch end"

    chosen = run_pick(table, SEED, batch_rows)
    rows = text_numbers(chosen)
    images = image_of_text[rows]
    assert chosen.num_rows == len(sizes)
    assert np.array_equal(np.sort(images), np.arange(len(sizes)))   # each image once
    assert pc.all(pc.equal(chosen["image_uuid"], table["image_uuid"].take(rows))).as_py()
    assert np.isin(split, images).all()
    position = big["position"][rows]
    assert np.all(position == rows - starts[images])
    for k in (2, 3, 4, 5):
        observed = np.bincount(position[sizes[images] == k], minlength=k)
        expected = observed.sum() / k
        assert observed.sum() >= 20_000
        chi2 = float(((observed - expected) ** 2 / expected).sum())
        assert chi2 < CHI2_999[k - 1], (k, observed.tolist(), chi2)


@pytest.mark.slow
def test_choose_texts_does_not_depend_on_batch_ends(big):
    """The first 30k rows in one batch, in 997-, 7- and 2-row batches (an image of 5
    texts then spans 3 batches), with empty batches between: the same picks."""
    table = big["table"].slice(0, 30_000)
    whole = pairs_of(run_choose_texts(table, SEED, 0))
    for rows in (997, 7, 2):
        batches = []
        for batch in table.to_batches(rows):
            batches += [batch, batch.slice(0, 0)]
        got = pa.Table.from_batches(list(choose_texts(iter(batches), SEED)))
        assert got.num_rows == len(whole) and pairs_of(got) == whole, rows


def test_choose_texts_takes_the_smallest_draw_by_hand():
    """Images of 2, 5 and 1 texts in 2-row batches: each image's text with the smallest
    text_draw, whatever the batch ends."""
    uuids = ["a"] * 2 + ["b"] * 5 + ["c"]
    table = hand_table([[0]] * 8, uuids=uuids)
    texts = table["text"].to_pylist()
    for seed in range(20):
        got = run_choose_texts(table, seed, 2)
        want = {u: min((t for v, t in zip(uuids, texts) if v == u),
                       key=lambda t, u=u: text_draw(seed, u, t)) for u in "abc"}
        assert dict(zip(got["image_uuid"].to_pylist(), got["text"].to_pylist())) == want


@pytest.mark.slow
def test_target_size_within_one_percent_on_the_big_pool(big):
    """t_for_size on expected_kept picks t; the keep rule at that t keeps N +- 1%
    (the realised size is also within 4 sigma of its expectation, a far tighter bound)."""
    table, counts = big["table"], big["counts"]
    target = 400_000

    def expected(ts):
        return expected_kept(iter(table.to_batches(65536)), {"en": counts},
                             {"en": np.asarray(ts)}, "en")

    t, size = t_for_size(expected, target, int(counts.max()) + 1)
    assert abs(size - target) <= 0.01 * target, (t, size)
    p = keep_probabilities(counts, t)
    realised = run_keep_rule(table, p, SEED).num_rows
    q = row_keep_probability(table["matched_entry_ids"], p)
    assert abs(realised - target) <= 0.01 * target, (t, size, realised)
    assert abs(realised - q.sum()) <= 4 * math.sqrt((q * (1 - q)).sum()), (t, realised)


# --------------------------------------------------------------------------------------
# Per-language t (ALGORITHM.md §6), by hand
# --------------------------------------------------------------------------------------

# English, t_en = 7: counts sum to 100; the tail (< 7) is 1 + 2 + 3 + 6 = 12, so p = 0.12.
EN_COUNTS = [1, 2, 3, 6, 8, 30, 50]
# German, unsorted, one entry without matches. Sorted: 0 4 6 9 11 20 50 (sum 100);
# cumulative shares 0 .04 .10 .19 .30 .50 1.0; |share - .12| is smallest (.02) at .10,
# the 3rd sorted count: t_de = 6.
DE_COUNTS = [50, 9, 0, 4, 20, 11, 6]
# French: ten entries of 3 (sum 30); shares .1 .2 ... 1.0; closest to .12 is .1: t_fr = 3.
FR_COUNTS = [3] * 10


def test_language_thresholds_by_hand():
    counts = {code: np.array(c) for code, c in
              (("en", EN_COUNTS), ("de", DE_COUNTS), ("fr", FR_COUNTS))}
    assert tail_proportion(counts["en"], 7) == pytest.approx(0.12)
    assert language_t(counts["de"], 0.12) == 6
    assert language_t(counts["fr"], 0.12) == 3
    assert thresholds(counts, 7) == {"en": 7, "de": 6, "fr": 3}
    # An override wins for its language; the others are still derived from English.
    assert thresholds(counts, 7, {"fr": 2}) == {"en": 7, "de": 6, "fr": 2}
    # English at t = 31: tail 1+2+3+6+8+30 = 50, p = .5; de: shares .30, .50 -> t_de = 20.
    assert thresholds(counts, 31, {"fr": 2}) == {"en": 31, "de": 20, "fr": 2}
    # English at t = 6: the entry counted 6 is head (count >= t), so the tail is 1+2+3 = 6,
    # p = .06; de: shares .04 and .10 -> .04 is closer, t_de = 4; fr: .1 -> t_fr = 3.
    assert tail_proportion(counts["en"], 6) == pytest.approx(0.06)
    assert thresholds(counts, 6) == {"en": 6, "de": 4, "fr": 3}


def test_language_thresholds_through_spark(spark, tmp_path):
    """run_count on an en + de matched set with those counts (one single-entry text per
    match, plus one English text matching entries 5 and 6) and metadata en.txt + de.txt:
    its _summary.json and report have t_en = 7 and the derived t_de = 6."""
    from curate.stages.count import run_count
    from curate.stages.io import SUMMARY_FILE, read_counts

    sets, langs = [], []
    for code, counts in (("en", EN_COUNTS), ("de", DE_COUNTS)):
        for entry, count in enumerate(counts):
            sets += [[entry]] * count
            langs += [code] * count
    # Two-entry texts too: entries 5 and 6 of English once more each, in one text.
    sets.append([5, 6])
    langs.append("en")
    matched = tmp_path / "matched"
    matched.mkdir()
    table = hand_table(sets, langs=langs)
    pq.write_table(table, matched / "part-0.parquet")
    metadata = tmp_path / "metadata"
    metadata.mkdir()
    for code, counts in (("en", EN_COUNTS), ("de", DE_COUNTS)):
        (metadata / f"{code}.txt").write_text(
            "".join(f"{code}-entry{i}\n" for i in range(len(counts))), "utf-8")

    report = run_count(spark, str(matched), str(tmp_path / "counts"),
                       CountOptions(str(metadata), Thresholds(t=7)))
    en = np.array(EN_COUNTS) + np.array([0, 0, 0, 0, 0, 1, 1])   # 31 and 51: still head
    got = read_counts(str(tmp_path / "counts"))
    assert got["en"].tolist() == en.tolist() and got["de"].tolist() == DE_COUNTS
    summary = json.loads((tmp_path / "counts" / SUMMARY_FILE).read_text("utf-8"))
    # English: tail 12 of 102 matches; p = 12/102 = .1176; de shares .10 is still closest.
    assert summary["languages"]["en"]["t"] == 7
    assert summary["languages"]["de"]["t"] == 6
    assert summary["languages"]["en"]["tail_proportion"] == pytest.approx(12 / 102)
    assert summary["languages"]["de"]["tail_proportion"] == pytest.approx(4 / 100)
    assert report.details["t"] == {"en": 7, "de": 6}
    assert report.rows_in == len(sets)

    # sample keeps, language by language at its own t, exactly the rows the core keeps
    # (the stage hands each row's language to Python as an index into the counted ones).
    from curate.stages.sample import run_sample

    p = {code: keep_probabilities(got[code], t) for code, t in (("en", 7), ("de", 6))}
    for seed in (SEED, SEED + 1):
        out = tmp_path / f"curated-{seed}"
        report = run_sample(spark, str(matched), str(out), sample_options(7, seed, "pair"),
                            counts=str(tmp_path / "counts"))
        want = pa.Table.from_batches(list(sample_batches(iter(table.to_batches(50)), p, "en",
                                                         seed)))
        assert curated_pairs(out) == pairs_of(want)
        assert 0 < report.rows_out < len(sets)


# --------------------------------------------------------------------------------------
# Through Spark: partitioning, re-runs, seeds, target size (~50k rows)
# --------------------------------------------------------------------------------------

SPARK_TEXTS, SPARK_ENTRIES, SPARK_T = 50_000, 3000, 300


@pytest.fixture(scope="module")
def one_split_per_file(spark):
    """Spark packs small files together (each costs a 4 MB "open cost"; the split size is
    a core's share of the total), so 16 files of ~80 kB would be 2 partitions. With 2 MB
    splits each file is a partition of its own and the 1.3 MB single file still one.
    Restored afterwards for the other test modules."""
    key = "spark.sql.files.maxPartitionBytes"
    before = spark.conf.get(key)
    spark.conf.set(key, str(2 * 1024 * 1024))
    yield
    spark.conf.set(key, before)


@pytest.fixture(scope="module")
def spark_pool(spark, tmp_path_factory, one_split_per_file):
    """The same ~50k matched rows as 1 Parquet file and as 16, each in another row order
    (so 1 vs 16 input partitions), each counted by run_count."""
    from curate.stages.count import run_count
    from curate.stages.io import read_counts

    root = tmp_path_factory.mktemp("balance_spark")
    pool = zipf_pool(SPARK_TEXTS, SPARK_ENTRIES, rng_seed=2)
    table = pool["table"]
    metadata = root / "metadata.txt"
    metadata.write_text("".join(f"entry{i}\n" for i in range(SPARK_ENTRIES)), "utf-8")
    rng = np.random.default_rng(3)
    for n_files in (1, 16):
        matched = root / f"matched{n_files}"
        matched.mkdir()
        shuffled = rng.permutation(SPARK_TEXTS)
        for k, part in enumerate(np.array_split(shuffled, n_files)):
            pq.write_table(table.take(part), matched / f"part-{k:02d}.parquet")
        assert spark.read.parquet(str(matched)).rdd.getNumPartitions() == n_files
        report = run_count(spark, str(matched), str(root / f"counts{n_files}"),
                           CountOptions(str(metadata), Thresholds(t=SPARK_T)))
        assert report.rows_in == SPARK_TEXTS
        got = read_counts(str(root / f"counts{n_files}"))
        assert got["en"].tolist() == pool["counts"].tolist(), n_files
    # As dedup and match write them: files of disjoint image_uuid ranges, sorted inside
    # (the pool is sorted by image_uuid), so sample picks in whole files without a shuffle.
    ordered = root / "matched16sorted"
    ordered.mkdir()
    cuts = image_boundaries(table, 16)
    for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
        pq.write_table(table.slice(a, b - a), ordered / f"part-{k:02d}.parquet")
    pool["root"] = root
    assert (pool["counts"] >= SPARK_T).sum() >= 15
    return pool


def curated_pairs(path) -> set[tuple[str, str]]:
    return pairs_of(pq.read_table(path, columns=["image_uuid", "text"]))


def reference_units(table: pa.Table, unit: str, seed: int) -> pa.Table:
    """The rows the keep rule runs on, by the pure core: every row, or one per image."""
    return table if unit == "pair" else run_choose_texts(table, seed, 8192)


@pytest.mark.parametrize("unit", ["image", "pair"])
def test_spark_sample_does_not_depend_on_partitioning_reruns_or_seed_size(spark, spark_pool,
                                                                          unit):
    from curate.stages.io import SUMMARY_FILE
    from curate.stages.sample import run_sample

    root, table, counts = spark_pool["root"], spark_pool["table"], spark_pool["counts"]
    p = keep_probabilities(counts, SPARK_T)
    n_images = len(spark_pool["image_sizes"])

    def sample(n_files, seed, name):
        out = root / f"{unit}-{name}"
        report = run_sample(spark, str(root / f"matched{n_files}"), str(out),
                            sample_options(SPARK_T, seed, unit),
                            counts=str(root / f"counts{str(n_files).replace('sorted', '')}"))
        summary = json.loads((out / SUMMARY_FILE).read_text("utf-8"))
        sorted_input = str(n_files).endswith("sorted")
        assert summary["image_pick"] == (None if unit == "pair" else
                                         "sorted_files" if sorted_input else "shuffle")
        pairs = curated_pairs(out)
        assert report.rows_out == summary["size"] == len(pairs)
        assert report.rows_in == SPARK_TEXTS
        units = SPARK_TEXTS if unit == "pair" else n_images
        assert report.dropped["not_sampled"] == units - len(pairs)
        if unit == "image":
            assert report.dropped["other_text_of_image"] == SPARK_TEXTS - n_images
            assert len({u for u, _ in pairs}) == len(pairs)          # one text per image
        return pairs, summary

    one, summary_one = sample(1, SEED, "1")
    sixteen, _ = sample(16, SEED, "16")
    assert one == sixteen
    assert sample("16sorted", SEED, "16sorted")[0] == one
    rerun, _ = sample(1, SEED, "1")                                   # same output dir again
    assert rerun == one
    other, summary_other = sample(1, SEED + 1, "1-other-seed")
    assert other != one

    for seed, got, summary in ((SEED, one, summary_one), (SEED + 1, other, summary_other)):
        units = reference_units(table, unit, seed)
        want = expected_kept(iter(units.to_batches(8192)), {"en": counts},
                             {"en": np.array([SPARK_T])}, "en")[0]
        q = row_keep_probability(units["matched_entry_ids"], p)
        assert want == pytest.approx(q.sum(), rel=1e-9)
        assert summary["expected_size"] == pytest.approx(want, abs=0.06)
        assert summary["t"] == {"en": SPARK_T}
        assert abs(len(got) - want) <= 4 * math.sqrt((q * (1 - q)).sum()), (seed, len(got))
        # The very pairs the pure core keeps.
        assert got == pairs_of(run_sample_batches(units, p, seed, 8192))
    # About the same size, yet another set: a share of the pairs differ.
    assert len(one ^ other) > 0.05 * len(one)


def test_spark_target_size(spark, spark_pool):
    """--target-size N through run_sample: expected_size within 1% of N; the realised size
    within 4 sigma of expected_size (4 sigma is ~1.4% of N here, so not within 1% of N)."""
    from curate.stages.io import SUMMARY_FILE
    from curate.stages.sample import run_sample

    root, table, counts = spark_pool["root"], spark_pool["table"], spark_pool["counts"]
    target = 20_000
    out = root / "target"
    report = run_sample(spark, str(root / "matched1"), str(out),
                        SampleOptions(seed=SEED, unit="pair", target_size=target),
                        counts=str(root / "counts1"))
    summary = json.loads((out / SUMMARY_FILE).read_text("utf-8"))
    t = summary["t"]["en"]
    assert summary["target_size"] == target
    assert abs(summary["expected_size"] - target) <= 0.01 * target, summary
    p = keep_probabilities(counts, t)
    q = row_keep_probability(table["matched_entry_ids"], p)
    assert summary["expected_size"] == pytest.approx(q.sum(), abs=0.06)
    assert report.rows_out == summary["size"] == curated_pairs(out).__len__()
    assert abs(summary["size"] - q.sum()) <= 4 * math.sqrt((q * (1 - q)).sum()), summary


def test_spark_sample_files_are_flat_bounded_and_the_sessions_codec(spark, spark_pool):
    """The tasks write the kept rows themselves (stages.task_files): flat files of at most
    max_rows_per_file rows, Spark's codec of the session (zstd in conf/spark-local.conf),
    the same rows as the core keeps, nothing left of the attempts."""
    from curate.stages.io import SUMMARY_FILE
    from curate.stages.sample import run_sample

    root, table, counts = spark_pool["root"], spark_pool["table"], spark_pool["counts"]
    out = root / "bounded"
    report = run_sample(spark, str(root / "matched1"), str(out),
                        SampleOptions(Thresholds(SPARK_T), SEED, "pair", max_rows_per_file=4000),
                        counts=str(root / "counts1"))
    files = sorted(p for p in out.iterdir() if p.suffix == ".parquet")
    assert sorted(p.name for p in out.iterdir() if p not in files) == [
        "_curate_stage.json", SUMMARY_FILE]
    sizes = [pq.ParquetFile(p).metadata.num_rows for p in files]
    assert max(sizes) == 4000 and sum(sizes) == report.rows_out
    assert len(files) > report.rows_out // 4000
    assert {pq.ParquetFile(p).metadata.row_group(0).column(2).compression for p in files} == {
        "ZSTD"}
    p = keep_probabilities(counts, SPARK_T)
    assert curated_pairs(out) == pairs_of(run_sample_batches(table, p, SEED, 8192))


def test_spark_image_pick_in_whole_files_and_its_fallbacks(spark, spark_pool):
    """--unit image on one sorted file of many row groups and small splits (one task reads
    it whole all the same) picks in whole files; on files whose ranges are disjoint by
    their footers but one of them not sorted inside, the tasks see it and the stage takes
    the shuffle; files that share an image (cut at a row number) overlap by their footers
    and take the shuffle at once. All keep the very pairs the pure core keeps, and leave
    nothing but the output's files."""
    from curate.stages.io import SUMMARY_FILE
    from curate.stages.sample import files_hold_disjoint_images, run_sample

    root, table, counts = spark_pool["root"], spark_pool["table"], spark_pool["counts"]
    want = pairs_of(run_sample_batches(reference_units(table, "image", SEED),
                                       keep_probabilities(counts, SPARK_T), SEED, 8192))
    whole = root / "matched1sorted"
    whole.mkdir()
    pq.write_table(table, whole / "part-0.parquet", row_group_size=1000)
    unsorted = root / "matched2unsorted"
    unsorted.mkdir()
    half = image_boundaries(table, 2)[1]
    rows = np.arange(half)
    rows[[10, 5000]] = rows[[5000, 10]]
    pq.write_table(table.take(rows), unsorted / "part-0.parquet")
    pq.write_table(table.slice(half), unsorted / "part-1.parquet")
    assert files_hold_disjoint_images(str(unsorted))   # only the tasks can tell
    straddling = root / "matched2straddling"
    straddling.mkdir()
    cut = half - 1 if table["image_uuid"][half - 1] == table["image_uuid"][half - 2] else half + 1
    assert table["image_uuid"][cut] == table["image_uuid"][cut - 1]   # an image cut in two
    pq.write_table(table.slice(0, cut), straddling / "part-0.parquet")
    pq.write_table(table.slice(cut), straddling / "part-1.parquet")
    assert not files_hold_disjoint_images(str(straddling))
    key = "spark.sql.files.maxPartitionBytes"
    before = spark.conf.get(key)
    spark.conf.set(key, str(64 * 1024))
    try:
        assert spark.read.parquet(str(whole)).rdd.getNumPartitions() > 4
        for matched, pick in ((whole, "sorted_files"), (unsorted, "shuffle"),
                              (straddling, "shuffle")):
            out = root / f"image-{matched.name}"
            report = run_sample(spark, str(matched), str(out),
                                sample_options(SPARK_T, SEED, "image"),
                                counts=str(root / "counts1"))
            summary = json.loads((out / SUMMARY_FILE).read_text("utf-8"))
            assert summary["image_pick"] == pick
            assert curated_pairs(out) == want
            assert report.rows_in == SPARK_TEXTS and report.rows_out == len(want)
            assert report.dropped["other_text_of_image"] == SPARK_TEXTS - len(
                spark_pool["image_sizes"])
            assert sorted(p.name for p in out.iterdir() if p.suffix != ".parquet") == [
                "_curate_stage.json", SUMMARY_FILE]
        assert spark.conf.get(key) == str(64 * 1024)   # the whole-file setting is undone
    finally:
        spark.conf.set(key, before)


@pytest.mark.parametrize("unit", ["image", "pair"])
def test_spark_sample_of_no_rows_is_one_empty_file(spark, spark_pool, unit):
    """An empty matched set (a file with no rows): no row in, none out, one empty file
    with the curated schema; for --unit image the pick in whole files has nothing to pick."""
    from curate.stages.io import SUMMARY_FILE
    from curate.stages.sample import run_sample

    root = spark_pool["root"]
    empty = root / "matched-empty"
    empty.mkdir(exist_ok=True)
    pq.write_table(spark_pool["table"].slice(0, 0), empty / "part-0.parquet")
    out = root / f"curated-empty-{unit}"
    report = run_sample(spark, str(empty), str(out), sample_options(SPARK_T, SEED, unit),
                        counts=str(root / "counts1"))
    assert (report.rows_in, report.rows_out) == (0, 0)
    assert sum(report.dropped.values()) == 0
    files = sorted(out.glob("*.parquet"))
    assert len(files) == 1 and pq.read_table(files[0]).schema.equals(schemas.CURATED)
    summary = json.loads((out / SUMMARY_FILE).read_text("utf-8"))
    assert summary["size"] == 0
    assert summary["image_pick"] == ("sorted_files" if unit == "image" else None)
