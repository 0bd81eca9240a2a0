"""dedup: one row per distinct (image_uuid, text) over the whole input.

The rows are shuffled by image_uuid ranges (not hashed), so the output's files hold
disjoint image_uuid ranges, each sorted: an image's texts are together, which lets sample
pick one text per image without a shuffle of its own. The range bounds cost Spark one
extra read of the input's image_uuid (a sample of it). No Python runs: Spark's own
aggregate and writer, with the rows in and out from the Parquet footers and the
duplicates counted in the aggregate."""
from __future__ import annotations

from curate import schemas
from curate.errors import CountsDisagree
from curate.stages import io
from curate.stages.io import StageReport, read_stage_input, staged_output, written_rows
from curate.stages.progress import progress
from curate.stages.task_files import check_shared_output

KEY = ("image_uuid", "text")


def run_dedup(spark, input: str, output: str, options: None = None, *,
              quiet: bool = False) -> StageReport:
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    check_shared_output(spark, output)
    pairs = read_stage_input(spark, input, schemas.PAIRS.names)
    rest = [c for c in schemas.PAIRS.names if c not in KEY]
    # The smallest (source_path, page_url, ...) wins: the same row whatever the partitioning.
    first = F.min(F.struct(*rest)).alias("first")
    # The duplicates are counted where they go, in the aggregate (each group's rows but
    # one), and so are the rows it passes to the writer: Spark's observed metrics of the
    # write job's own tasks (its result stage: each partition counted once, retries not),
    # no second pass. Rows out come from the written files, rows in from the input's.
    seen = Observation("dedup")
    # One shuffle: the aggregate by (image_uuid, text) takes the range partitioning by
    # image_uuid as it is, and sorts each partition by its keys, so the last sort is free.
    deduped = (pairs.repartitionByRange("image_uuid").groupBy(*KEY)
               .agg(first, F.count(F.lit(1)).alias("copies"))
               .observe(seen, F.count(F.lit(1)).alias("rows"),
                        F.sum(F.col("copies") - 1).alias("duplicate"))
               .select(*[F.col(c) if c in KEY else F.col(f"first.{c}") for c in
                         schemas.PAIRS.names])
               .sortWithinPartitions("image_uuid"))
    # Spark's own writer: the progress line shows tasks, not rows.
    with staged_output(output, "dedup", [input],
                       recipe_id=io.recipe("dedup", None)) as (tmp, finish), \
            progress(spark, "dedup", quiet=quiet, rows=False):
        rows_in = pairs.count()   # from the input's footers: no data read
        io.spark_write(deduped, tmp)
        observed = seen.get
        report = dedup_report(output, rows_in, int(observed["rows"]),
                              int(observed["duplicate"] or 0), written_rows(spark, tmp))
        finish(report)
    return report


def dedup_report(output: str, rows_in: int, kept: int, duplicates: int, written: int
                 ) -> StageReport:
    """The report from four counts taken apart: rows in (the input's footers), rows the
    aggregate kept and duplicates it dropped (observed), rows written (the output's
    footers). Kept rows that are not in the files were lost on the way (a task that wrote
    where the driver does not read): CountsDisagree, as is rows in != kept + dropped."""
    if written != kept:
        raise CountsDisagree(f"dedup: {kept} distinct rows were written but the output's "
                             f"files hold {written}; the output was not committed")
    return StageReport("dedup", output, rows_in, written,
                       dropped={"duplicate": duplicates}).check()
