"""Stage I/O: every file operation the code does itself, through one filesystem interface.

Spark reads and writes the stages' Parquet rows with its own readers and writers; all else
(stage directories and their reports, summaries, side files, Parquet footers, files that
tasks write, the commit of an output) goes through this module, on a pyarrow.fs filesystem.
Why pyarrow.fs rather than fsspec: pyarrow is already a dependency, its filesystems cover
local, S3, GCS, HDFS and Azure with one interface, and pyarrow's Parquet reader and writer
take them directly (no second set of connectors to install on a cluster image). Which
store a URI names is decided in one place, `curate.stages.stores`.

An output is complete when its report (`__curate__/stage.json`) is there, written after
every other file; `staged_output` says how each kind of store gets there, and readers
refuse an output still being written (`require_stage_output`).
"""
from __future__ import annotations

import functools
import json
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import pyarrow.fs as pafs
import pyarrow.parquet as pq

from curate import faults
from curate.errors import CountsDisagree, RunFailed, UserError
from curate.stages import stores
from curate.schemas import (ENTRY_COUNTS_DIR, ERRORS_DIR, INPUTS_FILE,  # noqa: F401 (re-exported)
                            REPORT_FILE, SIDE_DIR, SUMMARY_FILE, WRITING_FILE)

# The directories `curate run` gives each stage's output inside a work directory.
STAGE_DIRS = {"extract": "pairs", "dedup": "dedup", "match": "matched", "count": "counts",
              "sample": "curated"}


# ------------------------------------------------------------------------ filesystem

_filesystem = stores.filesystem   # (the one mapping of URIs to stores: curate.stages.stores)


def local_path(uri: str) -> str:
    """The local path of `uri` (for libraries that take only paths: matplotlib's savefig)."""
    if not stores.is_local(uri):
        raise UserError(f"{uri}: this command reads and writes local directories only")
    return _filesystem(uri)[1]


def on_s3(uri: str) -> bool:
    """Whether `uri` names an object on S3 (s3://, s3a://, s3n://)."""
    return stores.scheme_of(uri) in stores.S3_SCHEMES


def join(directory: str, *names: str) -> str:
    return "/".join([directory.rstrip("/"), *names])


def parent_and_name(uri: str) -> tuple[str, str]:
    """The URI of the folder holding `uri` (same scheme; a plain path made absolute) and
    the last name in it."""
    parent, _, name = stores.absolute(uri).rpartition("/")
    return parent or "/", name


def exists(uri: str) -> bool:
    fs, path = _filesystem(uri)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def is_dir(uri: str) -> bool:
    fs, path = _filesystem(uri)
    return fs.get_file_info(path).type == pafs.FileType.Directory


def list_dir(uri: str) -> list[str]:
    """The names directly in directory `uri`, sorted ([] when it does not exist)."""
    fs, path = _filesystem(uri)
    selector = pafs.FileSelector(path, allow_not_found=True)
    return sorted(info.base_name for info in fs.get_file_info(selector))


def data_files(uri: str, suffix: str = ".parquet") -> list[str]:
    """The data files of a stage output (names not starting with "_" or "."), sorted."""
    return [join(uri, name) for name in list_dir(uri)
            if name.endswith(suffix) and not name.startswith(("_", "."))]


def make_dirs(uri: str) -> None:
    """A directory and its parents, where directories exist (an object store has only
    keys: there it is nothing)."""
    if stores.renames_atomically(uri):
        fs, path = _filesystem(uri)
        fs.create_dir(path, recursive=True)


def remove_tree(uri: str) -> None:
    """Remove a directory (or file) this code made, and all in it; nothing if it is gone."""
    fs, path = _filesystem(uri)
    kind = fs.get_file_info(path).type
    if kind == pafs.FileType.Directory:
        fs.delete_dir(path)
    elif kind != pafs.FileType.NotFound:
        fs.delete_file(path)


def move(source: str, target: str) -> None:
    fs, source_path = _filesystem(source)
    fs.move(source_path, _filesystem(target)[1])


MOVE_THREADS = 16   # on an object store a move is a server-side copy: worth doing at once


