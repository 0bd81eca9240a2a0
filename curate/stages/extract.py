"""extract: WARC/WAT/ARC files -> pairs. One Spark task per input file.

Each task reads its file with the pure core (core.extract.stream.pair_batches), writes the
pairs itself (task_files: they never go back to the JVM) and returns one result row with
the file's counters and errors; the driver commits the files, writes `__curate__/errors` and
`__curate__/inputs.txt`, and checks that the counters add up to the rows written.
"""
from __future__ import annotations

from dataclasses import replace

import pyarrow as pa

from curate import faults, schemas
from curate.core.extract.records import FileReport
from curate.core.extract.stream import pair_batches
from curate.errors import CountsDisagree, RunFailed
from curate.options import ExtractOptions
from curate.sources.listing import listing_text, task_order
from curate.sources.local import listed_name
from curate.sources.redact import redact
from curate.sources.s3 import s3_access, use_s3_access
from curate.stages import io, task_files
from curate.stages.io import ERRORS_DIR, INPUTS_FILE, StageReport, staged_output
from curate.stages.progress import TaskProgress, input_size, progress, total_size
from curate.stages.task_files import TaskFiles, TaskResults

# A file's errors travel in its task's result row.
ERROR_ITEM = pa.struct([pa.field("offset", pa.int64()), pa.field("reason", pa.string())])
EXTRACT_RESULT = task_files.result_schema(pa.field("path", pa.string()),
                                          pa.field("errors", pa.list_(ERROR_ITEM)))
# Columns with few distinct values per file: a dictionary makes them nearly free.
_DICTIONARY_COLUMNS = ("text_source", "page_url", "source_path", "crawl", "lang")


def run_extract(spark, paths: list[str], output: str, options: ExtractOptions, *,
                quiet: bool = False) -> StageReport:
    """Extract pairs from `paths` (already resolved: curate.sources.inputs.resolve_inputs).

    The files are read in groups (options.commit_every files, or group_size's choice), each
    group one Spark job whose files are committed, with a record of its task results,
    before the next starts. A run that dies keeps what its groups committed
    (staged_output(resumable=True)); the same command again reads only the other groups'
    files and ends with the output an uninterrupted run writes (the same files, named by
    each input file's place in the task order). `quiet`: no progress line (stages.progress).
    A local path that is not UTF-8 or holds a control character is read and recorded by its
    file:// URI (sources.local.listed_name), so no name can stop the stage."""
    task_files.check_shared_output(spark, output)
    paths = [listed_name(path) for path in paths]
    ordered = task_order(paths, options.seed)
    plan = _plan_id(ordered, options)
    size = options.commit_every or group_size(spark)
    with staged_output(output, "extract", resumable=True,
                       recipe_id=io.recipe("extract", plan)) as (tmp, finish):
        files = TaskFiles(tmp, schemas.PAIRS, None, task_files.codec(spark),
                          dictionary_columns=_DICTIONARY_COLUMNS)
        earlier, cleaned = _earlier_groups(tmp, plan, size, len(ordered))
        rows, resumed = [], 0
        # The line counts the files this run reads: a resumed run's ETA is that of the rest.
        todo = [path for k, path in enumerate(ordered) if k - k % size not in earlier]
        with progress(spark, "extract", quiet=quiet, files=len(todo),
                      bytes_total=total_size(todo)) as live:
            for start in range(0, len(ordered), size):
                group = earlier.get(start)
                if group is None:
                    group = _read_files(spark, ordered, start, start + size, files, options,
                                        live)
                    task_files.commit(tmp, group.files(), schemas.PAIRS, empty_file=False)
                    io.write_json(io.join(tmp, GROUPS_DIR, f"{start:09d}.json"),
                                  {"plan": plan, "end": min(start + size, len(ordered)),
                                   "results": group.to_json()}, indent=None)
                else:
                    resumed += len(group.rows)
                rows.extend(group.rows)
        results = TaskResults(rows)
        if not any(files for _, files in results.files()):
            task_files.write_empty(tmp, schemas.PAIRS)
        _write_errors(io.join(tmp, ERRORS_DIR), results)
        # Names as curate writes them (sources.redact): no credentials or URL tokens.
        io.write_text(io.join(tmp, INPUTS_FILE), listing_text(map(redact, paths)))
        io.remove_tree(io.join(tmp, GROUPS_DIR))
        on_disk = sum(io.footer_rows(io.data_files(tmp)))   # every group's files
        report = extract_report(output, results, len(paths), on_disk)
        report.details.update(max_failed_fraction=options.max_failed_fraction,
                              files_resumed=resumed, commit_every=size)
        if cleaned:   # (staged_output adds what it removed itself)
            report.details["cleaned_up"] = cleaned
        finish(report)
    _check_failed_fraction(report, options.max_failed_fraction)
    return report


# Records of the groups committed so far, while the stage runs (removed at its end).
GROUPS_DIR = f"{schemas.SIDE_DIR}/groups"


def group_size(spark) -> int:
    """Files per committed group when not set: eight waves of the cluster's task slots
    (so a group's last, partly idle wave costs little), and at least 64 files."""
    return max(64, 8 * spark.sparkContext.defaultParallelism)


def extract_recipe(paths: list[str], options: ExtractOptions) -> str:
    paths = [listed_name(path) for path in paths]
    return io.recipe("extract", _plan_id(task_order(paths, options.seed), options))


