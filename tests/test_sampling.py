"""Balanced sampling: the coins themselves, and sample_batches keeping exactly the rows
keep_pair keeps. The keep rule by hand, binomial bounds on a 10^6-text Zipf pool, the
per-image draw, per-language t, --target-size and partition independence through Spark
are in test_balance.py."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from curate import schemas
from curate.sampling import coin, keep_pair, keep_probabilities, sample_batches

N_ENTRIES, N_TEXTS, T = 3000, 120_000, 400


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
