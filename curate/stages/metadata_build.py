"""metadata build: the Wikipedia text and pageview sources as Spark jobs.

Both have the shape of extract: one task per input file (`spark.range(n, n partitions)`), in
which the pure core (curate.core.metadata_build) reads the file and emits partial counts, flushed
whenever a task holds `flush_at` distinct keys, so no task holds a large file's counts whole.
A shuffle adds them up (groupBy, which combines map-side first: a tree of partial sums), and
only what passes the thresholds reaches the driver, where the pure core's selection functions
(thresholds, PMI, order) make the result identical to the pure path's.
"""
from __future__ import annotations

import json
from functools import partial

import pyarrow as pa

from curate import schemas
from curate.core.metadata import fingerprint_entries
from curate.core.metadata_build import files
from curate.core.metadata_build.build import (ENTRIES_PARQUET, ENTRIES_TSV, LANG_LIST, LIST_FILE,
                                              STAGE, Assembled, BuildConfig,
                                              build_list, canonical_json, list_file_name,
                                              source_name)
from curate.errors import UserError
from curate.stages import io
from curate.stages.io import SUMMARY_FILE
from curate.stages.io import StageReport, staged_output
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


# -------------------------------------------------- writing the list (with or without Spark)

def metadata_build(output: str, config: BuildConfig, wiki=None, pageviews=None) -> StageReport:
    """Check, collect, assemble and write: the whole build (counting in Python unless
    `wiki` / `pageviews` count on Spark)."""
    config = config.checked()
    check_list_layout(output, config.lang)
    with staged_output(output, STAGE) as (tmp, finish):
        report = _write(tmp, output, config, build_list(config, wiki, pageviews))
        finish(report)   # which sets its seconds and output
    return report


def check_list_layout(output: str, lang: str | None) -> None:
    """A --lang build adds to a directory of per-language lists; a build without --lang
    replaces a single-list directory. Mixing the two is refused before any work."""
    if not io.is_dir(output):
        return
    names = io.list_dir(output)
    if lang is not None and LIST_FILE in names:
        raise UserError(f"{output} holds a list built without --lang ({LIST_FILE}); build "
                        "per-language lists into another directory")
    if lang is None and LIST_FILE not in names and any(LANG_LIST.fullmatch(n) for n in names):
        raise UserError(f"{output} holds per-language lists; give --lang to add one, or "
                        "another -o")


def _write(tmp: str, output: str, config: BuildConfig, assembled: Assembled) -> StageReport:
    lang = config.source_lang
    name = list_file_name(config.lang)
    strings = assembled.strings
    fingerprint = fingerprint_entries(strings)
    summary = {
        "file": name, "entries": len(strings), "fingerprint": fingerprint,
        "sources": {tag: {"name": source_name(tag), "statistic": assembled.statistics[tag],
                          "offered": assembled.offered[tag], "kept": assembled.kept[tag],
                          **({"read": assembled.details[tag]} if assembled.details[tag]
                             else {})}
                    for tag in assembled.offered},
        "dropped": assembled.dropped, **config.summary(),
    }
    io.make_dirs(tmp)
    summaries, other_rows = {}, []
    if config.lang is not None and io.is_dir(output):
        summaries, other_rows = _carry_over(output, tmp, lang)
    io.write_bytes(io.join(tmp, name), canonical_json(strings))
    summaries[lang] = summary
    rows = other_rows + [(lang, i, e.entry, e.source, e.statistic)
                         for i, e in enumerate(assembled.entries)]
    rows.sort(key=lambda r: (r[0], r[1]))
    io.write_parquet(io.join(tmp, ENTRIES_PARQUET), files.entries_table(rows),
                     compression="zstd")
    io.write_text(io.join(tmp, ENTRIES_TSV), files.entries_tsv(rows))
    io.write_text(io.join(tmp, SUMMARY_FILE), json.dumps(
        {"languages": dict(sorted(summaries.items()))}, indent=2, ensure_ascii=False) + "\n")
    return StageReport(
        STAGE, output, rows_in=sum(assembled.offered.values()), rows_out=len(strings),
        dropped=dict(assembled.dropped),
        details={"lang": lang, "file": name, "fingerprint": fingerprint,
                 "kept": dict(assembled.kept), "offered": dict(assembled.offered)})


def _carry_over(output: str, tmp: str, lang: str) -> tuple[dict, list]:
    """Copy the other languages' lists of `output` into the new directory; return their
    summaries and entry rows."""
    for name in io.list_dir(output):
        m = LANG_LIST.fullmatch(name)
        if m and m.group(1).replace("_", "-") != lang:
            io.copy_file(io.join(output, name), io.join(tmp, name))
    summaries = {}
    if io.exists(io.join(output, SUMMARY_FILE)):
        try:
            summaries = io.read_json(io.join(output, SUMMARY_FILE))["languages"]
        except (ValueError, KeyError, TypeError):
            summaries = {}
    rows = []
    if io.exists(io.join(output, ENTRIES_PARQUET)):
        table = io.read_parquet([io.join(output, ENTRIES_PARQUET)])
        rows = [r for r in files.rows_of(table) if r[0] != lang]
    kept_langs = {m.group(1).replace("_", "-") for n in io.list_dir(tmp)
                  if (m := LANG_LIST.fullmatch(n))}
    summaries = {k: v for k, v in summaries.items() if k in kept_langs}
    rows = [r for r in rows if r[0] in kept_langs]
    return summaries, rows
