"""sample: balanced sampling of matched pairs with the entry counts (ALGORITHM.md §5, §6).

Unit "image" (the default, as Meta CLIP 2): each image keeps one of its texts by a seeded
draw (core.pick.TextPicker), then the keep rule runs on those; unit "pair" runs the keep
rule on every row (Algorithm 1 literally). An image's texts must meet for the draw:
- input laid out as match writes it (files of disjoint, sorted image_uuid ranges, told by
  the footers): each task reads one whole file, which holds its images whole;
- any other input (or a file found unsorted inside): a shuffle by image_uuid, then a sort.
Both give the same rows. With --target-size the picked rows are kept (persisted) for the
passes that choose t. The JVM computes each row's key (Spark's xxhash64 of seed,
image_uuid and text) and language code; each task runs the keep rule on its Arrow batches
(core.sampling.sample_keyed_batches) and writes the kept rows itself (task_files): they
never go back to the JVM. The output is flat Parquet files of at most `max_rows_per_file`
rows with `url` and `text` columns: what img2dataset reads.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from curate import faults, schemas
from curate.core.pick import TextPicker, ranges_are_disjoint
from curate.core.sampling import (LANG_CODE, ROW_KEY, expected_kept, keep_probabilities,
                                  sample_keyed_batches, t_for_size, thresholds)
from curate.errors import UserError
from curate.options import SampleOptions
from curate.stages import io, task_files
from curate.stages.io import (SUMMARY_FILE, StageReport, metadata_of, read_counts,
                              read_stage_input, staged_output, whole_files_per_task)
from curate.stages.progress import TaskProgress, progress
from curate.stages.task_files import TaskFiles, TaskResults

SAMPLE_RESULT = task_files.result_schema(pa.field("expected", pa.float64()),
                                         pa.field("sorted", pa.bool_()))
EXPECTED = pa.schema([pa.field("expected", pa.binary(), nullable=False)])


def run_sample(spark, input: str, output: str, options: SampleOptions, *,
               counts: str, quiet: bool = False) -> StageReport:
    """`quiet`: no progress line (stages.progress)."""
    with progress(spark, "sample", quiet=quiet) as live:
        return _sample(spark, input, output, options, counts, live)


def _sample(spark, input: str, output: str, options: SampleOptions, counts: str,
            live: TaskProgress) -> StageReport:
    _check_lineage(input, counts)
    task_files.check_shared_output(spark, output)
    vectors = read_counts(counts)
    languages = sorted(vectors)
    matched = read_stage_input(spark, input, schemas.MATCHED.names)
    keyed = keyed_rows(matched, options.seed, languages, options.lang)
    layout = "sorted_files" if files_hold_disjoint_images(input) else "shuffle"
    t, t_lang = options.thresholds.t, dict(options.thresholds.t_lang)
    candidates = None
    warnings = unused_t_lang(t_lang, vectors)
    if options.target_size is not None:   # several passes over the picked rows: keep them
        candidates, layout = candidates_of(keyed, options.unit, layout)
        candidates.persist()
        t, expected = t_for_size(
            lambda ts: _expected_sizes(candidates, vectors, ts, t_lang, options.lang,
                                       options.thresholds.floor),
            options.target_size, _t_above_all(vectors, options.lang))
        if abs(expected - options.target_size) > 0.01 * options.target_size:
            warnings.append(f"--target-size {options.target_size}: no t gives it; the "
                            f"nearest expected size is {expected:,.0f} rows (t = {t})")
    t_by_lang = thresholds(vectors, t, t_lang, english=options.lang,
                           floor=options.thresholds.floor)
    p_broadcast = spark.sparkContext.broadcast(
        {code: keep_probabilities(vector, t_by_lang[code]) for code, vector in vectors.items()})
    try:
        with staged_output(output, "sample", [input, counts],
                           recipe_id=io.recipe("sample", options)) as (tmp, finish):
            files = TaskFiles(tmp, schemas.CURATED, options.max_rows_per_file,
                              task_files.codec(spark), dictionary_columns=("lang", "page_url",
                                                                           "crawl"))
            job = _Job(files, p_broadcast, languages, live)
            if candidates is not None:
                results = job.run(candidates, pick=False)
                rows_in = matched.count() if options.unit == "image" else None
            else:
                results, layout = job.choose(keyed, options.unit, layout)
                rows_in = None
            counters = results.counters()
            rows_in = counters["rows"] if rows_in is None else rows_in
            committed = task_files.commit(tmp, results.files(), schemas.CURATED)
            rows_out = sum(rows for _, rows in committed)   # by the files' footers
            summary = {"unit": options.unit, "seed": options.seed, "t": t_by_lang,
                       "target_size": options.target_size,
                       "image_pick": layout if options.unit == "image" else None,
                       "expected_size": round(sum(r.expected for r in results.rows), 1),
                       "size": rows_out, "max_rows_per_file": options.max_rows_per_file,
                       "img2dataset": "--input_format parquet --url_col url --caption_col text"}
            io.write_json(io.join(tmp, SUMMARY_FILE), summary)
            # Each drop as counted where it happens: the keep rule's (in the tasks), the pick's
            # (rows read less the rows picked); StageReport.check holds them against the
            # rows out, so rows lost on their way to the files fail the stage.
            dropped = {"not_sampled": counters["not_sampled"]}
            if options.unit == "image":
                dropped["other_text_of_image"] = rows_in - counters["candidates"]
            report = StageReport("sample", output, rows_in, rows_out, dropped=dropped, details={
                **summary, "head_entries": {code: int((vector >= t_by_lang[code]).sum())
                                            for code, vector in vectors.items()},
                "metadata": metadata_of(input), "warnings": warnings,
                "recipe_name": options.recipe, "rules": options.thresholds.rules})
            finish(report)
    finally:
        p_broadcast.unpersist()
        if candidates is not None:
            candidates.unpersist()
    return report


def keyed_rows(matched, seed: int, languages: list[str], default_lang: str):
    """The curated columns, each row's key (core.sampling.row_keys, as Spark's xxhash64 of
    seed, image_uuid and text) and its language's index in `languages` (a null lang is
    default_lang; -1 for a language without counts)."""
    from pyspark.sql import functions as F

    lang = F.coalesce(F.col("lang"), F.lit(default_lang))
    code = F.array_position(F.array(*[F.lit(c) for c in languages]), lang) - 1
    return matched.select(*schemas.CURATED.names,
                          row_key_column(seed).alias(ROW_KEY), code.cast("int").alias(LANG_CODE))


def row_key_column(seed: int):
    """core.sampling.row_keys as a Spark column: xxhash64 of (seed as a long, image_uuid,
    text), Spark's long being the key's two's complement."""
    from pyspark.sql import functions as F

    return F.xxhash64(F.lit(seed).cast("long"), "image_uuid", "text")


