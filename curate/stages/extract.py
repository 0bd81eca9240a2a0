"""extract: WARC/WAT/ARC files -> pairs. One Spark task per input file.

Each task reads its file with the pure core (core.extract.stream.pair_batches), writes the
pairs itself (task_files: they never go back to the JVM) and returns one result row with
the file's counters and errors; the driver commits the files, writes `__curate__/errors` and
`__curate__/inputs.txt`, and checks that the counters add up to the rows written.
"""
from __future__ import annotations

import pyarrow as pa

from curate import schemas
from curate.core.extract.records import FileReport
from curate.core.extract.stream import pair_batches
from curate.errors import RunFailed
from curate.options import ExtractOptions
from curate.sources.listing import listing_text, task_order
from curate.sources.s3 import effective_s3_endpoint, set_s3_endpoint
from curate.stages import io, task_files
from curate.stages.io import ERRORS_DIR, INPUTS_FILE, StageReport, staged_output
from curate.stages.task_files import TaskFiles, TaskResults

# A file's errors travel in its task's result row.
ERROR_ITEM = pa.struct([pa.field("offset", pa.int64()), pa.field("reason", pa.string())])
EXTRACT_RESULT = task_files.result_schema(pa.field("path", pa.string()),
                                          pa.field("errors", pa.list_(ERROR_ITEM)))
# Columns with few distinct values per file: a dictionary makes them nearly free.
_DICTIONARY_COLUMNS = ("text_source", "page_url", "source_path", "crawl", "lang")


def run_extract(spark, paths: list[str], output: str, options: ExtractOptions) -> StageReport:
    """Extract pairs from `paths` (already resolved: curate.sources.inputs.resolve_inputs)."""
    with staged_output(output, "extract") as (tmp, finish):
        files = TaskFiles(tmp, schemas.PAIRS, None, task_files.codec(spark),
                          dictionary_columns=_DICTIONARY_COLUMNS)
        results = _read_files(spark, task_order(paths, options.seed), files, options)
        task_files.commit(tmp, results.files(), schemas.PAIRS)
        _write_errors(io.join(tmp, ERRORS_DIR), results)
        io.write_text(io.join(tmp, INPUTS_FILE), listing_text(paths))
        report = extract_report(output, results, len(paths))
        report.details["max_failed_fraction"] = options.max_failed_fraction
        finish(report)
    _check_failed_fraction(report, options.max_failed_fraction)
    return report


def _read_files(spark, paths: list[str], files: TaskFiles, options: ExtractOptions
                ) -> TaskResults:
    # The driver's S3 endpoint (a MinIO, R2 or test server) travels with the task: the
    # executors' environment was fixed when they started.
    endpoint = effective_s3_endpoint(options.s3_endpoint_url)
    batch_rows, page = options.batch_rows, options.page
    # The names reach the workers as a broadcast, once per executor, parsed once per Python
    # worker: a list held by the task's function would be pickled into it (14 MB for a
    # crawl's 100,000 names) and unpickled again by every one of the 100,000 tasks.
    paths_broadcast = spark.sparkContext.broadcast(paths)

    def read_file(batches):
        set_s3_endpoint(endpoint)
        names = paths_broadcast.value
        for batch in batches:
            for index in batch.column("id").to_pylist():
                path = names[index]
                report = FileReport()
                written = files.write(pair_batches(path, report, batch_rows, page),
                                      *task_files.task_attempt())
                yield task_files.task_result(
                    EXTRACT_RESULT, written, report.counters, path=path,
                    errors=[{"offset": offset, "reason": reason}
                            for offset, reason in report.errors])

    # range(n) in n partitions: exactly one file index per task.
    frame = spark.range(0, len(paths), 1, max(1, len(paths))).mapInArrow(
        read_file, schemas.spark_schema(EXTRACT_RESULT))
    try:
        return TaskResults.collect(frame)
    finally:
        paths_broadcast.unpersist()


def _write_errors(directory: str, results: TaskResults) -> None:
    rows = [{"path": row.path, "stage": "extract", "offset": error.offset,
             "reason": error.reason} for row in results.rows for error in row.errors or []]
    io.make_dirs(directory)
    io.write_parquet(io.join(directory, "part-00000.parquet"),
                     pa.Table.from_pylist(rows, schema=schemas.ERRORS))


# Failed input files named in the report (and on the terminal); the rest are in _errors.
FAILED_FILES_SHOWN = 5


def failures_allowed(files: int, limit: float) -> int:
    """How many failed input files a run of `files` goes on with: the share `limit` of them,
    at least one when `limit` > 0 (one truncated file among twelve should not stop a run
    at the 1% default), never all of them (a run that read nothing has failed)."""
    allowed = int(limit * files + 1e-9)
    if limit > 0:
        allowed = max(allowed, 1)
    return min(allowed, files - 1)


def _check_failed_fraction(report: StageReport, limit: float) -> None:
    failed, files = report.details["files_failed"], report.details["files"]
    if files and failed > failures_allowed(files, limit):
        first = report.details["failed_files"][0]
        allowed = failures_allowed(files, limit)
        raise RunFailed(f"{failed} of {files} input files failed (--max-failed-fraction "
                        f"{limit:g} allows {max(allowed, 0)}), first {first['path']}: "
                        f"{first['reason']}; the output is complete for the rest, see "
                        f"{report.output}/{ERRORS_DIR}", report)


def extract_report(output: str, results: TaskResults, n_files: int) -> StageReport:
    """Rows are text candidates: every text attribute of an <img> (or WAT image link). The
    rows out are the rows the committed files hold, which the counters must match."""
    counters = results.counters()
    written = sum(rows for _, files in results.files() for _, rows in files)
    if written != counters["pairs"]:
        raise RuntimeError(f"extract: {written} rows written but {counters['pairs']} counted")
    dropped = {k.split(":", 1)[1]: v for k, v in sorted(counters.items())
               if k.startswith("texts_dropped:")}
    skipped = {k.split(":", 1)[1]: v for k, v in sorted(counters.items())
               if k.startswith("records_skipped:")}
    failures = sorted((row.path, error.reason) for row in results.rows
                      for error in (row.errors or [])[:1])
    details = {
        "files": n_files, "files_read": counters["files_read"],
        "failed_files": [{"path": path, "reason": reason}
                         for path, reason in failures[:FAILED_FILES_SHOWN]],
        "files_failed": counters["files_failed"], "records": counters["records"],
        "records_used": counters["records_used"], "records_skipped": skipped,
        "images": counters["images"],
    }
    return StageReport("extract", output, rows_in=counters["texts_found"], rows_out=written,
                       dropped=dropped, details=details)