def move_all(moves: list[tuple[str, str]]) -> None:
    """Each (source, target) moved; in parallel where a move is a copy (object stores)."""
    if len(moves) < 2 or stores.renames_atomically(moves[0][0]):
        for source, target in moves:
            move(source, target)
        return
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(MOVE_THREADS) as pool:
        for _ in pool.map(lambda pair: move(*pair), moves):
            pass


# The AWS SDK under pyarrow's S3 filesystem reads an object into a buffer of the object's
# size; an error answer longer than that (a 503 SlowDown's XML, ~250 bytes, to the read of
# a lock or a small report) cannot be written into it, and the SDK calls this a
# non-retryable INTERNAL_FAILURE, "Failed to flush response stream", so its own retries
# never run (apache/doris#61636 retries it for the same reason). A read has no effect:
# such a failure is tried again here, with the inputs' retry policy (attempts, jittered
# backoff).
_UNWRITABLE_ANSWER = "Failed to flush response stream"


def _read(read):
    """read(), tried again on the SDK's unwritable error answer."""
    failures = 0
    while True:
        try:
            return read()
        except OSError as error:
            failures += 1
            if _UNWRITABLE_ANSWER not in str(error) or failures >= _side_read_policy().tries:
                raise
            time.sleep(_side_read_policy().delay(failures))


@functools.cache
def _side_read_policy():
    from curate.sources import streams
    from curate.sources.resuming import RetryPolicy
    return RetryPolicy(tries=streams.TRIES, backoff=streams.BACKOFF,
                       backoff_cap=streams.BACKOFF_CAP, max_retry_time=streams.MAX_RETRY_TIME,
                       timeout=streams.TIMEOUT, chunk_size=streams.CHUNK_SIZE)


def read_text(uri: str) -> str:
    fs, path = _filesystem(uri)

    def read() -> str:
        with fs.open_input_stream(path) as stream:
            return stream.read().decode("utf-8")
    return _read(read)


def write_text(uri: str, text: str) -> None:
    write_bytes(uri, text.encode("utf-8"))


def write_bytes(uri: str, data: bytes) -> None:
    make_dirs(parent_and_name(uri)[0])   # side files sit in SIDE_DIR
    fs, path = _filesystem(uri)
    with fs.open_output_stream(path) as stream:
        stream.write(data)


def copy_file(source: str, target: str) -> None:
    fs, source_path = _filesystem(source)
    fs.copy_file(source_path, _filesystem(target)[1])


def create_exclusive(uri: str, data: bytes) -> bool:
    """Write `data` to `uri` only if nothing is there, atomically: False when something
    is. Local disks: a hard link of a complete file (so a reader never sees it half
    written); S3: a conditional put (If-None-Match: *). Other stores (HDFS, GCS, Azure)
    get a look, then a write: not atomic, two runs starting in the same instant can both
    pass (stated in docs/operating.md)."""
    import os
    if stores.is_local(uri):
        path = _filesystem(uri)[1]
        make_dirs(parent_and_name(uri)[0])
        temporary = f"{path}.new-{uuid.uuid4().hex[:12]}"
        with open(temporary, "wb") as handle:
            handle.write(data)
        try:
            os.link(temporary, path)
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(temporary)
    if on_s3(uri):
        return _put_if_absent(uri, data)
    if exists(uri):
        return False
    write_bytes(uri, data)
    return True


def _put_if_absent(uri: str, data: bytes) -> bool:
    from botocore.exceptions import ClientError

    from curate.sources.s3 import client_for_s3, split_s3
    bucket, key = split_s3("s3://" + uri.split("://", 1)[1])
    try:
        client_for_s3().put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")
        return True
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("PreconditionFailed",
                                                           "ConditionalRequestConflict"):
            return False
        raise


def retire(uri: str) -> bool:
    """Take a file out of the way (a stale lock) so that only one of several processes
    doing the same succeeds (a local rename; elsewhere a delete): False when it was gone."""
    if stores.is_local(uri):
        import os
        path = _filesystem(uri)[1]
        aside = f"{path}.stale-{uuid.uuid4().hex[:12]}"
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return False
        os.unlink(aside)
        return True
    if not exists(uri):
        return False
    remove_key(uri)
    return True


