"""Parquet files written by the Spark tasks themselves (pyarrow), committed by the driver,
and the one way every stage's tasks report back: one result row per task.

Why tasks write: a stage whose core runs on Arrow batches in Python (mapInArrow) would
otherwise hand every output row back to the JVM for Spark's writer; for sample that round
trip of url and text cost about a third of the pass (bench/balance.py). The batches are
written where they already are.

The commit works as Spark's own: a task attempt writes only under
`_attempts/<partition>-<attempt>/` and returns the files it wrote; Spark gives the
driver one result per partition, from the attempt that succeeded, and `commit` moves
exactly those files into the output directory under names fixed by the partition
(`part-<partition>-<k>.parquet`), then removes `_attempts`. A failed, retried or
speculative attempt leaves no file among the output's (one still writing after the
commit could only add to `_attempts`, which Spark and pyarrow skip), and a re-run writes
the same names.

Each task returns one row of `result_schema(...)`: its partition, the files it wrote and
their rows, its counters (a map of name to count, summed by `TaskResults.counters`) and
whatever the stage adds. The driver collects them: no accumulator, no second pass.
"""
from __future__ import annotations

import errno
import os
from collections import Counter
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Iterable, Iterator, Mapping

import pyarrow as pa

from curate.errors import CountsDisagree, UserError
from curate.sources.s3 import S3Access, s3_access, use_s3_access
from curate.stages import io

ATTEMPTS_DIR = "_attempts"   # "_": Spark and pyarrow skip it when reading the output
# Spark's codec names (spark.sql.parquet.compression.codec) as pyarrow's.
_CODECS = {"none": "none", "uncompressed": "none", "snappy": "snappy", "gzip": "gzip",
           "zstd": "zstd", "brotli": "brotli", "lz4": "lz4", "lz4_raw": "lz4"}
# parquet-mr's default zstd level, so files cost and weigh what Spark's own would.
_ZSTD_LEVEL = 3

_RESULT_FIELDS = [pa.field("partition", pa.int32()), pa.field("files", pa.list_(pa.string())),
                  pa.field("file_rows", pa.list_(pa.int64())),
                  pa.field("counters", pa.map_(pa.string(), pa.int64()))]


def result_schema(*extra: pa.Field) -> pa.Schema:
    """What a task returns: partition, files, file_rows, counters, then `extra`."""
    return pa.schema(_RESULT_FIELDS + list(extra))


def task_attempt() -> tuple[int, int]:
    """(partition, attempt number) of the running Spark task."""
    from pyspark import TaskContext

    context = TaskContext.get()
    return context.partitionId(), context.attemptNumber()


def task_result(schema: pa.Schema, written: list[tuple[str, int]],
                counters: Mapping[str, int], partition: int | None = None,
                **extra) -> pa.RecordBatch:
    """The one row a task returns (run in the task); `partition`: the one its files are
    named by, when not the task's own (a job over a slice of a larger plan)."""
    return pa.RecordBatch.from_pylist([{
        "partition": task_attempt()[0] if partition is None else partition,
        "files": [name for name, _ in written],
        "file_rows": [rows for _, rows in written],
        "counters": sorted((k, int(v)) for k, v in counters.items()), **extra}],
        schema=schema)


@dataclass(frozen=True)
class TaskResults:
    """The task results of one job, on the driver."""
    rows: list

    @classmethod
    def collect(cls, frame) -> "TaskResults":
        return cls(frame.collect())

    def counters(self) -> Counter:
        total: Counter = Counter()
        for row in self.rows:
            total.update(dict(row.counters or {}))
        return total

    def files(self) -> list[tuple[int, list[tuple[str, int]]]]:
        return [(row.partition, list(zip(row.files, row.file_rows))) for row in self.rows]

    def to_json(self) -> list[dict]:
        """The rows as JSON values (Spark's Rows as dicts; a map column is a dict)."""
        return [row.asDict(recursive=True) if hasattr(row, "asDict") else _plain(row)
                for row in self.rows]

    @classmethod
    def from_json(cls, rows: list[dict]) -> "TaskResults":
        """Rows read back with attribute access, as Spark's: lists of structs too."""
        return cls([_attributes(row) for row in rows])


def _attributes(row: dict) -> SimpleNamespace:
    return SimpleNamespace(**{key: [_attributes(v) if isinstance(v, dict) else v for v in value]
                              if isinstance(value, list) else value
                              for key, value in row.items()})


