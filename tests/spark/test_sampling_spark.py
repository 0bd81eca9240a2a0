"""The sample stage's JVM side against the pure core: Spark's xxhash64 row keys and text
draws equal row_keys and text_draws, and the pick after a shuffle equals choose_texts."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from curate import schemas
from curate.core.extract.text import image_uuid
from curate.core.sampling import DRAW_SALT, text_draws
from curate.core.reference import choose_texts, keep_pair, row_keys, sample_batches, text_draw
from sampling_helpers import real_pairs  # noqa: F401


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
    from curate.stages.sample import candidates_of, keyed_rows

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
        units, layout = candidates_of(keyed_rows(df.repartition(7), seed, ["en"], "en"), "image",
                                 "shuffle")
        assert layout == "shuffle"
        chosen = units.collect()
        got = sorted((r.image_uuid, r.url, r.text, r.lang, list(r.matched_entry_ids))
                     for r in chosen)
        ordered = table.sort_by("image_uuid")
        want = pa.Table.from_batches(list(choose_texts(iter(ordered.to_batches(97)), seed)))
        assert got == sorted(tuple(r.values())[:5] for r in want.to_pylist())
        assert len(got) == 400