def remove_key(uri: str) -> None:
    """Remove one file this code made. On S3 by a plain delete: pyarrow's leaves a marker
    object for the "directory" it emptied (a stray key beside the outputs)."""
    if not on_s3(uri):
        remove_tree(uri)
        return
    from curate.sources.s3 import client_for_s3, split_s3
    bucket, key = split_s3("s3://" + uri.split("://", 1)[1])
    client_for_s3().delete_object(Bucket=bucket, Key=key)


def process_start(pid: int) -> str | None:
    """When process `pid` started, in clock ticks since boot (a process id reused by
    another process has another); None when there is no such process; "" for one that
    exists where /proc cannot tell."""
    import os
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except FileNotFoundError:
        return None
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return ""


def check_writable(output: str) -> None:
    """Before any work: a user error unless a file can be made where the stage will write
    (the output's parent, or the nearest folder above it that exists). Local disks only:
    a probe on an object store would cost requests and prove little (permissions there
    are per key)."""
    import os
    if not stores.is_local(output):
        return
    folder = _filesystem(parent_and_name(output)[0])[1]
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    probe = os.path.join(folder, f".curate-write-probe-{uuid.uuid4().hex[:12]}")
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except OSError as error:
        raise UserError(f"-o {output}: cannot write in {folder} ({error.strerror}); choose "
                        "a place this user can write") from None


def read_json(uri: str):
    return json.loads(read_text(uri))


def write_json(uri: str, value, indent: int | None = 2) -> None:
    write_text(uri, json.dumps(value, indent=indent, ensure_ascii=False))


def parquet_writer(uri: str, schema, **options) -> pq.ParquetWriter:
    fs, path = _filesystem(uri)
    return pq.ParquetWriter(path, schema, filesystem=fs, **options)


def parquet_metadata(uri: str) -> pq.FileMetaData:
    """A Parquet file's footer: schema, row groups and their statistics, no data pages."""
    fs, path = _filesystem(uri)

    def read() -> pq.FileMetaData:
        with fs.open_input_file(path) as handle:
            return pq.read_metadata(handle)
    return _read(read)


def read_parquet(uris: list[str], columns=None):
    """The rows of these Parquet files as one Arrow table (small side tables only)."""
    import pyarrow as pa
    tables = []
    for uri in uris:
        fs, path = _filesystem(uri)
        tables.append(pq.read_table(path, filesystem=fs, columns=columns))
    return pa.concat_tables(tables) if tables else None


def footer_rows(uris: list[str]) -> list[int]:
    """The rows each Parquet file holds, by its footer (in the order of `uris`)."""
    return list(read_footers(uris, extract=lambda footer: footer.num_rows))


def list_tree(uri: str) -> set[str]:
    """The files below directory `uri`, as paths relative to it ({} when it is missing)."""
    fs, path = _filesystem(uri)
    selector = pafs.FileSelector(path, allow_not_found=True, recursive=True)
    root = path.rstrip("/") + "/"
    return {info.path[len(root):] for info in fs.get_file_info(selector)
            if info.type == pafs.FileType.File and info.path.startswith(root)}


def parquet_batches(uri: str, columns=None, batch_size: int = 65_536):
    """The rows of one Parquet file as Arrow batches, read a row group at a time."""
    fs, path = _filesystem(uri)
    with fs.open_input_file(path) as handle:
        yield from pq.ParquetFile(handle).iter_batches(batch_size=batch_size, columns=columns)


def write_parquet(uri: str, table, **options) -> None:
    fs, path = _filesystem(uri)
    pq.write_table(table, path, filesystem=fs, **options)


# Footers read at once by read_footers. A footer is a few small reads (the file's size,
# then its tail), so on an object store or a network filesystem its time is round trips,
# which threads overlap: 2,000 footers 5 ms away take 10.8 s one by one, 0.36 s with 32
# threads. On a local disk a footer takes ~40 us, mostly under the GIL, and the threads
# gain nothing (20,000 files: 0.8 s one by one, 1.1 s with 32 threads). bench/plan.py.
FOOTER_THREADS = 32


