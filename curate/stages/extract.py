"""extract: WARC/WAT/ARC files -> pairs. One Spark task per input file."""
from __future__ import annotations

import json
import os
from collections import Counter

from curate import schemas
from curate.config import defaults
from curate.errors import RunFailed
from curate.extract.options import ExtractOptions
from curate.extract.stream import KIND_COUNTERS, KIND_ERROR, KIND_PAIR, STREAM, file_stream
from curate.sources import S3_ENDPOINT_ENV
from curate.stages.output import ERRORS_DIR, StageReport, staged_output

INPUTS_FILE = "_inputs.txt"   # the expanded input list, one per line


def run_extract(spark, paths: list[str], out: str, options: ExtractOptions | None = None,
                max_failed_fraction: float | None = None, seed: int = 0) -> StageReport:
    """Extract pairs from `paths` (already resolved: see curate.inputs.resolve_inputs)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from curate.listing import task_order, write_listing

    options = options or defaults().extract
    if max_failed_fraction is None:
        max_failed_fraction = defaults().max_failed_fraction
    with staged_output(out, "extract") as (tmp, finish):
        ordered = task_order(paths, seed)
        stream = _stream(spark, ordered, defaults().batch_rows, options)
        stream = stream.persist(StorageLevel.DISK_ONLY)
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
        write_listing(paths, os.path.join(tmp, INPUTS_FILE))
        report = extract_report(out, counters, len(paths))
        report.details["max_failed_fraction"] = max_failed_fraction
        finish(report)
    _check_failed_fraction(report, max_failed_fraction)
    return report


def _stream(spark, paths: list[str], batch_rows: int, options: ExtractOptions):
    # The driver's S3 endpoint (a MinIO, R2 or test server) travels with the task: the
    # executors' environment was fixed when they started.
    endpoint = os.environ.get(S3_ENDPOINT_ENV)

    def read_files(batches):
        if endpoint:
            os.environ[S3_ENDPOINT_ENV] = endpoint
        for batch in batches:
            for index in batch.column("id").to_pylist():
                yield from file_stream(paths[index], batch_rows, options)

    # range(n) in n partitions: exactly one file index per task; only names travel.
    return spark.range(0, len(paths), 1, len(paths)).mapInArrow(
        read_files, schemas.spark_schema(STREAM))


def _check_failed_fraction(report: StageReport, limit: float) -> None:
    failed, files = report.details["files_failed"], report.details["files"]
    if files and failed / files > limit:
        raise RunFailed(f"{failed} of {files} input files failed ({failed / files:.1%} > "
                        f"--max-failed-fraction {limit:.1%}); the output is complete for the "
                        f"rest, see {report.output}/{ERRORS_DIR}")


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
