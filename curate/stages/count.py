"""count: matches per metadata entry and language over the whole matched pool.

Each task counts its rows with the pure core (core.counting.partition_entry_counts) and
returns its one result row: counters texts:<lang> and its sparse count vectors; the rows
are summed by a tree reduce. The driver writes the counts table (built by the workers from
a broadcast of the vectors), `__curate__/summary.json` and `__curate__/entry_counts/`."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from curate import faults, schemas
from curate.core.counting import (count_rows, dense, merge_totals, partition_entry_counts,
                                  sparse, summarize)
from curate.core.sampling import language_summary, thresholds
from curate.errors import CountsDisagree
from curate.options import CountOptions
from curate.stages import io, task_files
from curate.stages.broadcast import BroadcastMetadata
from curate.stages.io import (ENTRY_COUNTS_DIR, SUMMARY_FILE, StageReport, check_same_metadata,
                              read_stage_input, staged_output)
from curate.stages.progress import TaskProgress, progress


# A count task's result: no files; counters texts:<lang>; its sparse count vectors.
COUNT_RESULT = task_files.result_schema(pa.field("langs", pa.list_(pa.string())),
                                        pa.field("entry_ids", pa.list_(pa.binary())),
                                        pa.field("counts", pa.list_(pa.binary())))


def _totals(row, n_entries: dict[str, int]) -> dict:
    """A COUNT_RESULT row as {lang: (texts, dense vector)} (core.counting.merge_totals)."""
    texts = dict(row.counters or {})
    return {code: (texts.get(f"texts:{code}", 0), dense(ids, counts, n_entries[code]))
            for code, ids, counts in zip(row.langs, row.entry_ids, row.counts)}


def count_recipe(options: CountOptions) -> str:
    from curate.core.metadata import load_metadata_set
    return io.recipe("count", (options, load_metadata_set(options.metadata,
                                                          options.lang).fingerprint))


def run_count(spark, input: str, output: str, options: CountOptions, *,
              quiet: bool = False) -> StageReport:
    """Counts per language and entry; the summary describes head and tail at English's t
    and each other language's t (ALGORITHM.md §6). `quiet`: no progress line."""
    with progress(spark, "count", quiet=quiet) as live:
        return _count(spark, input, output, options, live)


def _count(spark, input: str, output: str, options: CountOptions, live: TaskProgress
           ) -> StageReport:
    from pyspark.sql import functions as F

    task_files.check_shared_output(spark, output)
    lang, t, t_lang = options.lang, options.thresholds.t, dict(options.thresholds.t_lang)
    match_report = io.require_report(input, "match", "count")   # made_from: its id
    metadata = BroadcastMetadata(spark, options.metadata, lang)
    check_same_metadata(metadata.metadata, match_report)
    lists = metadata.metadata.lists
    n_entries = {code: len(m.entries) for code, m in lists.items()}
    matched = read_stage_input(spark, input, ["lang", "matched_entry_ids"])
    matched = matched.select(F.coalesce("lang", F.lit(lang)).alias("lang"), "matched_entry_ids")

    fault = faults.fault_for("count")   # None but in tests (curate.faults)

    def count_task(batches):
        if fault is not None:
            batches = fault.wrap(batches, *task_files.task_attempt())
        texts, vectors = partition_entry_counts(batches, n_entries, lang)
        live.add(rows=sum(texts.values()))   # each matched text counted, none dropped
        langs = sorted(vectors)
        pairs = [sparse(vectors[code]) for code in langs]
        yield task_files.task_result(COUNT_RESULT, [], {f"texts:{c}": n for c, n in texts.items()},
                                     langs=langs, entry_ids=[ids for ids, _ in pairs],
                                     counts=[counts for _, counts in pairs])

    results = matched.mapInArrow(count_task, schemas.spark_schema(COUNT_RESULT))
    # One result row per task, as every stage's; its count vectors are the stage's data,
    # so they are summed by a tree reduce instead of collected (never all on the driver
    # at once, never shuffled by entry).
    totals = results.rdd.map(lambda row: _totals(row, n_entries)).treeAggregate(
        {}, merge_totals, merge_totals, depth=2)
    vectors = {code: totals[code][1] if code in totals else np.zeros(size, dtype=np.int64)
               for code, size in n_entries.items()}
    texts_by_lang = {code: texts for code, (texts, _vector) in totals.items()}
    t_by_lang = thresholds(vectors, t, t_lang, english=lang, floor=options.thresholds.floor)
    summary = {
        "metadata": metadata.metadata.details(),
        "languages": {
            code: {**summarize(vector, _texts_of(match_report, code, lang),
                               texts_by_lang.get(code, 0)),
                   **language_summary(vector, t_by_lang[code])}
            for code, vector in sorted(vectors.items())},
    }
    rows_in = sum(texts_by_lang.values())
    in_files = matched.count()   # the input's footers, against the texts the tasks counted
    if rows_in != in_files:
        raise CountsDisagree(f"count: the input's files hold {in_files} matched rows, the "
                             f"tasks counted {rows_in}; nothing was written")
    with staged_output(output, "count", [input],
                       recipe_id=count_recipe(options)) as (tmp, finish):
        io.spark_write(_counts_frame(spark, metadata, vectors), tmp)
        count_rows, written = int(sum(map(len, vectors.values()))), io.written_rows(spark, tmp)
        if written != count_rows:
            raise CountsDisagree(f"count: {count_rows} count rows were written but the "
                                 f"output's files hold {written}; the output was not "
                                 "committed")
        io.write_json(io.join(tmp, SUMMARY_FILE), summary)
        _write_entry_counts(io.join(tmp, ENTRY_COUNTS_DIR), lists, vectors)
        # Every matched text is counted (once per entry of its set): none is dropped.
        report = StageReport("count", output, rows_in, rows_in,
                             details={"metadata": metadata.metadata.details(),
                                      "count_rows": count_rows,
                                      "t": t_by_lang, "recipe_name": options.recipe,
                                      "rules": options.thresholds.rules,
                                      "warnings": [
                                          f"--t-lang {code}={value}: the metadata has no "
                                          f"{code} list; ignored"
                                          for code, value in sorted(t_lang.items())
                                          if code not in vectors]})
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