def read_footers(uris, threads: int = FOOTER_THREADS, extract=None):
    """parquet_metadata(uri) for each of `uris`, or `extract` of it (run on the reading
    thread, so only what the caller needs is kept: 100,000 footers whole would not fit),
    in the order of `uris`, with up to `threads` files read at once (1: one after another,
    on the calling thread). An iterator: a failure, of the read or of `extract`, is raised
    when its item is reached, as a loop over parquet_metadata would raise it, and a caller
    that stops early stops the reads not yet started."""
    def one(uri):
        metadata = parquet_metadata(uri)
        return metadata if extract is None else extract(metadata)

    if threads <= 1:
        for uri in uris:
            yield one(uri)
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    pending: deque = deque()
    pool = ThreadPoolExecutor(threads, thread_name_prefix="curate-footers")
    try:
        for uri in uris:
            pending.append(pool.submit(one, uri))
            if len(pending) >= 4 * threads:   # a window, not 100,000 futures at once
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)


# ------------------------------------------------------------------- stage reports

@dataclass
class StageReport:
    """What a stage did: rows in, out, and dropped by reason (they must add up)."""
    stage: str
    output: str
    rows_in: int
    rows_out: int
    dropped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    details: dict = field(default_factory=dict)
    # This output's id, new at each commit, and the ids of the outputs it was made from,
    # by their stage: a later stage made from an earlier run's input is seen as stale.
    id: str = ""
    made_from: dict[str, str] = field(default_factory=dict)
    # What decided the output besides its inputs (`recipe`): the same recipe and made_from
    # mean the same output, which `curate run --resume` keeps.
    recipe: str = ""

    def check(self) -> "StageReport":
        """Rows in = rows out + dropped. Each stage counts these apart (rows out from the
        written files' footers, drops where it drops them), so this can fail."""
        accounted = self.rows_out + sum(self.dropped.values())
        if accounted != self.rows_in:
            raise CountsDisagree(
                f"{self.stage}: {self.rows_in} rows in, but {self.rows_out} written + "
                f"{sum(self.dropped.values())} dropped ({_reasons(self.dropped)}); "
                "the output was not committed")
        return self

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def _reasons(dropped: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())) or "none"


def read_report(output: str) -> StageReport | None:
    """The report of a stage output, None when it has none."""
    uri = join(output, REPORT_FILE)
    if not exists(uri):
        return None
    return StageReport(**read_json(uri))


def require_report(uri: str, stage: str, reader: str) -> StageReport:
    """The report of `uri`, which `reader` reads as `stage`'s output: one line refusing a
    directory without one (nothing would say which output it is, so lineage could not be
    checked) or another stage's."""
    report = report_or_none(uri)
    if report is None or not report.id:
        raise UserError(f"{uri} has no report ({REPORT_FILE}): {reader} reads only an output "
                        f"of {stage} whose report says which output it is; run {stage} to "
                        "make it")
    if report.stage != stage:
        raise UserError(f"{uri} is an output of {report.stage}, not of {stage}")
    return report


def require_stage_output(uri: str) -> None:
    """A user error unless `uri` is a complete stage output: a directory with Parquet files,
    and not one a stage is still writing (or died writing) in place."""
    name = parent_and_name(uri)[1]
    if name.endswith(".incomplete") or ".incomplete-" in name or ".replaced-" in name:
        raise UserError(f"{uri} is the unfinished work of a stage that did not finish (run "
                        "it again to -o the name before the dot)")
    writing = _writing_stage(uri)
    if writing is not None and not exists(join(uri, REPORT_FILE)):
        raise UserError(f"{uri} is incomplete: {writing} did not finish writing it "
                        f"(run {writing} again)")
    if not is_dir(uri) or not data_files(uri):
        raise UserError(f"{uri}: not a stage output (no Parquet files in that directory)")


def _writing_stage(uri: str) -> str | None:
    """The stage named by the in-place marker of `uri`, None without one."""
    marker = join(uri, WRITING_FILE)
    try:
        return str(read_json(marker).get("stage")) if exists(marker) else None
    except (ValueError, AttributeError, OSError):
        return None


def metadata_of(output: str) -> dict:
    """The metadata details an output's report records ({} when none)."""
    report = read_report(output)
    return (report.details.get("metadata") if report else None) or {}


