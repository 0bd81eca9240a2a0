"""core.counting: a partition's texts and count vectors are np.bincount's over its matched
ids per language, whatever the batches; the sparse form a task sends round-trips; merged
totals add up."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from curate import schemas
from curate.core.counting import dense, merge_totals, partition_entry_counts, sparse


def matched_batch(sets, langs) -> pa.RecordBatch:
    n = len(sets)
    columns = {name: pa.nulls(n, f.type) for name, f in zip(schemas.MATCHED.names,
                                                           schemas.MATCHED)}
    columns.update(lang=pa.array(langs, pa.string()),
                   matched_entry_ids=pa.array(sets, schemas.MATCHED.field(
                       "matched_entry_ids").type))
    return pa.RecordBatch.from_pydict(columns, schema=schemas.MATCHED)


def test_partition_counts_are_bincounts_per_language():
    rng = np.random.default_rng(4)
    sets = [sorted(set(rng.integers(0, 50, size=int(rng.integers(1, 4))).tolist()))
            for _ in range(3000)]
    langs = [None if i % 7 == 0 else "de" if i % 3 == 0 else "en" for i in range(3000)]
    batches = [matched_batch(sets[a:a + 250], langs[a:a + 250]) for a in range(0, 3000, 250)]
    texts, vectors = partition_entry_counts(iter(batches), {"en": 50, "de": 60}, "en")
    for code, size in (("en", 50), ("de", 60)):
        own = [s for s, lang in zip(sets, langs) if (lang or "en") == code]
        assert texts[code] == len(own)
        want = np.bincount([i for s in own for i in s], minlength=size)
        assert vectors[code].tolist() == want.tolist()
        assert dense(*sparse(vectors[code]), size).tolist() == want.tolist()
    assert partition_entry_counts(iter([]), {"en": 50}, "en") == ({}, {})


def test_merged_totals_add_up_and_leave_the_parts_alone():
    a = {"en": (2, np.array([1, 0, 3]))}
    b = {"en": (1, np.array([0, 2, 1])), "de": (4, np.array([5]))}
    merged = merge_totals(merge_totals({}, a), b)
    assert merged["en"][0] == 3 and merged["en"][1].tolist() == [1, 2, 4]
    assert merged["de"][0] == 4 and merged["de"][1].tolist() == [5]
    assert a["en"][1].tolist() == [1, 0, 3]     # merge_totals({}, a) copied a's vector
