"""count: matches per metadata entry and language over the whole matched pool."""
from __future__ import annotations

import json
import os
from typing import Mapping

import numpy as np
import pyarrow as pa

from curate import schemas
from curate.config import defaults
from curate.counting import (PARTIAL_COUNTS, count_rows, merge_totals, partial_totals,
                             partition_entry_counts, summarize)
from curate.sampling import language_summary, thresholds
from curate.stages.broadcast import BroadcastMetadata
from curate.stages.common import read_stage_input
from curate.stages.match import check_same_metadata, metadata_details
from curate.stages.output import StageReport, read_report, staged_output

# Leading "_": Spark, pyarrow and pandas skip it when they read the directory as Parquet.
SUMMARY_FILE = "_summary.json"
ENTRY_COUNTS_DIR = "_entry_counts"   # {lang}.json: MetaCLIP's {entry: count} form


def run_count(spark, inp: str, out: str, metadata_path: str | None = None,
              lang: str | None = None, t: int | None = None,
              t_lang: Mapping[str, int] | None = None) -> StageReport:
    """Counts per language and entry; the summary describes head and tail at English's t
    (`t`, default conf/pipeline.toml) and each other language's t (ALGORITHM.md §6)."""
    from pyspark.sql import functions as F

    lang = lang or defaults().lang
    t = defaults().t if t is None else t
    match_report = read_report(inp)
    metadata = BroadcastMetadata(spark, metadata_path, lang)
    check_same_metadata(metadata.metadata, match_report)
    lists = metadata.metadata.lists
    n_entries = {code: len(m.entries) for code, m in lists.items()}
    matched = read_stage_input(spark, inp, ["lang", "matched_entry_ids"])
    matched = matched.select(F.coalesce("lang", F.lit(lang)).alias("lang"), "matched_entry_ids")

    partials = matched.mapInArrow(lambda it: partition_entry_counts(it, n_entries, lang),
                                  schemas.spark_schema(PARTIAL_COUNTS))
    # One row per partition and language; summed by a tree reduce, never shuffled by entry.
    totals = partials.rdd.map(
        lambda row: partial_totals(row.lang, row.texts, row.entry_ids, row.counts, n_entries)
    ).treeAggregate({}, merge_totals, merge_totals, depth=2)
    vectors = {code: totals[code][1] if code in totals else np.zeros(size, dtype=np.int64)
               for code, size in n_entries.items()}
    texts_by_lang = {code: texts for code, (texts, _vector) in totals.items()}
    t_by_lang = thresholds(vectors, t, t_lang, english=lang)
    summary = {
        "metadata": metadata_details(metadata.metadata)["metadata"],
        "languages": {
            code: {**summarize(vector, _texts_of(match_report, code, lang),
                               texts_by_lang.get(code, 0)),
                   **language_summary(vector, t_by_lang[code])}
            for code, vector in sorted(vectors.items())},
    }
    rows_in = sum(texts_by_lang.values())
    with staged_output(out, "count") as (tmp, finish):
        _counts_frame(spark, metadata, vectors).write.parquet(tmp)
        with open(os.path.join(tmp, SUMMARY_FILE), "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2, ensure_ascii=False)
        _write_entry_counts(os.path.join(tmp, ENTRY_COUNTS_DIR), lists, vectors)
        # Every matched text is counted (once per entry of its set): none is dropped.
        report = StageReport("count", out, rows_in, rows_in,
                             details={**metadata_details(metadata.metadata),
                                      "count_rows": int(sum(map(len, vectors.values()))),
                                      "t": t_by_lang})
        finish(report)
    metadata.unpersist()
    return report


def _write_entry_counts(directory: str, lists, vectors: dict[str, np.ndarray]) -> None:
    """MetaCLIP's form of the counts, `{entry: count}`, one JSON file per language.
    (Duplicate entries match alike, so they share one key and one count.)"""
    os.makedirs(directory)
    for code, vector in vectors.items():
        entry_counts = dict(zip(lists[code].entries, vector.tolist()))
        with open(os.path.join(directory, f"{code}.json"), "w", encoding="utf-8") as f:
            json.dump(entry_counts, f, ensure_ascii=False)


def _texts_of(match_report: StageReport | None, code: str, default_lang: str) -> int | None:
    """The texts of a language the match stage looked for entries in (matched or not)."""
    if match_report is None:
        return None
    by_language = match_report.details.get("matched_by_language")
    if by_language is None:   # a match output of one unlabelled language
        return match_report.rows_in if code == default_lang else None
    return by_language.get(code, 0) + match_report.dropped.get(f"no_match:{code}", 0)


def _vectors(table: pa.Table, n_entries: dict[str, int]) -> dict[str, np.ndarray]:
    vectors = {}
    for code, size in n_entries.items():
        rows = table.filter(pa.compute.equal(table["lang"], code))
        vectors[code] = np.zeros(size, dtype=np.int64)
        vectors[code][rows["entry_id"].to_numpy()] = rows["count"].to_numpy()
    return vectors


def _counts_frame(spark, metadata: BroadcastMetadata, vectors: dict[str, np.ndarray]):
    """The full counts table, built by the workers from broadcasts (entries are on them)."""
    vectors_broadcast = spark.sparkContext.broadcast(vectors)
    n_rows = max(len(v) for v in vectors.values())

    def rows(batches):
        entries = {code: m.entries for code, m in metadata.on_worker().lists.items()}
        for batch in batches:
            yield from count_rows(batch.column(0).to_numpy(), entries, vectors_broadcast.value)

    return spark.range(0, n_rows, 1, 1 + n_rows // 1_000_000).mapInArrow(
        rows, schemas.spark_schema(schemas.COUNTS))


def read_counts(spark, path: str) -> dict[str, np.ndarray]:
    """Counts output -> one count vector per language, indexed by entry id."""
    table = read_stage_input(spark, path, schemas.COUNTS.names).select(
        "lang", "entry_id", "count").toArrow()
    sizes = {}
    for code in set(table["lang"].to_pylist()):
        ids = table.filter(pa.compute.equal(table["lang"], code))["entry_id"]
        sizes[code] = int(pa.compute.max(ids).as_py()) + 1
    return _vectors(table, sizes)
