"""Balanced sampling against ALGORITHM.md §5 and §6, on the pure core.

* the keep rule 1 - prod(1 - p[e]) on hand-computed cases, multi-entry texts included;
* a synthetic pool of 10^6 texts (1-5 Zipf-distributed entries each, grouped into images
  of 1-5 texts): binomial bounds on the head entries' single-entry texts, every text with
  a tail entry kept, the per-image pick uniform over an image's texts (chi-square), and
  --target-size by t_for_size within 1% of N, all on the production path (the tasks' keep
  rule and TextPicker; the reference gives the same rows on smaller pools);
* per-language t (§6) on a hand-computed example.
Through Spark: tests/spark/test_balance_spark.py.
"""
from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from curate.core.reference import (choose_texts, coin, keep_pair, row_keys, sample_batches,
                                   text_draw)
from curate.core.pick import TextPicker
from curate.core.sampling import (expected_kept, keep_probabilities, language_t,
                                  sample_keyed_batches, t_for_size, tail_proportion,
                                  thresholds)

from balance_helpers import (CHI2_999, SEED, zipf_pool, row_keep_probability, text_numbers,
                             keyed, run_keep_rule, run_pick, run_choose_texts, pairs_of,
                             HAND_T, HAND_COUNTS, HAND_P, HAND_SETS, hand_table, BIG_TEXTS,
                             BIG_ENTRIES, BIG_T, EN_COUNTS, DE_COUNTS, FR_COUNTS)  # noqa: F401


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