def matched_with(matched: str) -> str | None:
    """The metadata path a matched output's report names (None: the shipped English list,
    or a path that no longer exists)."""
    from curate.core.metadata import DEFAULT_SOURCE
    source = metadata_of(matched).get("source") if is_dir(matched) else None
    return source if source and source != DEFAULT_SOURCE and exists(source) else None


# ------------------------------------------------------------------ output guard

def check_output(output: str, stage: str, inputs=(), overwrite: bool = False) -> None:
    """Refuse an output path whose replacement would destroy what this stage did not write:
    `output` may be missing, an empty directory, or an earlier output of the same `stage`
    (its report says so); anything else needs `overwrite`. An output equal to an input,
    inside one, or holding one is refused even then (the stage would replace what it
    reads). Runs before Spark starts: one line, nothing touched."""
    fs, target = _filesystem(output)
    real_target = stores.canonical(output)   # (links resolved: a link cannot hide an input)
    for name in inputs:
        path = stores.canonical(name)
        if _within(real_target, path) or _within(path, real_target):
            what = ("is" if real_target == path else "is inside"
                    if _within(real_target, path) else "holds")
            raise UserError(f"-o {output} {what} the input {name}; write the output elsewhere")
    check_writable(output)   # a read-only place fails now, not after the stage ran
    kind = fs.get_file_info(target).type
    if kind == pafs.FileType.NotFound or overwrite:
        return
    if kind != pafs.FileType.Directory:
        raise UserError(f"-o {output} is a file, not a directory this stage wrote; choose "
                        "another path or pass --overwrite to replace it")
    names = list_dir(output)
    if not names:
        return
    report = report_or_none(output)
    if report is not None and report.stage == stage:
        return
    if report is None and _writing_stage(output) == stage:
        return   # this stage's own output, left incomplete by an interrupted run
    held = (f"the output of {report.stage}" if report is not None else
            f"{len(names)} entr{'y' if len(names) == 1 else 'ies'} "
            f"({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})")
    raise UserError(f"-o {output} already holds {held}, which {stage} did not write; choose "
                    "another directory or pass --overwrite to replace it")


def _within(path: str, directory: str) -> bool:
    """Whether `path` is `directory` or below it (absolute, normalised paths)."""
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def report_or_none(output: str) -> StageReport | None:
    """The report of `output`, None when it has none or one that is not curate's."""
    try:
        return read_report(output)
    except (ValueError, TypeError, OSError):   # not JSON, or not a report: not ours
        return None


# ------------------------------------------------------------------ staged output

def recipe(stage: str, settings) -> str:
    """A short id of what decides a stage's output besides its inputs: the stage, its
    settings (`settings`: options objects, fingerprints, whose repr is deterministic) and
    the package version."""
    import hashlib
    from importlib.metadata import version

    text = f"{stage}|{version('curate')}|{settings!r}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _made_from(inputs) -> dict[str, str]:
    """The ids of the stage outputs among `inputs`, by their stage, as they are now."""
    made_from = {}
    for name in inputs:
        upstream = report_or_none(name)
        if upstream is not None and upstream.id:
            made_from[upstream.stage] = upstream.id
    return made_from


def reusable(output: str, stage: str, recipe_id: str, inputs=()) -> StageReport | None:
    """The report of `output` when it is a complete output of `stage` with this recipe,
    made from the outputs in `inputs` as they are now (None otherwise): redoing the stage
    would write the same."""
    report = report_or_none(output)
    if report is None or report.stage != stage or not report.recipe:
        return None
    if report.recipe != recipe_id or report.made_from != _made_from(inputs):
        return None
    return report


