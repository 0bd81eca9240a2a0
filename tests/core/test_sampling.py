"""Balanced sampling: the coins themselves, and sample_batches keeping exactly the rows
keep_pair keeps. The keep rule by hand, binomial bounds on a 10^6-text Zipf pool, the
per-image draw, per-language t and --target-size are in test_balance.py; the JVM's keys
and draws against the core's in tests/spark/test_sampling_spark.py."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from curate import schemas
from curate.core.extract.text import image_uuid
from curate.core.sampling import keep_probabilities
from curate.core.reference import coin, keep_pair, sample_batches
from sampling_helpers import T, synthetic_pool, matched_table  # noqa: F401


def test_coin_is_fixed_by_its_arguments_and_uniform():
    assert coin(0, "u", "a cat", 3) == coin(0, "u", "a cat", 3)
    assert coin(0, "u", "a cat", 3) != coin(1, "u", "a cat", 3)
    assert coin(0, "u", "a cat", 3) != coin(0, "u", "a cat", 4)
    values = np.array([coin(7, f"img{i}", "text", 1) for i in range(20_000)])
    assert values.min() >= 0.0 and values.max() < 1.0
    # Kolmogorov-Smirnov distance of 20k uniform draws is below 0.02 with p > 0.999.
    ks = np.max(np.abs(np.sort(values) - np.arange(1, len(values) + 1) / len(values)))
    assert ks < 0.02


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