def _plan_id(ordered: list[str], options: ExtractOptions) -> str:
    """What decides the output: the files in task order, how pages are read, the package.
    A run with another plan cannot go on from this one's groups."""
    import hashlib
    import json
    from dataclasses import asdict
    from importlib.metadata import version

    text = json.dumps([ordered, asdict(options.page), options.batch_rows, version("curate")])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _earlier_groups(tmp: str, plan: str, size: int, n_files: int
                    ) -> tuple[dict[int, TaskResults], list[str]]:
    """The groups an earlier run of the same plan committed, by their first file's place,
    that are groups of this run too (the same files: another --commit-every cuts others);
    anything else in `tmp` (another plan's or group size's work, or files of a group that
    died before its record was written) is removed, and returned."""
    groups, keep = {}, set()
    for name in io.list_dir(io.join(tmp, GROUPS_DIR)):
        start = int(name.split(".")[0])
        try:
            record = io.read_json(io.join(tmp, GROUPS_DIR, name))
        except (ValueError, OSError):
            continue
        if record.get("plan") == plan and start % size == 0 \
                and record.get("end") == min(start + size, n_files):
            results = TaskResults.from_json(record["results"])
            groups[start] = results
            keep.update(file.rsplit("/", 1)[-1] for _, files in results.files()
                        for file, _ in files)
    removed = [io.join(tmp, name) for name in io.list_dir(tmp)
               if name not in keep and name != schemas.SIDE_DIR]
    removed += [io.join(tmp, GROUPS_DIR, name) for name in io.list_dir(io.join(tmp, GROUPS_DIR))
                if int(name.split(".")[0]) not in groups]
    for uri in removed:
        io.remove_tree(uri)
    return groups, removed


def _read_files(spark, ordered: list[str], start: int, end: int, files: TaskFiles,
                options: ExtractOptions, live: TaskProgress = TaskProgress()) -> TaskResults:
    """One Spark job over ordered[start:end], one task per file; each adds its file to
    `live` (the progress line) as it ends."""
    # The driver's S3 endpoint (a MinIO, R2 or test server) and, when the group reads or
    # writes S3, the credentials it resolved (from its environment or a profile) travel
    # with the task: the executors' environment was fixed when they started. Resolved for
    # each group, so temporary credentials are as fresh as the group.
    on_s3 = io.on_s3(files.directory) or any(io.on_s3(path) for path in ordered[start:end])
    access = s3_access(options.s3_endpoint_url, credentials=on_s3)
    files = replace(files, s3=access)
    batch_rows, page = options.batch_rows, options.page
    # The group's names reach the workers as a broadcast, once per executor, parsed once per
    # Python worker: a list held by the task's function would be pickled into it (14 MB for
    # a crawl's 100,000 names) and unpickled again by every task.
    paths_broadcast = spark.sparkContext.broadcast(ordered[start:end])
    fault = faults.fault_for("extract")   # None but in tests (curate.faults)

    def read_file(batches):
        use_s3_access(access)
        names = paths_broadcast.value
        for batch in batches:
            for index in batch.column("id").to_pylist():   # the file's place in the order
                report = FileReport()
                path = names[index - start]
                attempt = task_files.task_attempt()[1]
                pairs = pair_batches(path, report, batch_rows, page)
                if fault is not None:
                    pairs = fault.wrap(pairs, index, attempt)
                written = files.write(pairs, index, attempt)
                live.add(rows=sum(n for _, n in written), files=1,
                         nbytes=input_size(path) or 0)
                yield task_files.task_result(
                    EXTRACT_RESULT, written, report.counters, partition=index,
                    path=redact(path),   # for _errors and the report: as the rows name it
                    errors=[{"offset": offset, "reason": reason}
                            for offset, reason in report.errors])

    # range in as many partitions as files: exactly one file index per task.
    n = len(ordered[start:end])
    frame = spark.range(start, start + n, 1, max(1, n)).mapInArrow(
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


def extract_report(output: str, results: TaskResults, n_files: int, on_disk: int
                   ) -> StageReport:
    """Rows are text candidates: every text attribute of an <img> (or WAT image link). The
    rows out are the rows the committed files hold by their footers (`on_disk`), which
    the tasks' counters must match: a task whose files went elsewhere is caught here."""
    counters = results.counters()
    written = on_disk
    if written != counters["pairs"]:
        raise CountsDisagree(f"extract: the output's files hold {written} rows, the tasks "
                             f"counted {counters['pairs']} pairs; the output was not committed")
    dropped = {k.split(":", 1)[1]: v for k, v in sorted(counters.items())
               if k.startswith("texts_dropped:")}
    skipped = {k.split(":", 1)[1]: v for k, v in sorted(counters.items())
               if k.startswith("records_skipped:")}
    # A failed file's failure is its last error (those before are pages the time guard skipped).
    failures = sorted((row.path, row.errors[-1].reason) for row in results.rows
                      if dict(row.counters or {}).get("files_failed") and row.errors)
    details = {
        "files": n_files, "files_read": counters["files_read"],
        "failed_files": [{"path": path, "reason": reason}
                         for path, reason in failures[:FAILED_FILES_SHOWN]],
        "files_failed": counters["files_failed"],
        # read completely, no pair found: an input with no row among the pairs that is no
        # loss (curate verify holds the inputs without rows to it)
        "files_without_rows": sum(1 for row in results.rows
                                  if not row.errors and not sum(row.file_rows or [])),
        "records": counters["records"],
        "records_used": counters["records_used"], "records_skipped": skipped,
        "images": counters["images"],
    }
    return StageReport("extract", output, rows_in=counters["texts_found"], rows_out=written,
                       dropped=dropped, details=details)
