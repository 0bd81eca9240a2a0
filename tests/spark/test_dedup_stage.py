"""The dedup stage on Spark: which row of a duplicate group is kept (the first in the order
of all its columns), the same whatever the shuffle's partitions, the input's files and the
way the rows are cut into image_uuid ranges (from the uuids' hex for extract's rows,
sampled for any other input), and the counts of its report taken apart (rows in, kept,
duplicates, written)."""
from __future__ import annotations

import datetime as dt
import random
import uuid as uuids
from contextlib import contextmanager

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate import schemas
from curate.core import hash_slots
from curate.options import ExtractOptions
from curate.stages import dedup
from curate.stages.dedup import run_dedup
from curate.stages.extract import run_extract
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
                   # (numbered through the shuffle: the numbers must sort as the paths'
                   # UTF-8 bytes do, as Spark sorts strings: case, accents, a BMP
                   # character above the surrogates against one beyond the BMP)
                   "source_path": draw.choice(["s3://cc/x.wat.gz", "s3://cc/y.wat.gz",
                                               "s3://cc/Y.wat.gz", "s3://cc/\u00e9.wat.gz",
                                               "s3://cc/\uff21.wat.gz",
                                               "s3://cc/\U0001f600.wat.gz"]),
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


@contextmanager
def settings(spark, **values):
    """Spark settings for the block (keys with "_" for "."), unset afterwards."""
    keys = {k.replace("_", "."): str(v) for k, v in values.items()}
    for key, value in keys.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key in keys:
            spark.conf.unset(key)


def partitions_apart(spark, partitions: int):
    """`partitions` shuffle partitions, none joined by AQE: one file per range."""
    return settings(spark, **{"spark_sql_shuffle_partitions": partitions,
                              "spark_sql_adaptive_coalescePartitions_enabled": "false"})


def image_files(directory) -> list[list[str]]:
    """The image_uuids of each Parquet file of `directory`, file by file."""
    return [pd.read_parquet(file, columns=["image_uuid"]).image_uuid.tolist()
            for file in sorted(directory.glob("*.parquet"))]


def assert_sorted_disjoint_ranges(directory) -> list[tuple[str, str]]:
    """Each file sorted, the files' ranges disjoint, every image in one file; the ranges
    (first, last) of the files with rows."""
    files = [uuids for uuids in image_files(directory) if uuids]
    assert all(uuids == sorted(uuids) for uuids in files)
    ranges = sorted((uuids[0], uuids[-1]) for uuids in files)
    assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:]))
    homes = {}
    for i, uuids in enumerate(files):
        for uuid in uuids:
            assert homes.setdefault(uuid, i) == i, f"{uuid} is in two files"
    return ranges


@pytest.mark.parametrize("numbered", [True, False], ids=["numbered", "paths"])
@pytest.mark.parametrize("hex_ranges", [True, False], ids=["hex", "sampled"])
@pytest.mark.parametrize("partitions,files", [(1, 1), (3, 7), (8, 2)])
def test_dedup_keeps_the_first_row_by_value_whatever_the_partitioning(
        spark, tmp_path, partitions, files, hex_ranges, numbered):
    rows = duplicate_groups()   # (image_uuids of 24 lowercase hex characters, uniform)
    write_pairs(rows, tmp_path / "pairs", files)
    with partitions_apart(spark, partitions):
        report = run_dedup(spark, str(tmp_path / "pairs"), str(tmp_path / "dedup"), quiet=True,
                           hex_ranges=hex_ranges, file_numbers=numbered)
    assert report.details["file_numbers"] is numbered
    kept = as_tuples(tmp_path / "dedup")
    expected = smallest_by_value(rows)
    assert len(kept) == len(set(kept)) == len(expected)
    assert set(kept) == expected
    assert (report.rows_in, report.rows_out, report.dropped) == \
        (len(rows), len(expected), {"duplicate": len(rows) - len(expected)})
    assert read_report(str(tmp_path / "dedup")).rows_out == len(expected)
    assert report.details["ranges"] == (dedup.HEX_RANGES if hex_ranges else dedup.SAMPLED_RANGES)
    # files of disjoint image_uuid ranges, each sorted; 300 images fill every range
    assert len(assert_sorted_disjoint_ranges(tmp_path / "dedup")) == partitions


def test_files_are_numbered_from_a_million_rows_per_core(spark, tmp_path):
    """Numbering costs a job of its own: an input below a million rows per core keeps its
    paths through the shuffle (the report says which)."""
    cores = spark.sparkContext.defaultParallelism
    assert not dedup.numbering_pays(spark, cores * 1_000_000 - 1)
    assert dedup.numbering_pays(spark, cores * 1_000_000)
    write_pairs(duplicate_groups(), tmp_path / "pairs", 2)
    report = run_dedup(spark, str(tmp_path / "pairs"), str(tmp_path / "dedup"), quiet=True)
    assert report.details["file_numbers"] is False