@dataclass(frozen=True)
class _Job:
    """The Spark jobs that sample and write: each task picks (unit image), keeps and writes,
    and returns one SAMPLE_RESULT row."""
    files: TaskFiles
    p_broadcast: object
    languages: list
    live: TaskProgress

    def choose(self, keyed, unit: str, layout: str) -> tuple[TaskResults, str]:
        """Run the job that fits the unit and the layout: (results, the layout used)."""
        if unit == "pair":
            return self.run(keyed, pick=False), layout
        if layout == "sorted_files":
            with whole_files_per_task(keyed.sparkSession):
                results = self.run(keyed, pick=True)
            if all(row.sorted for row in results.rows):
                return results, layout
            io.remove_tree(io.join(self.files.directory, task_files.ATTEMPTS_DIR))
        return self.run(_by_image(keyed), pick=True), "shuffle"

    def run(self, rows, pick: bool) -> TaskResults:
        return TaskResults.collect(rows.mapInArrow(
            _sample_task(self.files, self.p_broadcast, self.languages, pick, self.live),
            schemas.spark_schema(SAMPLE_RESULT)))


def _sample_task(files: TaskFiles, p_broadcast, languages: list[str], pick: bool,
                 live: TaskProgress):
    """The task: with `pick`, one row per image (TextPicker, rows sorted by image_uuid and
    images whole), then the keep rule (sample_keyed_batches); the kept rows written by
    `files` and added to the progress line. Counters: rows read, candidates (the rows
    the keep rule ran on)."""
    fault = faults.fault_for("sample")   # None but in tests (curate.faults)

    def task(batches):
        stats: dict = {}
        picker = TextPicker() if pick else None
        candidates = picker.pick(batches) if picker else batches
        kept = sample_keyed_batches(candidates, p_broadcast.value, languages, stats)
        if fault is not None:
            kept = fault.wrap(kept, *task_files.task_attempt())
        written = files.write(kept, *task_files.task_attempt())
        live.add(rows=sum(n for _, n in written))
        counters = {"candidates": stats.get("rows", 0),
                    "not_sampled": stats.get("not_sampled", 0),
                    "rows": picker.rows if picker else stats.get("rows", 0)}
        yield task_files.task_result(SAMPLE_RESULT, written, counters,
                                     expected=stats.get("expected", 0.0),
                                     sorted=picker.sorted if picker else True)

    return task


