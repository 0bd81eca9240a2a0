"""extract: WARC/WAT files -> pairs. One Spark task per input file."""
from __future__ import annotations

import json
import os
from collections import Counter

from curate import schemas
from curate.config import defaults
from curate.extract.stream import KIND_COUNTERS, KIND_ERROR, KIND_PAIR, STREAM, file_stream
from curate.inputs import expand_inputs
from curate.stages.output import ERRORS_DIR, StageReport, staged_output


def run_extract(spark, inputs: list[str], out: str, batch_rows: int | None = None) -> StageReport:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    paths = expand_inputs(inputs)
    batch_rows = batch_rows or defaults().batch_rows
    with staged_output(out, "extract") as (tmp, finish):
        stream = _stream(spark, paths, batch_rows).persist(StorageLevel.DISK_ONLY)
        try:
            kind = F.col("record_kind")
            stream.where(kind == KIND_PAIR).select(*schemas.PAIRS.names).write.parquet(tmp)
            stream.where(kind == KIND_ERROR).select(
                F.col("source_path").alias("path"), F.lit("extract").alias("stage"),
                F.col("error_offset").alias("offset"), F.col("error_reason").alias("reason"),
            ).write.parquet(os.path.join(tmp, ERRORS_DIR))
            counters = Counter()
            for row in stream.where(kind == KIND_COUNTERS).select("counters_json").collect():
                counters.update(json.loads(row.counters_json))
        finally:
            stream.unpersist()
        report = extract_report(out, counters, len(paths))
        finish(report)
    return report


def _stream(spark, paths: list[str], batch_rows: int):
    from curate.schemas import spark_schema

    def read_files(batches):
        for batch in batches:
            for index in batch.column("id").to_pylist():
                yield from file_stream(paths[index], batch_rows)

    # range(n) in n partitions: exactly one file index per task; only names travel.
    return spark.range(0, len(paths), 1, len(paths)).mapInArrow(read_files, spark_schema(STREAM))


def extract_report(out: str, counters: Counter, n_files: int) -> StageReport:
    """Rows are text candidates: every text attribute of an <img> (or WAT image link)."""
    dropped = {k.split(":", 1)[1]: v for k, v in sorted(counters.items())
               if k.startswith("texts_dropped:")}
    skipped = {k.split(":", 1)[1]: v for k, v in sorted(counters.items())
               if k.startswith("records_skipped:")}
    details = {
        "files": n_files, "files_read": counters["files_read"],
        "files_failed": counters["files_failed"], "records": counters["records"],
        "records_used": counters["records_used"], "records_skipped": skipped,
        "images": counters["images"],
    }
    return StageReport("extract", out, rows_in=counters["texts_found"],
                       rows_out=counters["pairs"], dropped=dropped, details=details)
