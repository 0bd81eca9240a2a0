"""metadata build: the Wikipedia text and pageview sources as Spark jobs.

Both have the shape of extract: one task per input file (`spark.range(n, n partitions)`), in
which the pure core (curate.core.metadata_build) reads the file and emits partial counts, flushed
whenever a task holds `flush_at` distinct keys, so no task holds a large file's counts whole.
A shuffle adds them up (groupBy, which combines map-side first: a tree of partial sums), and
only what passes the thresholds reaches the driver, where the pure core's selection functions
(thresholds, PMI, order) make the result identical to the pure path's.
"""
from __future__ import annotations

from functools import partial

import pyarrow as pa

from curate import schemas
from curate.core.metadata_build.build import BuildConfig, metadata_build
from curate.core.metadata_build.pageviews import select_titles
from curate.core.metadata_build.pmi import WikiStatistics, select_bigrams, select_unigrams

FLUSH_AT = 500_000          # distinct keys a task holds before it emits them
BATCH_ROWS = 65_536         # rows per Arrow batch handed back to Spark
PMI_SLACK = 1e-9            # Spark's double PMI pre-filter lets this much more through

# kind "u": unigram w1; "b": bigram (w1, w2); "c": a counter named w1 (files, lines, ...).
GRAMS = pa.schema([pa.field("kind", pa.string(), nullable=False), pa.field("w1", pa.string()),
                   pa.field("w2", pa.string()), pa.field("n", pa.int64(), nullable=False)])
# kind "v": views of a title; "c": a counter named title.
VIEWS = pa.schema([pa.field("kind", pa.string(), nullable=False),
                   pa.field("title", pa.string()), pa.field("n", pa.int64(), nullable=False)])


def _batches(schema: pa.Schema, columns: list[list]):
    batch = pa.RecordBatch.from_arrays(
        [pa.array(col, f.type) for col, f in zip(columns, schema)], schema=schema)
    for offset in range(0, batch.num_rows, BATCH_ROWS):
        yield batch.slice(offset, BATCH_ROWS)


def _one_task_per_file(spark, paths: list[str], read, schema: pa.Schema):
    def task(batches):
        for batch in batches:
            for index in batch.column("id").to_pylist():
                yield from read(paths[index])

    return spark.range(0, len(paths), 1, len(paths)).mapInArrow(
        task, schemas.spark_schema(schema))


def wiki_statistics_spark(spark, paths: list[str], min_count: int, min_pmi: float,
                          flush_at: int | None = None) -> WikiStatistics:
    """curate.core.metadata_build.pmi.wiki_statistics as a Spark job: the same result."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from curate.core.metadata_build.wikitext import count_file

    flush_at = flush_at or FLUSH_AT

    def read(path):
        for uni, bi, counters in count_file(path, flush_at):
            yield from _batches(GRAMS, [
                ["u"] * len(uni) + ["b"] * len(bi) + ["c"] * len(counters),
                [*uni, *(w1 for w1, _ in bi), *counters],
                [*([None] * len(uni)), *(w2 for _, w2 in bi), *([None] * len(counters))],
                [*uni.values(), *bi.values(), *counters.values()]])

    stream = _one_task_per_file(spark, paths, read, GRAMS)
    counts = stream.groupBy("kind", "w1", "w2").agg(F.sum("n").alias("n"))
    counts = counts.persist(StorageLevel.DISK_ONLY)
    try:
        kind = F.col("kind")
        uni = counts.where(kind == "u").select(F.col("w1").alias("w"), "n")
        small = counts.where((kind == "c") | ((kind == "u") & (F.col("n") >= min_count)))
        small = small.collect()
        counters = {r.w1: r.n for r in small if r.kind == "c"}
        unigrams = [(r.w1, r.n) for r in small if r.kind == "u"]
        distinct = {r.kind: r["count"] for r in counts.groupBy("kind").count().collect()}
        n_tokens = int(counters.get("tokens", 0))
        bigrams = (counts.where(kind == "b").select("w1", "w2", F.col("n").alias("c12"))
                   .join(uni.select(F.col("w").alias("w1"), F.col("n").alias("c1")), "w1")
                   .join(uni.select(F.col("w").alias("w2"), F.col("n").alias("c2")), "w2"))
        ratio = (F.col("c12").cast("double") * F.lit(float(n_tokens))
                 / (F.col("c1").cast("double") * F.col("c2").cast("double")))
        candidates = bigrams.where(F.log2(ratio) >= F.lit(min_pmi - PMI_SLACK))
        rows = [(r.w1, r.w2, r.c12, r.c1, r.c2)
                for r in candidates.select("w1", "w2", "c12", "c1", "c2").collect()]
    finally:
        counts.unpersist()
    counters["distinct_unigrams"] = distinct.get("u", 0)
    counters["distinct_bigrams"] = distinct.get("b", 0)
    return WikiStatistics(n_tokens, select_unigrams(unigrams, min_count),
                          select_bigrams(rows, n_tokens, min_pmi), counters)


def pageview_titles_spark(spark, paths: list[str], lang: str, min_views: int,
                          flush_at: int | None = None) -> tuple[list[tuple[str, int]], dict]:
    """curate.core.metadata_build.pageviews.pageview_titles as a Spark job: the same result."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from curate.core.metadata_build.pageviews import count_file

    flush_at = flush_at or FLUSH_AT

    def read(path):
        for views, counters in count_file(path, lang, flush_at):
            yield from _batches(VIEWS, [["v"] * len(views) + ["c"] * len(counters),
                                        [*views, *counters],
                                        [*views.values(), *counters.values()]])

    stream = _one_task_per_file(spark, paths, read, VIEWS)
    totals = stream.groupBy("kind", "title").agg(F.sum("n").alias("n"))
    totals = totals.persist(StorageLevel.DISK_ONLY)
    try:
        kind = F.col("kind")
        rows = totals.where((kind == "c") | (F.col("n") >= min_views)).collect()
        distinct = totals.where(kind == "v").count()
    finally:
        totals.unpersist()
    counters = {r.title: r.n for r in rows if r.kind == "c"}
    counters["distinct_titles"] = distinct
    titles = select_titles(((r.title, r.n) for r in rows if r.kind == "v"), min_views)
    return titles, dict(sorted(counters.items()))


def run_metadata_build(spark, output: str, config: BuildConfig):
    """The build with its Wikipedia text and pageviews counted on `spark`."""
    return metadata_build(output, config, wiki=partial(wiki_statistics_spark, spark),
                          pageviews=partial(pageview_titles_spark, spark))
