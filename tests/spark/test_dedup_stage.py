"""The dedup stage on Spark: which row of a duplicate group is kept (the first in the order
of all its columns), the same whatever the shuffle's partitions and the input's files, and
the counts of its report taken apart (rows in, kept, duplicates, written)."""
from __future__ import annotations

import datetime as dt
import random

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate import schemas
from curate.stages.dedup import run_dedup
from curate.stages.io import read_report

REST = [c for c in schemas.PAIRS.names if c not in ("image_uuid", "text")]


def duplicate_groups(seed: int = 5) -> list[dict]:
    """Groups of 1 to 6 copies of (image_uuid, text) whose other columns differ in every
    place the order can be decided: the url's whitespace (same image_uuid), the text
    source, a null or another page, file, offset, crawl, fetch time and language; some
    copies are identical rows."""
    draw = random.Random(seed)
    rows = []
    for g in range(300):
        uuid, text = f"{draw.getrandbits(96):024x}", draw.choice(["a cat", "a dog", "logo"])
        for _ in range(draw.randint(1, 6)):
            row = {"image_uuid": uuid, "text": text,
                   "url": draw.choice([f"http://img.example/{g}.jpg",
                                       f"http://img.example/ {g}.jpg"]),
                   "text_source": draw.choice(schemas.TEXT_SOURCES),
                   "page_url": draw.choice([None, "http://a.example/", "http://b.example/"]),
                   "source_path": draw.choice(["s3://cc/x.wat.gz", "s3://cc/y.wat.gz"]),
                   "source_offset": draw.choice([None, 0, 17, 1 << 40]),
                   "crawl": draw.choice([None, "CC-MAIN-2024-10", "CC-MAIN-2024-33"]),
                   "fetch_time": draw.choice([None, dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                                              dt.datetime(2023, 5, 1, tzinfo=dt.UTC)]),
                   "lang": draw.choice([None, "en"])}
            rows.append(row)
            if draw.random() < 0.1:
                rows.append(dict(row))
    draw.shuffle(rows)
    return rows


def write_pairs(rows: list[dict], directory, files: int) -> None:
    directory.mkdir()
    for i in range(files):
        part = rows[i::files]
        pq.write_table(pa.Table.from_pylist(part, schema=schemas.PAIRS),
                       directory / f"part-{i:03d}.parquet")


def smallest_by_value(rows: list[dict]) -> set[tuple]:
    """Per (image_uuid, text), the row first in the order of the other columns, nulls
    first (Spark's ascending order), as tuples of every column."""
    def key(row):
        return tuple((row[c] is not None, row[c]) for c in REST)
    best = {}
    for row in rows:
        k = (row["image_uuid"], row["text"])
        if k not in best or key(row) < key(best[k]):
            best[k] = row
    return {tuple(r[c] for c in schemas.PAIRS.names) for r in best.values()}


def as_tuples(directory) -> list[tuple]:
    table = pq.read_table(directory, schema=schemas.PAIRS)
    return [tuple(r[c] for c in schemas.PAIRS.names) for r in table.to_pylist()]


@pytest.mark.parametrize("partitions,files", [(1, 1), (3, 7), (8, 2)])
def test_dedup_keeps_the_first_row_by_value_whatever_the_partitioning(
        spark, tmp_path, partitions, files):
    rows = duplicate_groups()
    write_pairs(rows, tmp_path / "pairs", files)
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    spark.conf.set("spark.sql.adaptive.coalescePartitions.enabled", "false")
    try:
        report = run_dedup(spark, str(tmp_path / "pairs"), str(tmp_path / "dedup"), quiet=True)
    finally:
        spark.conf.unset("spark.sql.shuffle.partitions")
        spark.conf.unset("spark.sql.adaptive.coalescePartitions.enabled")
    kept = as_tuples(tmp_path / "dedup")
    expected = smallest_by_value(rows)
    assert len(kept) == len(set(kept)) == len(expected)
    assert set(kept) == expected
    assert (report.rows_in, report.rows_out, report.dropped) == \
        (len(rows), len(expected), {"duplicate": len(rows) - len(expected)})
    assert read_report(str(tmp_path / "dedup")).rows_out == len(expected)
    # files of disjoint image_uuid ranges, each sorted
    ranges = []
    for file in sorted((tmp_path / "dedup").glob("*.parquet")):
        uuids = pd.read_parquet(file, columns=["image_uuid"]).image_uuid.tolist()
        assert uuids == sorted(uuids)
        if uuids:
            ranges.append((uuids[0], uuids[-1]))
    ranges.sort()
    assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:]))
    assert len(ranges) == partitions
