"""Pools and real texts shared by tests/core/test_sampling.py and
tests/spark/test_sampling_spark.py."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from curate import schemas
from curate.core.extract.text import image_uuid
from conftest import DATA

N_ENTRIES, N_TEXTS, T = 3000, 120_000, 400


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


def matched_table(sets) -> pa.Table:
    n = len(sets)
    columns = {name: [None] * n for name in schemas.MATCHED.names}
    columns.update(image_uuid=[f"img{i}" for i in range(n)],
                   url=[f"http://example.com/{i}.jpg" for i in range(n)],
                   text=[f"text {i}" for i in range(n)], text_source=["alt"] * n,
                   source_path=["synthetic"] * n, matched_entry_ids=sets)
    return pa.Table.from_pydict(columns, schema=schemas.MATCHED)


# --- the Python hashes are Spark's xxhash64 ---------------------------------------------

def real_pairs() -> list[tuple[str, str]]:
    """(image_uuid, caption) of 3,000 real caption rows, plus texts at the hash's length
    boundaries (4, 8, 32 bytes), non-ASCII ones and the empty text."""
    path = DATA / "captions" / "Validation_GCC-1.1.0-Validation.tsv"
    with open(path, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for _, line in zip(range(3000), f)]
    pairs = [(image_uuid(url), caption) for caption, url in rows]
    odd = ["", "a", "abc", "abcd", "abcdefg", "abcdefgh", "x" * 31, "x" * 32, "x" * 33, "x" * 64,
           "une tasse de café", "猫が座っている", "кошка на диване", "🐱 cat", "tab\there"]
    return pairs + [(image_uuid(f"http://h.org/{i}.jpg"), text) for i, text in enumerate(odd)]