@contextmanager
def staged_output(out: str, stage: str, inputs=(), resumable: bool = False,
                  recipe_id: str = ""):
    """Yield the directory the stage writes into; on success `out` is complete: it holds
    the stage report, written after every other file (the report is what makes an output
    complete, on every store).

    Where directories rename atomically (local disks, HDFS) the stage writes into a
    temporary directory beside `out`, which replaces `out` at the end: an output appears
    complete or not at all. On object stores it writes into `out` itself, marked as being
    written (`_start_in_place`); readers refuse it until the report is there.

    `resumable`: what a failed run wrote is kept for the next run of the stage to go on
    from (extract commits groups of input files as it goes): in `NAME.incomplete` beside
    the output (a fixed name, so the next run finds it), or in the output itself on an
    object store. The stage decides whether it can use it, and clears it if not.

    The body returns its report by calling the yielded `finish(report)`. The report gets a
    new id and the ids of the stage outputs in `inputs` (as they are now), so a later
    reader can tell whether the chain of outputs is one run. What this run removed of an
    interrupted run's temporaries is the report's `details["cleaned_up"]` (with what the
    stage itself removed, which it puts there first).

    The whole time, this process holds `out`'s lock (stages.locks): a second run into
    the same output refuses instead of deleting this one's temporaries.
    """
    from curate.stages.locks import output_lock

    with output_lock(out):
        yield from _staged(out, stage, inputs, resumable, recipe_id)


def _staged(out: str, stage: str, inputs, resumable: bool, recipe_id: str):
    made_from = _made_from(inputs)
    target = stores.absolute(out)
    if stores.renames_atomically(out):
        parent, name = parent_and_name(out)
        make_dirs(parent)
        cleaned = _remove_stale_temporaries(parent, name)
        where = join(parent, f"{name}.incomplete" if resumable
                     else f"{name}.incomplete-{uuid.uuid4().hex[:12]}")
    else:
        where, cleaned = _start_in_place(target, stage, keep_partial=resumable)
    started = time.monotonic()
    reports: list[StageReport] = []
    try:
        yield where, reports.append
        if len(reports) != 1:
            raise RuntimeError(f"{stage} finished without a report")
        report = reports[0]
        report.seconds = round(time.monotonic() - started, 3)
        report.output = target
        report.id, report.made_from, report.recipe = uuid.uuid4().hex, made_from, recipe_id
        cleaned = cleaned + report.details.pop("cleaned_up", [])
        if cleaned:
            report.details["cleaned_up"] = cleaned
        report.check()
        faults.at_commit(stage)   # (nothing, but in tests: curate.faults)
        make_dirs(where)
        write_text(join(where, REPORT_FILE), report.to_json())   # last: now it is complete
        if where != target:
            _replace(where, target)
        else:
            remove_tree(join(target, WRITING_FILE))
    except BaseException as error:
        if where != target and not resumable:
            remove_tree(where)
        if disk_full(error):
            raise _disk_full_failure(stage, target, error) from None
        raise


def disk_full(error: BaseException) -> bool:
    """Whether `error` is a full disk or an exhausted quota, raised here or in a task (a
    Spark error carries the task's Python or Java error as text)."""
    import errno
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(error) if type(error).__module__.split(".")[0] in ("pyspark", "py4j") else ""
    return "No space left on device" in text or "Disk quota exceeded" in text


def _disk_full_failure(stage: str, target: str, error: BaseException) -> RunFailed:
    """One line naming the output (and the file, where the error names one); the trace
    goes to the log."""
    import re
    import traceback
    log = log_path()
    append_log(log, "".join(traceback.format_exception(error)))
    named = re.search(r"No space left on device: '([^']+)'", str(error))
    where = f" ({named.group(1)})" if named else ""
    return RunFailed(f"{stage}: no space left on the device that holds {target}{where}; "
                     f"nothing was replaced (the trace: {log})")


def _start_in_place(target: str, stage: str, keep_partial: bool = False
                    ) -> tuple[str, list[str]]:
    """Where no directory can be renamed into place (an object store), the stage writes in
    the output itself: first a marker naming the stage (the output is incomplete from now
    on, and recognised as this stage's own by a re-run), then the earlier report is
    deleted, then everything else in it (check_output has made sure it is this stage's
    own, or empty). The report is written last (staged_output). `keep_partial`: an
    output this stage left incomplete is kept as it is, for the stage to go on from.
    Returns the output and, when an interrupted run had left it incomplete, what of
    that run's was removed."""
    interrupted = _writing_stage(target) == stage and not exists(join(target, REPORT_FILE))
    if keep_partial and interrupted:
        return target, []
    write_json(join(target, WRITING_FILE), {"stage": stage, "started": time.time()})
    remove_tree(join(target, REPORT_FILE))
    removed = []
    for name in list_dir(target):
        if name != SIDE_DIR:
            removed.append(join(target, name))
            remove_tree(join(target, name))
    for name in list_dir(join(target, SIDE_DIR)):
        if join(SIDE_DIR, name) != WRITING_FILE:
            removed.append(join(target, SIDE_DIR, name))
            remove_tree(join(target, SIDE_DIR, name))
    return target, removed if interrupted else []