# ------------------------------------------------ ranges from the uuids' hex, or sampled

@pytest.fixture(scope="module")
def extracted(spark, data_dir, tmp_path_factory):
    """Real extract output (its report names extract): the CommonCrawl WARC and WAT share
    pages, so some pairs repeat."""
    out = tmp_path_factory.mktemp("extract") / "pairs"
    paths = sorted(str(p) for folder in ("commoncrawl", "webarchives")
                   for p in (data_dir / folder).iterdir())
    run_extract(spark, paths, str(out), ExtractOptions(max_failed_fraction=1.0))
    return out


def counted_jobs(spark, run):
    """What run() returns, and how many Spark jobs it ran (this thread's, in a job group of
    the test's own: a quiet dedup sets none)."""
    context, group = spark.sparkContext, f"test-{uuids.uuid4().hex}"
    context.setJobGroup(group, "counted")
    try:
        result = run()
    finally:
        for key in ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel"):
            context.setLocalProperty(key, None)
    return result, len(context.statusTracker().getJobIdsForGroup(group))


def test_extract_rows_take_the_hex_ranges_with_the_rows_of_sampled_ranges_and_one_job_less(
        spark, extracted, tmp_path):
    assert dedup.uuids_from_extract(str(extracted))
    with partitions_apart(spark, 8):
        by_hex, hex_jobs = counted_jobs(spark, lambda: run_dedup(
            spark, str(extracted), str(tmp_path / "hex"), quiet=True))
        sampled, sampled_jobs = counted_jobs(spark, lambda: run_dedup(
            spark, str(extracted), str(tmp_path / "sampled"), quiet=True, hex_ranges=False))
    assert by_hex.details["ranges"] == dedup.HEX_RANGES
    assert sampled.details["ranges"] == dedup.SAMPLED_RANGES
    kept, expected = as_tuples(tmp_path / "hex"), as_tuples(tmp_path / "sampled")
    assert len(kept) == len(set(kept)) and set(kept) == set(expected)
    assert set(kept) == smallest_by_value(pq.read_table(extracted).to_pylist())
    assert (by_hex.rows_in, by_hex.rows_out, by_hex.dropped) == \
        (sampled.rows_in, sampled.rows_out, sampled.dropped)
    assert by_hex.dropped["duplicate"] > 0
    # 8 ranges of equal width in the hex: each file one of them, in the file names' order
    files = image_files(tmp_path / "hex")
    assert len(assert_sorted_disjoint_ranges(tmp_path / "hex")) == len(files) == 8
    for r, uuids in enumerate(files):
        assert {int(u[:6], 16) * 8 >> 24 for u in uuids} == {r}
    assert_sorted_disjoint_ranges(tmp_path / "sampled")
    # no sampling job: the rest of the jobs are the same (reads, counts, the write)
    assert sampled_jobs - hex_jobs == 1, (hex_jobs, sampled_jobs)


def test_a_dedup_of_hex_ranges_passes_them_on_and_aqe_keeps_ranges_whole(
        spark, extracted, tmp_path):
    """A dedup's output whose ranges came from the hex is extract's rows: a dedup of it cuts
    them the same way. With AQE joining neighbouring partitions (several slots in one),
    the files are still sorted, disjoint ranges."""
    run_dedup(spark, str(extracted), str(tmp_path / "once"), quiet=True)
    with settings(spark, spark_sql_shuffle_partitions=16,   # (partitions of about 16 kB)
                  spark_sql_adaptive_coalescePartitions_parallelismFirst="false",
                  spark_sql_adaptive_coalescePartitions_minPartitionSize="1k",
                  spark_sql_adaptive_advisoryPartitionSizeInBytes="16k"):
        again = run_dedup(spark, str(tmp_path / "once"), str(tmp_path / "twice"), quiet=True)
    assert again.details["ranges"] == dedup.HEX_RANGES and again.dropped == {"duplicate": 0}
    assert sorted(as_tuples(tmp_path / "twice")) == sorted(as_tuples(tmp_path / "once"))
    assert 1 < len(assert_sorted_disjoint_ranges(tmp_path / "twice")) < 16
    run_dedup(spark, str(extracted), str(tmp_path / "sampled"), quiet=True, hex_ranges=False)
    assert not dedup.uuids_from_extract(str(tmp_path / "sampled"))