def _by_image(keyed):
    """The rows shuffled by image_uuid and sorted: each partition holds whole images."""
    return keyed.repartition("image_uuid").sortWithinPartitions("image_uuid")


def candidates_of(keyed, unit: str, layout: str):
    """The candidates, the rows the keep rule runs on, as a DataFrame (for --target-size):
    every row, or each image's picked row (picked after a shuffle: a whole-file task cannot tell the
    driver to fall back from inside a lazily evaluated frame)."""
    if unit == "pair":
        return keyed, layout

    def pick(batches):
        yield from TextPicker().pick(batches)

    return _by_image(keyed).mapInArrow(pick, keyed.schema), "shuffle"


def files_hold_disjoint_images(input: str, threads: int = io.FOOTER_THREADS) -> bool:
    """Whether the Parquet files of `input` hold disjoint image_uuid ranges, by their
    footers' statistics (no data read): as dedup and match write them. Whether each file
    is sorted inside only the tasks can tell (TextPicker.sorted). The footers are read by
    `threads` threads (a crawl's output has 100,000 files); the files are judged in
    order, so the first file without statistics ends it as a loop would."""
    ranges = []
    for found in io.read_footers(io.data_files(input), threads, _image_uuid_range):
        if found is _NO_STATISTICS:
            return False
        if found is not None:
            ranges.append(found)
    return ranges_are_disjoint(ranges)


_NO_STATISTICS = object()


def _image_uuid_range(metadata):
    """A footer's (min, max) image_uuid over its row groups with rows; None when it has no
    rows; _NO_STATISTICS when a row group has no min and max (ValueError: no image_uuid)."""
    column = metadata.schema.names.index("image_uuid")
    groups = [metadata.row_group(g) for g in range(metadata.num_row_groups)]
    statistics = [g.column(column).statistics for g in groups if g.num_rows]
    if not all(s is not None and s.has_min_max for s in statistics):
        return _NO_STATISTICS
    if not statistics:
        return None
    return min(s.min for s in statistics), max(s.max for s in statistics)


def _expected_sizes(candidates, vectors: dict[str, np.ndarray], ts: np.ndarray,
                    t_lang: dict[str, int], lang: str, floor: int) -> np.ndarray:
    """The expected output size for each candidate English t: one pass over the rows."""
    table = [thresholds(vectors, int(t), t_lang, english=lang, floor=floor) for t in ts]
    t_table = {code: np.array([row[code] for row in table]) for code in vectors}
    counts_broadcast = candidates.sparkSession.sparkContext.broadcast(vectors)

    def partition_sizes(batches):
        sizes = expected_kept(batches, counts_broadcast.value, t_table, lang)
        yield pa.RecordBatch.from_arrays([pa.array([sizes.astype(np.float64).tobytes()])],
                                         schema=EXPECTED)

    parts = candidates.select("lang", "matched_entry_ids").mapInArrow(
        partition_sizes, schemas.spark_schema(EXPECTED)).collect()
    counts_broadcast.unpersist()
    return sum((np.frombuffer(row.expected, dtype=np.float64) for row in parts),
               np.zeros(len(ts)))


def unused_t_lang(t_lang: dict[str, int], vectors: dict) -> list[str]:
    """A warning for each --t-lang of a language the counts have no list for."""
    return [f"--t-lang {code}={value}: the counts have no {code} list; ignored"
            for code, value in sorted(t_lang.items()) if code not in vectors]


def _t_above_all(vectors: dict[str, np.ndarray], lang: str) -> int:
    vector = vectors.get(lang, next(iter(vectors.values())))
    return int(vector.max()) + 1 if len(vector) else 2


def _check_lineage(matched: str, counts: str) -> None:
    """Refuse counts that were not made from this very matched output (their report's
    made_from names the one they counted), or either input without its report: the keep
    probabilities would come from another pool's counts."""
    made = io.require_report(matched, "match", "sample")
    counted = io.require_report(counts, "count", "sample")
    counted_id = counted.made_from.get("match")
    if counted_id != made.id:
        raise UserError(f"--counts {counts} counts the matched output {counted_id or '(none)'}, "
                        f"not {matched} ({made.id}); count this matched output first")
    a, b = metadata_of(matched).get("fingerprint"), metadata_of(counts).get("fingerprint")
    if a and b and a != b:
        raise UserError(f"{counts} counts another metadata list than {matched} was matched "
                        f"with; count the same matched output first")