def probe_location(output: str, token: str) -> str:
    """Where the executors' markers of a shared-output probe go: beside the output as a
    temporary of it where directories rename (a probe killed half way is removed by the
    next run, as any `NAME.incomplete-*`), else under `_probe-*` in the output itself
    (names starting with "_" are skipped by every reader; _start_in_place clears it)."""
    if stores.renames_atomically(output):
        parent, name = parent_and_name(output)
        return join(parent, f"{name}.incomplete-probe-{token}")
    return join(stores.absolute(output), f"_probe-{token}")


def _replace(temporary: str, target: str) -> None:
    if exists(target):
        parent, name = parent_and_name(target)
        retired = join(parent, f"{name}.replaced-{uuid.uuid4().hex[:12]}")
        move(target, retired)
        move(temporary, target)
        remove_tree(retired)
    else:
        move(temporary, target)


def _remove_stale_temporaries(parent: str, name: str) -> list[str]:
    """Remove what interrupted runs of this output left beside it (only names this code
    makes); return them. Runs under the output's lock, so none is another run's live
    work."""
    removed = []
    for entry in list_dir(parent):
        if entry.startswith((f"{name}.incomplete-", f"{name}.replaced-")):
            remove_tree(join(parent, entry))
            removed.append(join(parent, entry))
    return removed


# ------------------------------------------------------------- Spark's side of it

def read_stage_input(spark, uri: str, expected_columns: list[str]):
    """The Parquet rows of an earlier stage's output; a wrong path is a user error."""
    require_stage_output(uri)
    frame = spark_read(spark, uri)
    missing = [c for c in expected_columns if c not in frame.columns]
    if missing:
        raise UserError(f"{uri}: missing column(s) {', '.join(missing)}; "
                        f"is it the output of the right stage?")
    return frame


def written_rows(spark, uri: str) -> int:
    """Rows Spark wrote under `uri` (the Parquet footers hold them: no data pages read)."""
    return spark_read(spark, uri).count()


def spark_read(spark, uri: str):
    """Spark's Parquet reader on `uri` (a plain path as the driver's file:// path)."""
    with _spark_store(spark, uri):
        return spark.read.parquet(stores.spark_uri(uri))


def spark_write(frame, uri: str) -> None:
    """Spark's Parquet writer into `uri`, adding to what is there: on an object store the
    output already holds this stage's marker (staged_output)."""
    with _spark_store(frame.sparkSession, uri):
        frame.write.mode("append").parquet(stores.spark_uri(uri))


@contextmanager
def _spark_store(spark, uri: str):
    """Inside: Spark can reach `uri`'s store, or one line says what it lacks. `s3://`
    is Hadoop's S3A unless the cluster maps it (EMR's own file system)."""
    scheme = stores.scheme_of(uri)
    if scheme == "s3":
        hadoop = spark.sparkContext._jsc.hadoopConfiguration()
        if hadoop.get("fs.s3.impl") is None:
            hadoop.set("fs.s3.impl", "org.apache.hadoop.fs.s3a.S3AFileSystem")
    try:
        yield
    except Exception as error:   # py4j's and pyspark's errors of the JVM
        text = str(error)
        if "No FileSystem for scheme" in text or ("ClassNotFoundException" in text
                                                    and "FileSystem" in text):
            raise UserError(f"{uri}: Spark has no connector for {scheme}:// on its classpath; "
                            f"{_connector_hint(spark, scheme)}") from None
        raise


