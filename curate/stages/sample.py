"""sample: balanced sampling of matched pairs with the entry counts (ALGORITHM.md §5, §6).

Unit "image" (the default, as Meta CLIP 2): each image keeps one of its texts by a seeded
draw, then the keep rule runs on those; unit "pair" runs the keep rule on every row
(Algorithm 1 literally). An image's texts must meet for the draw. When the input's files
hold disjoint, sorted image_uuid ranges (as dedup and match write them), they already
do: each task picks inside its pieces of files and only the images on their edges are
settled afterwards (curate.image_runs). Any other input is shuffled by image_uuid and
sorted (with --target-size, one aggregate picks the texts, kept for the passes that
choose t); all give the same rows.
Draws and row keys are Spark's xxhash64, computed in the JVM; each task runs the keep
rule on its rows' Arrow batches (sampling.sample_keyed_batches) and writes the kept rows
itself (stages.task_files): they never go back to the JVM. The output is flat Parquet
files of at most `max_rows_per_file` rows with `url` and `text` columns: what img2dataset
reads (`--url_col url --caption_col text`).
"""
from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa

from curate import schemas
from curate.config import defaults
from curate.errors import UserError
from curate.sampling import (LANG_CODE, ROW_KEY, UNITS, Balance, expected_kept,
                             keep_probabilities, spark_row_key, t_for_size, thresholds)
from curate.stages import task_files
from curate.stages.common import read_stage_input
from curate.stages.count import read_counts
from curate.stages.output import StageReport, read_report, staged_output
from curate.stages.sample_jobs import SampleJob, files_hold_sorted_disjoint_images, units_of
from curate.stages.task_files import TaskFiles

SUMMARY_FILE = "_summary.json"
EXPECTED = pa.schema([pa.field("expected", pa.binary(), nullable=False)])


def run_sample(spark, matched_path: str, counts_path: str, out: str,
               balance: Balance = Balance(), lang: str | None = None,
               max_rows_per_file: int | None = None) -> StageReport:
    from pyspark import StorageLevel

    t = defaults().t if balance.t is None else balance.t
    seed = defaults().seed if balance.seed is None else balance.seed
    unit, t_lang, target_size = balance.unit, dict(balance.t_lang), balance.target_size
    lang = lang or defaults().lang
    max_rows_per_file = max_rows_per_file or defaults().max_rows_per_file
    check_balance(balance)
    if max_rows_per_file < 1:
        raise UserError(f"max_rows_per_file must be at least 1, got {max_rows_per_file}")
    codec = task_files.codec(spark)
    _check_same_metadata(matched_path, counts_path)
    counts = read_counts(spark, counts_path)
    matched = read_stage_input(spark, matched_path, schemas.MATCHED.names)
    # Only the columns the output keeps are read.
    units = units_of(matched.select(*schemas.CURATED.names), unit, seed)
    if target_size is not None:   # several passes over the units: keep them
        units = units.persist(StorageLevel.MEMORY_AND_DISK)
        t, _expected = t_for_size(lambda ts: _expected_sizes(units, counts, ts, t_lang, lang),
                                  target_size, _t_above_all(counts, lang))
    t_by_lang = thresholds(counts, t, t_lang, english=lang)
    p_broadcast = spark.sparkContext.broadcast(
        {code: keep_probabilities(vector, t_by_lang[code]) for code, vector in counts.items()})
    languages = sorted(counts)
    keyed_columns = [spark_row_key(seed).alias(ROW_KEY),
                     _language_code(languages, lang).alias(LANG_CODE)]
    try:
        with staged_output(out, "sample") as (tmp, finish):
            files = TaskFiles(tmp, schemas.CURATED, max_rows_per_file, codec)
            job = SampleJob(files, p_broadcast, languages, keyed_columns)
            results, rows_read, image_pick = _sample(job, matched, matched_path, units, unit,
                                                     target_size)
            committed = task_files.commit(tmp, [(r.partition, list(zip(r.files, r.file_rows)))
                                                for r in results], schemas.CURATED)
            rows_out = sum(rows for _, rows in committed)
            units_seen = sum(r.units for r in results)
            expected = sum(r.expected for r in results)
            rows_in = (units_seen if unit == "pair" else
                       rows_read if rows_read is not None else matched.count())
            summary = {"unit": unit, "seed": seed, "t": t_by_lang, "target_size": target_size,
                       "image_pick": image_pick,
                       "expected_size": round(expected, 1), "size": rows_out,
                       "max_rows_per_file": max_rows_per_file,
                       "img2dataset": "--input_format parquet --url_col url --caption_col text"}
            with open(os.path.join(tmp, SUMMARY_FILE), "w", encoding="utf-8") as f:
                json.dump(summary, f, indent=2)
            dropped = {"not_sampled": units_seen - rows_out}
            if unit == "image":
                dropped["other_text_of_image"] = rows_in - units_seen
            report = StageReport("sample", out, rows_in, rows_out, dropped=dropped, details={
                **summary, "head_entries": {code: int((vector >= t_by_lang[code]).sum())
                                            for code, vector in counts.items()},
                "metadata": _matched_metadata(matched_path)})
            finish(report)
    finally:
        p_broadcast.unpersist()
        if target_size is not None:
            units.unpersist()
    return report


