"""count: matches per metadata entry and language over the whole matched pool."""
from __future__ import annotations

import numpy as np

from curate import schemas
from curate.core.counting import (PARTIAL_COUNTS, count_rows, merge_totals, partial_totals,
                                  partition_entry_counts, summarize)
from curate.core.sampling import language_summary, thresholds
from curate.options import CountOptions
from curate.stages import io
from curate.stages.broadcast import BroadcastMetadata
from curate.stages.io import (ENTRY_COUNTS_DIR, SUMMARY_FILE, StageReport, check_same_metadata,
                              read_report, read_stage_input, staged_output)


def run_count(spark, input: str, output: str, options: CountOptions) -> StageReport:
    """Counts per language and entry; the summary describes head and tail at English's t
    and each other language's t (ALGORITHM.md §6)."""
    from pyspark.sql import functions as F

    lang, t, t_lang = options.lang, options.thresholds.t, dict(options.thresholds.t_lang)
    match_report = read_report(input)
    metadata = BroadcastMetadata(spark, options.metadata, lang)
    check_same_metadata(metadata.metadata, match_report)
    lists = metadata.metadata.lists
    n_entries = {code: len(m.entries) for code, m in lists.items()}
    matched = read_stage_input(spark, input, ["lang", "matched_entry_ids"])
    matched = matched.select(F.coalesce("lang", F.lit(lang)).alias("lang"), "matched_entry_ids")

    partials = matched.mapInArrow(lambda it: partition_entry_counts(it, n_entries, lang),
                                  schemas.spark_schema(PARTIAL_COUNTS))
    # One row per partition and language: the count vectors are the stage's data, summed
    # by a tree reduce (never all on the driver at once, never shuffled by entry).
    totals = partials.rdd.map(
        lambda row: partial_totals(row.lang, row.texts, row.entry_ids, row.counts, n_entries)
    ).treeAggregate({}, merge_totals, merge_totals, depth=2)
    vectors = {code: totals[code][1] if code in totals else np.zeros(size, dtype=np.int64)
               for code, size in n_entries.items()}
    texts_by_lang = {code: texts for code, (texts, _vector) in totals.items()}
    t_by_lang = thresholds(vectors, t, t_lang, english=lang)
    summary = {
        "metadata": metadata.metadata.details(),
        "languages": {
            code: {**summarize(vector, _texts_of(match_report, code, lang),
                               texts_by_lang.get(code, 0)),
                   **language_summary(vector, t_by_lang[code])}
            for code, vector in sorted(vectors.items())},
    }
    rows_in = sum(texts_by_lang.values())
    with staged_output(output, "count") as (tmp, finish):
        _counts_frame(spark, metadata, vectors).write.parquet(tmp)
        io.write_json(io.join(tmp, SUMMARY_FILE), summary)
        _write_entry_counts(io.join(tmp, ENTRY_COUNTS_DIR), lists, vectors)
        # Every matched text is counted (once per entry of its set): none is dropped.
        report = StageReport("count", output, rows_in, rows_in,
                             details={"metadata": metadata.metadata.details(),
                                      "count_rows": int(sum(map(len, vectors.values()))),
                                      "t": t_by_lang})
        finish(report)
    metadata.unpersist()
    return report


def _write_entry_counts(directory: str, lists, vectors: dict[str, np.ndarray]) -> None:
    """MetaCLIP's form of the counts, `{entry: count}`, one JSON file per language.
    (Duplicate entries match alike, so they share one key and one count.)"""
    io.make_dirs(directory)
    for code, vector in vectors.items():
        entry_counts = dict(zip(lists[code].entries, vector.tolist()))
        io.write_json(io.join(directory, f"{code}.json"), entry_counts, indent=None)


def _texts_of(match_report: StageReport | None, code: str, default_lang: str) -> int | None:
    """The texts of a language the match stage looked for entries in (matched or not)."""
    if match_report is None:
        return None
    by_language = match_report.details.get("matched_by_language")
    if by_language is None:   # a match output of one unlabelled language
        return match_report.rows_in if code == default_lang else None
    return by_language.get(code, 0) + match_report.dropped.get(f"no_match:{code}", 0)


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