def _connector_hint(spark, scheme: str) -> str:
    version = spark.sparkContext._jvm.org.apache.hadoop.util.VersionInfo.getVersion()
    artifact = {"s3": "hadoop-aws", "s3a": "hadoop-aws", "abfs": "hadoop-azure",
                "abfss": "hadoop-azure"}.get(scheme)
    if artifact:
        return (f"start it with --conf spark.jars.packages=org.apache.hadoop:{artifact}:"
                f"{version} (Spark's Hadoop is {version})")
    return "add that store's Hadoop connector jar (e.g. Dataproc's gcs-connector)"


@contextmanager
def spark_settings(spark, settings: dict[str, str]):
    """Inside: the session's SQL settings changed as given; restored after."""
    before = {key: spark.conf.get(key) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            spark.conf.set(key, value)


def one_input_file_per_task(spark):
    """Inside: each task reads a piece of one file only (Spark packs small files into one
    task otherwise), so a stage that keeps its rows' order writes each file's order
    again. Done by Spark's own rule: a file "costs" openCostInBytes more than its size,
    and a task takes files until maxPartitionBytes; with both equal, one file fills it."""
    return spark_settings(spark, {"spark.sql.files.openCostInBytes":
                                  spark.conf.get("spark.sql.files.maxPartitionBytes")})


def whole_files_per_task(spark):
    """Inside: each task reads exactly one whole file. Spark splits a file only when it is
    larger than maxPartitionBytes, and packs files into a task while their sizes plus
    openCostInBytes each stay within it: with both at 1 TiB no file is split and none
    shares its task."""
    return spark_settings(spark, {"spark.sql.files.maxPartitionBytes": str(1 << 40),
                                  "spark.sql.files.openCostInBytes": str(1 << 40)})


# ------------------------------------------------------- what two stages share

def read_counts(counts: str) -> dict:
    """A count output -> one count vector per language (numpy int64, indexed by entry id).
    Read with pyarrow: a few rows per entry, never worth a Spark job."""
    import numpy as np
    import pyarrow.compute as pc

    require_stage_output(counts)
    table = read_parquet(data_files(counts), columns=["lang", "entry_id", "count"])
    vectors = {}
    for code in sorted(set(table["lang"].to_pylist())):
        rows = table.filter(pc.equal(table["lang"], code))
        ids = rows["entry_id"].to_numpy()
        vectors[code] = np.zeros(int(ids.max()) + 1, dtype=np.int64)
        vectors[code][ids] = rows["count"].to_numpy()
    return vectors


def check_same_metadata(metadata, upstream: StageReport | None) -> None:
    """Refuse metadata other than the lists `upstream` was matched with: ids would lie."""
    used = (upstream.details.get("metadata") if upstream else None) or {}
    if used and used.get("fingerprint") != metadata.fingerprint:
        raise UserError(
            f"metadata {metadata.source} ({_describe(metadata.details())}) is not the metadata "
            f"{upstream.output} was matched with ({used.get('source')}, {_describe(used)}); "
            "pass the same --metadata")


def _describe(details: dict) -> str:
    languages = details.get("languages") or {}
    if isinstance(languages, dict) and languages:
        return ", ".join(f"{code}: {v.get('entries')} entries" for code, v in languages.items())
    return f"{details.get('entries')} entries"


# ------------------------------------------------------------- the process's log

def log_path() -> str:
    """Where the JVM's own output and any trace go: $CURATE_LOG, else a file of this
    process in the temporary directory (the terminal keeps curate's lines only). Always
    local: it is the driver's stderr, not an output."""
    import os
    import tempfile
    return os.environ.get("CURATE_LOG") or os.path.join(tempfile.gettempdir(),
                                                        f"curate-{os.getpid()}.log")


def log_size(log: str) -> int:
    import os
    return os.path.getsize(log) if os.path.exists(log) else 0


def read_log(log: str, start: int = 0) -> str:
    """What the log holds from byte `start` on ("" when it cannot be read)."""
    try:
        with open(log, encoding="utf-8", errors="replace") as fh:
            fh.seek(start)
            return fh.read()
    except OSError:
        return ""


def append_log(log: str, text: str) -> None:
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(text)


@contextmanager
def stderr_to(path: str):
    """File descriptor 2 on `path` while inside: what a child process (the JVM) starts
    with, so its output goes to the log for its whole life."""
    import os
    import sys
    sys.stderr.flush()
    saved = os.dup(2)
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(target, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(target)
