"""What every Spark wrapper shares: reading a stage's input and counting written rows."""
from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from pyspark.accumulators import AccumulatorParam

from curate.errors import UserError
from curate.stages.output import StageReport, local_path, staged_output


def read_stage_input(spark, path: str, expected_columns: list[str]):
    """The Parquet rows of an earlier stage's output; a wrong path is a user error."""
    directory = Path(local_path(path))
    if not directory.is_dir() or not any(directory.glob("*.parquet")):
        raise UserError(f"{path}: not a stage output (no Parquet files in that directory)")
    frame = spark.read.parquet(str(directory))
    missing = [c for c in expected_columns if c not in frame.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)}; "
                        f"is it the output of the right stage?")
    return frame


@contextmanager
def one_input_file_per_task(spark):
    """Inside: each task reads a piece of one file only (Spark packs small files into one
    task otherwise), so a stage that keeps its rows' order writes each file's order
    again. Done by Spark's own rule: a file "costs" openCostInBytes more than its size,
    and a task takes files until maxPartitionBytes; with both equal, one file fills it."""
    key = "spark.sql.files.openCostInBytes"
    before = spark.conf.get(key)
    spark.conf.set(key, spark.conf.get("spark.sql.files.maxPartitionBytes"))
    try:
        yield
    finally:
        spark.conf.set(key, before)


def written_rows(spark, path: str) -> int:
    # Parquet footers hold the row counts, so this reads no data pages.
    return spark.read.parquet(path).count()


def write_filtering_stage(spark, stage: str, rows, result, out: str, drop_reason: str,
                          details: dict | None = None):
    """Write `result` (what is left of `rows`) as the stage output; every row of `rows`
    that is not in it is reported as dropped for `drop_reason`."""
    with staged_output(out, stage) as (tmp, finish):
        rows_in = rows.count()
        result.write.parquet(tmp)
        rows_out = written_rows(spark, tmp)
        report = StageReport(stage, out, rows_in, rows_out,
                             dropped={drop_reason: rows_in - rows_out}, details=details or {})
        finish(report)
    return report


class CounterParam(AccumulatorParam):
    """Counters summed over tasks: each task adds its own once, when it has finished its
    rows; stage reports check the totals against the rows written."""

    def zero(self, value: Counter) -> Counter:
        return Counter()

    def addInPlace(self, total: Counter, more: Counter) -> Counter:
        total.update(more)
        return total