def _sample(job: SampleJob, matched, matched_path: str, units, unit: str,
            target_size: int | None) -> tuple[list, int | None, str | None]:
    """Run the job that fits: (its task results, the rows it read when it counted them,
    how --unit image picked the texts)."""
    if unit == "pair":
        return job.run(units), None, None
    if target_size is not None:   # the units, aggregated and kept for the search of t
        return job.run(units), None, "shuffle"
    if files_hold_sorted_disjoint_images(matched_path):
        picked = job.pick_in_chunks(matched)
        if picked is not None:
            return *picked, "sorted_chunks"
    return job.pick_after_shuffle(matched), None, "shuffle"


def _language_code(languages: list[str], default_lang: str):
    """A row's language (a null lang is default_lang) as its index in `languages`, -1 for
    another one."""
    from pyspark.sql import functions as F

    lang = F.coalesce(F.col("lang"), F.lit(default_lang))
    return (F.array_position(F.array(*[F.lit(code) for code in languages]), lang) - 1
            ).cast("int")


def check_balance(balance: Balance) -> None:
    """A user error for every option that cannot work, before Spark starts."""
    if balance.t is not None and balance.t < 1:
        raise UserError(f"--t must be a positive number of matches, got {balance.t}")
    if balance.unit not in UNITS:
        raise UserError(f"--unit must be one of {', '.join(UNITS)}, not {balance.unit}")
    for code, value in balance.t_lang.items():
        if value < 1:
            raise UserError(f"--t-lang {code}={value}: t must be a positive number of matches")
    if balance.target_size is not None and balance.target_size < 1:
        raise UserError(f"--target-size must be a positive number of rows, "
                        f"got {balance.target_size}")


def _expected_sizes(rows, counts: dict[str, np.ndarray], ts: np.ndarray,
                    t_lang: dict[str, int] | None, lang: str) -> np.ndarray:
    """The expected output size for each candidate English t: one pass over the rows."""
    table = [thresholds(counts, int(t), t_lang, english=lang) for t in ts]
    t_table = {code: np.array([row[code] for row in table]) for code in counts}
    sc = rows.sparkSession.sparkContext
    counts_broadcast = sc.broadcast(counts)

    def partition_sizes(batches):
        sizes = expected_kept(batches, counts_broadcast.value, t_table, lang)
        yield pa.RecordBatch.from_arrays([pa.array([sizes.astype(np.float64).tobytes()])],
                                         schema=EXPECTED)

    parts = rows.select("lang", "matched_entry_ids").mapInArrow(
        partition_sizes, schemas.spark_schema(EXPECTED)).collect()
    counts_broadcast.unpersist()
    return sum((np.frombuffer(row.expected, dtype=np.float64) for row in parts),
               np.zeros(len(ts)))


def _t_above_all(counts: dict[str, np.ndarray], lang: str) -> int:
    vector = counts.get(lang, next(iter(counts.values())))
    return int(vector.max()) + 1 if len(vector) else 2


def _matched_metadata(matched_path: str) -> dict:
    report = read_report(matched_path)
    return (report.details.get("metadata") if report else None) or {}


def _check_same_metadata(matched_path: str, counts_path: str) -> None:
    matched, counts = read_report(matched_path), read_report(counts_path)
    if not matched or not counts:
        return
    a = matched.details.get("metadata", {}).get("fingerprint")
    b = counts.details.get("metadata", {}).get("fingerprint")
    if a and b and a != b:
        raise UserError(f"{counts_path} counts another metadata list than {matched_path} "
                        f"was matched with; count the same matched output first")
