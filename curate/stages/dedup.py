"""dedup: one row per distinct (image_uuid, text) over the whole input.

The rows are shuffled by image_uuid ranges (not hashed), so the output's files hold
disjoint image_uuid ranges, each sorted: an image's texts are together, which lets sample
pick one text per image without a shuffle of its own. The range bounds cost Spark one
extra read of the input's image_uuid (a sample of it). No Python runs: Spark's own
aggregate and writer, with the rows in and out from the Parquet footers."""
from __future__ import annotations

from curate import schemas
from curate.stages import io
from curate.stages.io import StageReport, read_stage_input, staged_output, written_rows
from curate.stages.progress import progress

KEY = ("image_uuid", "text")


def run_dedup(spark, input: str, output: str, options: None = None, *,
              quiet: bool = False) -> StageReport:
    from pyspark.sql import functions as F

    pairs = read_stage_input(spark, input, schemas.PAIRS.names)
    rest = [c for c in schemas.PAIRS.names if c not in KEY]
    # The smallest (source_path, page_url, ...) wins: the same row whatever the partitioning.
    first = F.min(F.struct(*rest)).alias("first")
    # One shuffle: the aggregate by (image_uuid, text) takes the range partitioning by
    # image_uuid as it is, and sorts each partition by its keys, so the last sort is free.
    deduped = (pairs.repartitionByRange("image_uuid").groupBy(*KEY).agg(first)
               .select(*[F.col(c) if c in KEY else F.col(f"first.{c}") for c in
                         schemas.PAIRS.names])
               .sortWithinPartitions("image_uuid"))
    # Spark's own writer: the progress line shows tasks, not rows.
    with staged_output(output, "dedup", [input],
                       recipe_id=io.recipe("dedup", None)) as (tmp, finish), \
            progress(spark, "dedup", quiet=quiet, rows=False):
        rows_in = pairs.count()
        io.spark_write(deduped, tmp)
        rows_out = written_rows(spark, tmp)
        report = StageReport("dedup", output, rows_in, rows_out,
                             dropped={"duplicate": rows_in - rows_out})
        finish(report)
    return report