def _plain(value):
    if isinstance(value, SimpleNamespace):
        return {key: _plain(v) for key, v in vars(value).items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class TaskFiles:
    """Where and how tasks write: the output directory, the files' schema, at most
    max_rows_per_file rows per file (None: no limit), pyarrow's codec name. Small: it is
    pickled to tasks."""
    directory: str
    schema: pa.Schema
    max_rows_per_file: int | None
    codec: str = "snappy"
    # Row groups of this many rows: whole-file groups would stall the stream from the JVM
    # while one is encoded, tiny ones compress worse.
    row_group_rows: int = 131_072
    # Columns worth a dictionary (few distinct values); urls and texts are nearly all
    # distinct, where a dictionary costs time and size.
    dictionary_columns: tuple[str, ...] = ("lang",)
    # File names start with it: two jobs committing into one directory need two prefixes.
    prefix: str = "part"
    # How the tasks reach S3 (the driver's endpoint, and for an output on S3 the
    # credentials the driver resolved): the executors' environment was fixed when they
    # started, so it travels with the task. None: decided here, now (sources.s3.s3_access).
    s3: S3Access | None = None
    # A fault switch for tests only (PRIVATE_DISK_SWITCH): where partition 0's task
    # writes instead of `directory`, as an executor whose output path is its own disk.
    private_disk: str | None = None

    def __post_init__(self) -> None:
        if (self.max_rows_per_file is not None and self.max_rows_per_file < 1) \
                or self.row_group_rows < 1:
            raise ValueError(f"files and row groups need at least one row "
                             f"({self.max_rows_per_file}, {self.row_group_rows})")
        if self.s3 is None:
            object.__setattr__(self, "s3", s3_access(credentials=io.on_s3(self.directory)))
        if self.private_disk is None:
            object.__setattr__(self, "private_disk", private_disk())

    def write(self, batches: Iterable[pa.RecordBatch], partition: int, attempt: int
              ) -> list[tuple[str, int]]:
        """Write the batches (runs in a task); return (file, rows) of each file written,
        the file relative to the output directory."""
        use_s3_access(self.s3)
        root = task_directory(self.directory, self.private_disk, partition)
        folder = f"{ATTEMPTS_DIR}/{partition}-{attempt}"
        io.make_dirs(io.join(root, folder))
        written: list[tuple[str, int]] = []
        for part in _files(_cast(batches, self.schema), self.max_rows_per_file):
            name = f"{folder}/{self.prefix}-{partition:05d}-{len(written):04d}.parquet"
            uri = io.join(root, name)
            try:
                written.append((name, self._write_file(uri, part)))
            except OSError as error:   # a full disk's error names the file (pyarrow's not)
                if error.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise OSError(error.errno, os.strerror(error.errno), uri) from error
                raise
        return written

    def _write_file(self, uri: str, batches: Iterator[pa.RecordBatch]) -> int:
        rows, group, in_group = 0, [], 0
        level = _ZSTD_LEVEL if self.codec == "zstd" else None
        with io.parquet_writer(uri, self.schema, compression=self.codec,
                               compression_level=level,
                               use_dictionary=list(self.dictionary_columns)) as writer:
            for batch in batches:
                group.append(batch)
                in_group += batch.num_rows
                if in_group >= self.row_group_rows:
                    writer.write_table(pa.Table.from_batches(group, self.schema),
                                       row_group_size=in_group)
                    rows, group, in_group = rows + in_group, [], 0
            if group:
                writer.write_table(pa.Table.from_batches(group, self.schema),
                                   row_group_size=in_group)
        return rows + in_group


def codec(spark) -> str:
    """The session's Parquet codec (spark.sql.parquet.compression.codec) as pyarrow names it."""
    name = spark.conf.get("spark.sql.parquet.compression.codec", "snappy").lower()
    if name not in _CODECS:
        raise UserError(f"spark.sql.parquet.compression.codec={name}: the stages whose tasks "
                        f"write with pyarrow know {', '.join(sorted(_CODECS))}")
    return _CODECS[name]


def commit(directory: str, results: Iterable[tuple[int, list[tuple[str, int]]]],
           schema: pa.Schema, empty_file: bool = True) -> list[tuple[str, int]]:
    """Move the files of the succeeded attempts ((partition, files) per partition, as
    TaskFiles.write returned them) into directory; remove every attempt's folder. With no
    file at all, one empty file holds the schema (as Spark writes for an empty result),
    unless `empty_file` is False (a part of a stage's work, committed as it goes).
    Returns (file name, rows) of the committed files, the rows read from their footers:
    a file the driver cannot see, or one holding other rows than its task counted, is
    CountsDisagree (check_written), before anything is moved for the first."""
    results = sorted(results)
    committed, moves = [], []
    for _partition, files in results:
        for name, rows in files:
            final = name.rsplit("/", 1)[-1]
            moves.append((io.join(directory, name), io.join(directory, final)))
            committed.append((final, rows))
    _require_visible(directory, [name for _p, files in results for name, _ in files])
    io.move_all(moves)
    io.remove_tree(io.join(directory, ATTEMPTS_DIR))
    if not committed and empty_file:
        committed.append(write_empty(directory, schema))
    return check_written(directory, committed)


def _require_visible(directory: str, names: list[str]) -> None:
    """Every file the tasks say they wrote is where the driver reads the output."""
    if not names:
        return
    present = io.list_tree(io.join(directory, ATTEMPTS_DIR))
    missing = [name for name in names if name[len(ATTEMPTS_DIR) + 1:] not in present]
    if missing:
        raise CountsDisagree(
            f"{len(missing)} of the {len(names)} files the tasks wrote are not in "
            f"{directory} as the driver sees it (first: {missing[0]}): the output must be "
            "on storage every executor shares; nothing was committed")


def check_written(directory: str, committed: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """(name, rows) of each file as its footer says; CountsDisagree when a file holds
    other rows than its task counted (`committed`'s rows)."""
    found = io.footer_rows([io.join(directory, name) for name, _ in committed])
    wrong = [(name, rows, n) for (name, rows), n in zip(committed, found) if rows != n]
    if wrong:
        name, rows, n = wrong[0]
        raise CountsDisagree(
            f"{len(wrong)} written file(s) hold other rows than their tasks counted (first: "
            f"{name}: {rows} counted, {n} in the file); the output was not committed")
    return [(name, n) for (name, _), n in zip(committed, found)]


# The fault switch of a test: the directory that partition 0's task writes into instead
# of the output, as an executor whose output path is a disk of its own (a cluster whose
# "shared" mount is missing on one worker). Read on the driver where a writer is built and
# carried inside the task: workers of a running session do not see the driver's later
# environment. Never set outside tests.
PRIVATE_DISK_SWITCH = "CURATE_TEST_PRIVATE_DISK"


def private_disk() -> str | None:
    import os
    return os.environ.get(PRIVATE_DISK_SWITCH) or None


def task_directory(directory: str, private: str | None, partition: int) -> str:
    """Where a task writes what belongs in `directory` (the test switch aside: there)."""
    return private if private is not None and partition == 0 else directory


PROBE_PREFIX = "probe-"


def check_shared_output(spark, output: str) -> None:
    """Before any work: can the driver see what every executor writes where the output
    goes? One tiny job, one task per registered executor (as the version check does; at
    least one, so local mode runs it too), each writing a marker named by its host and
    process beside the output (stores.probe_location); the driver looks for every marker.
    A marker it cannot see is one line (UserError) naming the host. The markers go."""
    import uuid

    where = io.probe_location(output, uuid.uuid4().hex[:12])
    context = spark.sparkContext
    tasks = max(1, context._jsc.sc().getExecutorMemoryStatus().size() - 1)
    access, private = s3_access(credentials=io.on_s3(output)), private_disk()

    def mark(index):   # runs in a Python worker
        import os
        import socket
        use_s3_access(access)
        host = socket.gethostname()
        name = f"{PROBE_PREFIX}{index}-{os.getpid()}"
        io.write_text(io.join(task_directory(where, private, index), name), host)
        return name, host

    context.setJobDescription(f"curate: can the driver see what the executors write to {output}")
    try:   # the markers go whatever happens (a full disk fails the job half way)
        marks = context.parallelize(range(tasks), tasks).map(mark).collect()
        seen = set(io.list_dir(where))
        unseen = sorted({host for name, host in marks if name not in seen})
    finally:
        context.setLocalProperty("spark.job.description", None)
        io.remove_tree(where)
    if unseen:
        raise UserError(f"-o {output}: what the executors on {', '.join(unseen[:3])} write "
                        "there is not visible to the driver; the output must be on storage "
                        "every executor shares (a shared mount, HDFS or an object store)")


def write_empty(directory: str, schema: pa.Schema) -> tuple[str, int]:
    """One file of no rows that holds the schema, so that readers still find it."""
    io.make_dirs(directory)
    io.write_parquet(io.join(directory, "part-00000-0000.parquet"), schema.empty_table())
    return "part-00000-0000.parquet", 0


def _cast(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The batches in exactly the files' schema (Spark's Arrow names list items otherwise)."""
    for batch in batches:
        if batch.num_rows:
            yield batch.select(schema.names).cast(schema)


def _files(batches: Iterator[pa.RecordBatch], max_rows: int | None
           ) -> Iterator[Iterator[pa.RecordBatch]]:
    """The batches cut into consecutive runs of at most max_rows rows, one run per file;
    a file is only started once a row for it is there."""
    pending = next(batches, None)
    while pending is not None:
        def one_file():
            nonlocal pending
            room = max_rows if max_rows is not None else float("inf")
            while pending is not None and room > 0:
                batch = pending
                if batch.num_rows > room:
                    yield batch.slice(0, int(room))
                    pending = batch.slice(int(room))
                    return
                room -= batch.num_rows
                yield batch
                pending = next(batches, None)
        yield one_file()