def test_other_ids_take_sampled_ranges(spark, extracted, tmp_path):
    """The same rows as a plain Parquet (no report), some image_uuids upper-case or not hex
    at all: sampled ranges, and still the first row by value of each group."""
    rows = pq.read_table(extracted).to_pylist()
    for i, row in enumerate(rows):
        if i % 3 == 1:
            row["image_uuid"] = row["image_uuid"].upper()
        elif i % 3 == 2:
            row["image_uuid"] = "id:" + row["image_uuid"][::-1]
    write_pairs(rows, tmp_path / "pairs", 3)
    assert not dedup.uuids_from_extract(str(tmp_path / "pairs"))
    with partitions_apart(spark, 3):
        report = run_dedup(spark, str(tmp_path / "pairs"), str(tmp_path / "dedup"), quiet=True)
    assert report.details["ranges"] == dedup.SAMPLED_RANGES
    kept = as_tuples(tmp_path / "dedup")
    assert len(kept) == len(set(kept)) and set(kept) == smallest_by_value(rows)
    assert len(assert_sorted_disjoint_ranges(tmp_path / "dedup")) == 3


@pytest.mark.parametrize("partitions,initial", [(4, None), (1, None), (8, 6)])
def test_the_hex_plan_shuffles_once_by_the_slot(spark, extracted, partitions, initial):
    """One Exchange, hashpartitioning on the slot with the shuffle's own partition count
    (AQE's initial count when set), that the window takes as it is, carrying file numbers
    in place of the paths; no range partitioning."""
    from pyspark.sql import Observation

    pairs = spark.read.parquet(str(extracted))
    extra = {} if initial is None else {
        "spark_sql_adaptive_coalescePartitions_initialPartitionNum": initial}
    with settings(spark, spark_sql_shuffle_partitions=partitions, **extra):
        n = dedup.shuffle_partitions(spark)
        hexed, sampled = (dedup.deduplicated(spark, pairs, hex_ranges, Observation(),
                                             Observation())
                          for hex_ranges in (True, False))
        plans = [frame._jdf.queryExecution().executedPlan().toString()
                 for frame in (hexed, sampled)]
    assert n == (initial or partitions)
    lines = [line.strip(" :") for line in plans[0].splitlines()]
    # (the file numbers' table is broadcast: BroadcastExchange, no shuffle)
    shuffles = [i for i, line in enumerate(lines)
                if "Exchange " in line and "BroadcastExchange" not in line]
    assert len(shuffles) == 1, plans[0]
    exchange, below = lines[shuffles[0]], lines[shuffles[0] + 1]
    # what crosses it: the file number, not the path
    assert f"{dedup.FILE}#" in below and "source_path#" not in below, plans[0]
    if n == 1:   # (Spark plans one partition as SinglePartition, whatever the columns)
        assert exchange.startswith("+- Exchange SinglePartition, REPARTITION_BY_COL")
    else:
        assert exchange.startswith(f"+- Exchange hashpartitioning({dedup.SLOT}#")
        assert f", {n}), REPARTITION_BY_COL" in exchange
    assert "rangepartitioning" not in plans[0]
    assert "element_at([" in plans[0]   # (the slots: one literal array)
    assert plans[0].index("Window [") < plans[0].index("Exchange ")   # (above it: after it)
    assert ("Exchange rangepartitioning(image_uuid" in plans[1]) == (n > 1)


@pytest.mark.parametrize("n", [1, 2, 3, 8, 200, 1000])
def test_each_slot_value_hashes_to_its_partition_in_spark(spark, n):
    from pyspark.sql import functions as F

    values = hash_slots.slot_values(n)
    frame = spark.createDataFrame(list(enumerate(values)), "r int, v bigint")
    wrong = frame.where(F.pmod(F.hash("v"), F.lit(n)) != F.col("r")).count()
    assert wrong == 0 and len(values) == n


def test_spark_hash_long_is_sparks_hash_of_a_bigint(spark):
    from pyspark.sql import functions as F

    draw = random.Random(3)
    values = [0, 1, -1, 42, 2**31, -2**31, 2**63 - 1, -2**63] + \
        [draw.randrange(-2**63, 2**63) for _ in range(500)]
    frame = spark.createDataFrame([(v,) for v in values], "v bigint")
    got = {r.v: r.h for r in frame.select("v", F.hash("v").alias("h")).collect()}
    assert got == {v: hash_slots.spark_hash_long(v) for v in values}


def test_range_index_is_exact_and_never_decreases_along_sorted_uuids(spark):
    draw = random.Random(9)
    uuid_list = sorted({f"{draw.getrandbits(96):024x}" for _ in range(2000)}
                       | {"000000" + "0" * 18, "ffffff" + "f" * 18, "7fffff" + "0" * 18})
    frame = spark.createDataFrame([(u,) for u in uuid_list], "image_uuid string")
    for n in (1, 7, 200, 100_000):
        got = [r.r for r in frame.select(dedup.range_index(n).alias("r")).collect()]
        assert got == [int(u[:6], 16) * n // 2**24 for u in uuid_list]
        assert got == sorted(got) and got[0] == 0 and got[-1] == n - 1
