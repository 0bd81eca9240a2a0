"""Balanced sampling against ALGORITHM.md §5: hand-computed probabilities, binomial
bounds on a synthetic Zipf pool, and output that does not depend on partitioning."""
from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate import schemas
from curate.sampling import Balance, coin, keep_pair, keep_probabilities, sample_batches

N_ENTRIES, N_TEXTS, T = 3000, 120_000, 400


def test_keep_probabilities_by_hand():
    p = keep_probabilities(np.array([0, 1, 399, 400, 800, 4000]), 400)
    assert p.tolist() == [1.0, 1.0, 1.0, 1.0, 0.5, 0.1]


def test_coin_is_fixed_by_its_arguments_and_uniform():
    assert coin(0, "u", "a cat", 3) == coin(0, "u", "a cat", 3)
    assert coin(0, "u", "a cat", 3) != coin(1, "u", "a cat", 3)
    assert coin(0, "u", "a cat", 3) != coin(0, "u", "a cat", 4)
    values = np.array([coin(7, f"img{i}", "text", 1) for i in range(20_000)])
    assert values.min() >= 0.0 and values.max() < 1.0
    # Kolmogorov-Smirnov distance of 20k uniform draws is below 0.02 with p > 0.999.
    ks = np.max(np.abs(np.sort(values) - np.arange(1, len(values) + 1) / len(values)))
    assert ks < 0.02


def synthetic_pool(seed=1):
    """Texts with 1-3 entries drawn from a Zipf law over N_ENTRIES entries."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, N_ENTRIES + 1) ** 1.1
    weights /= weights.sum()
    sizes = rng.choice([1, 1, 1, 2, 3], size=N_TEXTS)
    draws = rng.choice(N_ENTRIES, size=sizes.sum(), p=weights)
    sets, start = [], 0
    for size in sizes:
        sets.append(sorted(set(draws[start:start + size].tolist())))
        start += size
    counts = np.bincount([e for s in sets for e in s], minlength=N_ENTRIES)
    return sets, counts


@pytest.fixture(scope="module")
def pool():
    sets, counts = synthetic_pool()
    p = keep_probabilities(counts, T)
    kept = [keep_pair(0, f"img{i}", f"text {i}", s, p) for i, s in enumerate(sets)]
    return sets, counts, p, kept


def test_head_entries_of_single_entry_texts_are_binomial(pool):
    sets, counts, p, kept = pool
    head = np.flatnonzero(counts >= T)
    assert len(head) >= 20, "the pool must have a real head"
    for e in head:
        rows = [i for i, s in enumerate(sets) if s == [e]]
        n, k = len(rows), sum(kept[i] for i in rows)
        mean, sd = n * p[e], math.sqrt(n * p[e] * (1 - p[e]))
        assert abs(k - mean) <= 4 * sd + 1e-9, (e, n, k, mean, sd)


def test_every_text_with_a_tail_entry_is_kept(pool):
    sets, counts, p, kept = pool
    with_tail = [i for i, s in enumerate(sets) if any(counts[e] < T for e in s)]
    assert len(with_tail) > 1000
    assert all(kept[i] for i in with_tail)


def test_multi_entry_head_texts_follow_one_minus_product(pool):
    sets, counts, p, kept = pool
    rows = [i for i, s in enumerate(sets) if len(s) > 1 and all(counts[e] >= T for e in s)]
    probs = np.array([1 - np.prod([1 - p[e] for e in sets[i]]) for i in rows])
    k = sum(kept[i] for i in rows)
    sd = math.sqrt((probs * (1 - probs)).sum())
    assert len(rows) > 1000
    assert abs(k - probs.sum()) <= 4 * sd


def test_sample_batches_keeps_the_rows_keep_pair_keeps(pool):
    sets, counts, p, kept = pool
    table = matched_table(sets[:5000])
    out = pa.Table.from_batches(list(sample_batches(iter(table.to_batches(1000)),
                                                    {"en": p}, "en", 0)))
    assert out.schema.names == schemas.CURATED.names
    assert out["image_uuid"].to_pylist() == [f"img{i}" for i in range(5000) if kept[i]]


def matched_table(sets) -> pa.Table:
    n = len(sets)
    columns = {name: [None] * n for name in schemas.MATCHED.names}
    columns.update(image_uuid=[f"img{i}" for i in range(n)],
                   url=[f"http://example.com/{i}.jpg" for i in range(n)],
                   text=[f"text {i}" for i in range(n)], text_source=["alt"] * n,
                   source_path=["synthetic"] * n, matched_entry_ids=sets)
    return pa.Table.from_pydict(columns, schema=schemas.MATCHED)


def test_spark_count_and_sample_do_not_depend_on_partitioning(spark, tmp_path, pool):
    from curate.stages.count import read_counts, run_count
    from curate.stages.sample import run_sample

    sets, counts, p, kept = pool
    subset = sets[:40_000]
    metadata = tmp_path / "metadata.txt"
    metadata.write_text("".join(f"entry{i}\n" for i in range(N_ENTRIES)), "utf-8")
    table = matched_table(subset)
    results = []
    for n_files in (1, 7):
        matched = tmp_path / f"matched{n_files}"
        matched.mkdir()
        for k, part in enumerate(np.array_split(np.arange(len(subset)), n_files)):
            pq.write_table(table.take(part[::-1]), matched / f"part-{k}.parquet")
        run_count(spark, str(matched), str(tmp_path / f"counts{n_files}"), str(metadata))
        got = read_counts(spark, str(tmp_path / f"counts{n_files}"))["en"]
        assert got.tolist() == np.bincount([e for s in subset for e in s],
                                           minlength=N_ENTRIES).tolist()
        report = run_sample(spark, str(matched), str(tmp_path / f"counts{n_files}"),
                            str(tmp_path / f"curated{n_files}"),
                            Balance(t=T // 3, seed=5, unit="pair"))
        curated = pq.read_table(tmp_path / f"curated{n_files}")
        results.append(sorted(curated["image_uuid"].to_pylist()))
        assert report.rows_out == curated.num_rows
        assert report.rows_in == len(subset) == report.rows_out + report.dropped["not_sampled"]
    assert results[0] == results[1]
    p_small = keep_probabilities(np.bincount([e for s in subset for e in s],
                                             minlength=N_ENTRIES), T // 3)
    expected = [f"img{i}" for i, s in enumerate(subset)
                if keep_pair(5, f"img{i}", f"text {i}", s, p_small)]
    assert results[0] == sorted(expected)
