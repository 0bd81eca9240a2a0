"""Balanced sampling: the coins themselves, and sample_batches keeping exactly the rows
keep_pair keeps. The keep rule by hand, binomial bounds on a 10^6-text Zipf pool, the
per-image draw, per-language t, --target-size and partition independence through Spark
are in test_balance.py."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from curate import schemas
from curate.core.extract.text import image_uuid
from curate.core.sampling import DRAW_SALT, keep_probabilities, text_draws
from curate.core.reference import (choose_texts, coin, keep_pair, row_keys, sample_batches,
                                   text_draw)
from conftest import DATA

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


@pytest.mark.parametrize("seed", [0, 7, -5, 2**40])
def test_row_keys_and_draws_equal_sparks_xxhash64(spark, seed):
    """The Spark stage computes row keys and text draws in the JVM and the pure core in
    Python (the draws also from the keys, in numpy, as the stage's tasks do): the same
    numbers, on every real caption and the odd texts."""
    pairs = real_pairs()
    df = spark.createDataFrame(pairs, "image_uuid string, text string")
    from pyspark.sql import functions as F

    from curate.stages.sample import row_key_column

    # The draw, defined as Spark's xxhash64 of (DRAW_SALT, row key): what text_draws computes.
    draw = F.xxhash64(F.lit(DRAW_SALT).cast("long"), row_key_column(seed))
    got = df.select(row_key_column(seed).alias("key"), draw.alias("draw"),
                    "image_uuid", "text").collect()
    assert [(r.image_uuid, r.text) for r in got] == pairs
    keys = row_keys(seed, [u for u, _ in pairs], [t for _, t in pairs]).view(np.int64)
    assert [r.key for r in got] == keys.tolist()
    assert [r.draw for r in got] == [text_draw(seed, u, t) for u, t in pairs]
    assert [r.draw for r in got] == text_draws(keys.view(np.uint64)).tolist()
    assert len(set(keys.tolist())) == len(set(pairs))     # no collision among these


def test_image_unit_choice_in_spark_equals_choose_texts(spark):
    """The stage picks each image's text after a shuffle by image_uuid (core.pick.TextPicker
    in the tasks, the rows keyed in the JVM), the reference by choose_texts: the same rows,
    also where only the tie-breaks decide (rows repeating an (image_uuid, text) with another
    url, lang or entry ids, nulls included)."""
    from curate.stages.sample import keyed_rows, units_of

    rows = []
    for i in range(400):
        uuid = image_uuid(f"http://h.org/{i}.jpg")
        for k in range(1 + i % 4):
            rows.append((uuid, f"http://h.org/{i}.jpg", f"text {k} of {i}", "en", [k]))
        if i % 5 == 0:   # exact repeats of one (image_uuid, text): only tie-breaks decide
            for url, lang, ids in ((f"http://b.org/{i}.jpg", "en", [1]),
                                   (f"http://a.org/{i}.jpg", None, [2]),
                                   (f"http://a.org/{i}.jpg", "en", [0, 3]),
                                   (f"http://a.org/{i}.jpg", "en", [0])):
                rows.append((uuid, url, f"text 0 of {i}", lang, ids))
    table = pa.Table.from_pylist(
        [dict(zip(schemas.CURATED.names, row)) for row in rows], schema=schemas.CURATED)
    df = spark.createDataFrame(table.to_pandas(), schema=schemas.spark_schema(schemas.CURATED))
    for seed in (0, 3):
        units, layout = units_of(keyed_rows(df.repartition(7), seed, ["en"], "en"), "image",
                                 "shuffle")
        assert layout == "shuffle"
        chosen = units.collect()
        got = sorted((r.image_uuid, r.url, r.text, r.lang, list(r.matched_entry_ids))
                     for r in chosen)
        ordered = table.sort_by("image_uuid")
        want = pa.Table.from_batches(list(choose_texts(iter(ordered.to_batches(97)), seed)))
        assert got == sorted(tuple(r.values()) for r in want.to_pylist())
        assert len(got) == 400
