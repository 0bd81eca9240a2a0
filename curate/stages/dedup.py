"""dedup: one row per distinct (image_uuid, text) over the whole input."""
from __future__ import annotations

from curate import schemas
from curate.stages.common import read_stage_input, write_filtering_stage
from curate.stages.output import StageReport

KEY = ("image_uuid", "text")


def run_dedup(spark, inp: str, out: str) -> StageReport:
    from pyspark.sql import functions as F

    pairs = read_stage_input(spark, inp, schemas.PAIRS.names)
    rest = [c for c in schemas.PAIRS.names if c not in KEY]
    # The smallest (source_path, page_url, ...) wins: the same row whatever the partitioning.
    first = F.min(F.struct(*rest)).alias("first")
    deduped = (pairs.groupBy(*KEY).agg(first)
               .select(*[F.col(c) if c in KEY else F.col(f"first.{c}") for c in
                         schemas.PAIRS.names]))
    return write_filtering_stage(spark, "dedup", pairs, deduped, out, "duplicate")
