"""The Spark jobs of the sample stage: the keep rule over units, each task writing the rows
it keeps (stages.task_files), and for input sorted by image_uuid the pick of one text per
image inside the tasks' chunks of it (curate.image_runs). curate.stages.sample decides
which to run and reports."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq

from curate import schemas
from curate.image_runs import POSITION, ChunkPicker, runs_are_disjoint
from curate.sampling import LANG_CODE, ROW_KEY, sample_keyed_batches, spark_unit_order
from curate.stages import task_files
from curate.stages.output import local_path
from curate.stages.task_files import TaskFiles

# What each sample task reports to the driver: its files and their rows (task_files), the
# units it saw and the sum of their keep probabilities.
TASK_RESULT = pa.schema([("partition", pa.int32()), ("files", pa.list_(pa.string())),
                         ("file_rows", pa.list_(pa.int64())), ("units", pa.int64()),
                         ("expected", pa.float64())])
# ... and, when it picked inside chunks: the files of rows set aside, each chunk's first
# and last image_uuid, whether every chunk was sorted (curate.image_runs), rows read.
CHUNK_TASK_RESULT = TASK_RESULT.append(pa.field("edge_files", pa.list_(pa.string()))).append(
    pa.field("edge_file_rows", pa.list_(pa.int64()))).append(
    pa.field("run_first", pa.list_(pa.string()))).append(
    pa.field("run_last", pa.list_(pa.string()))).append(pa.field("sorted", pa.bool_())).append(
    pa.field("rows", pa.int64()))
# Where the pick leaves the rows on its chunks' edges until they are settled; removed
# before the output is complete. "_": a straggling attempt that writes after that leaves
# nothing that readers of the output see (as task_files' _attempts).
EDGES_DIR = "_edges"
# Up to this many rows on the chunks' edges are settled in the driver, more by a Spark job.
EDGE_ROWS_IN_DRIVER = 1_000_000
# The edge rows keep the key and language code the JVM gave them: the driver settles them
# with the tasks' own functions.
EDGE_ROWS = schemas.CURATED.append(pa.field(ROW_KEY, pa.int64())).append(
    pa.field(LANG_CODE, pa.int32()))


@dataclass(frozen=True)
class SampleJob:
    """The Spark jobs that sample and write: the keep rule on given units (`run`); for
    input sorted by image_uuid, one text per image picked inside the tasks' chunks of it
    (`pick_in_chunks`, curate.image_runs) with the images on the chunks' edges settled
    afterwards; for any input, the same pick after a shuffle by image_uuid
    (`pick_after_shuffle`). Results: one per task, with `partition`, `files`, `file_rows`,
    `units` and `expected` (TASK_RESULT)."""
    files: TaskFiles
    p_broadcast: object
    languages: list
    keyed_columns: list

    def run(self, units, files: TaskFiles | None = None) -> list:
        keyed = units.select(*schemas.CURATED.names, *self.keyed_columns)
        return keyed.mapInArrow(_write_kept(files or self.files, self.p_broadcast, self.languages),
                                schemas.spark_schema(TASK_RESULT)).collect()

    def pick_after_shuffle(self, matched, files: TaskFiles | None = None) -> list:
        """Unit "image" on any input: the rows shuffled by image_uuid and sorted inside
        each partition, so each task holds whole images and picks their texts itself
        (image_runs.ChunkPicker); cheaper than an aggregate, whose partial pass before the
        shuffle sorts every row for nothing when an image's texts are far apart."""
        keyed = (matched.select(*schemas.CURATED.names, *self.keyed_columns)
                 .repartition("image_uuid").sortWithinPartitions("image_uuid"))
        return keyed.mapInArrow(_write_kept(files or self.files, self.p_broadcast,
                                            self.languages, whole_images=True),
                                schemas.spark_schema(TASK_RESULT)).collect()

    def pick_in_chunks(self, matched) -> tuple[list, int] | None:
        """(the results, the rows read), or None (nothing written) when a chunk was out of
        order or the chunks' image ranges overlap: the input is not as image_runs needs."""
        from pyspark.sql import functions as F

        tmp = self.files.directory
        edge_files = replace(self.files, directory=os.path.join(tmp, EDGES_DIR),
                             schema=EDGE_ROWS)
        rows = matched.select(*schemas.CURATED.names, *self.keyed_columns,
                              (F.col("_metadata.file_block_start")
                               + F.col("_metadata.row_index")).alias(POSITION))
        results = rows.mapInArrow(
            _pick_and_write(self.files, edge_files, self.p_broadcast, self.languages),
            schemas.spark_schema(CHUNK_TASK_RESULT)).collect()
        if not (all(r.sorted for r in results) and runs_are_disjoint(
                [run for r in results for run in zip(r.run_first, r.run_last)])):
            for folder in (task_files.ATTEMPTS_DIR, EDGES_DIR):
                shutil.rmtree(os.path.join(tmp, folder), ignore_errors=True)
            return None
        edges = task_files.commit(edge_files.directory, [
            (r.partition, list(zip(r.edge_files, r.edge_file_rows))) for r in results],
            EDGE_ROWS)
        settled = self._settle_edges(matched.sparkSession, edge_files.directory, edges)
        shutil.rmtree(edge_files.directory)
        return results + settled, sum(r.rows for r in results)

    def _settle_edges(self, spark, directory: str, edges: list[tuple[str, int]]) -> list:
        """The images on the chunks' edges, whose rows may come from several tasks: sorted
        by image_uuid, one text each and the keep rule, as the tasks do, in the driver
        (they are at most two images per chunk: no job to start), by pick_after_shuffle
        when they are many rows."""
        files = replace(self.files, prefix="edges")
        paths = [os.path.join(directory, name) for name, _ in edges]
        if sum(rows for _, rows in edges) > EDGE_ROWS_IN_DRIVER:
            # The files by name: Spark would skip a directory named "_...".
            return self.pick_after_shuffle(spark.read.parquet(*paths), files)
        table = pa.concat_tables([pq.read_table(path, schema=EDGE_ROWS) for path in paths])
        picker, stats = ChunkPicker(whole_images=True), {}
        units = picker.pick(iter(table.sort_by("image_uuid").to_batches(65_536)))
        written = files.write(sample_keyed_batches(units, self.p_broadcast.value,
                                                   self.languages, stats), 0, 0)
        return [SimpleNamespace(partition=0, files=[name for name, _ in written],
                                file_rows=[rows for _, rows in written],
                                units=stats.get("rows", 0), expected=stats.get("expected", 0.0))]


def _write_kept(files: TaskFiles, p_broadcast, languages: list[str],
                whole_images: bool = False):
    """The task function: sampling.sample_keyed_batches on the partition's rows (with
    `whole_images`, on one row per image picked by image_runs.ChunkPicker from rows sorted
    by image_uuid), the kept rows written by `files`; yields one TASK_RESULT row (its
    files, the units seen and the sum of their keep probabilities)."""
    def task(batches):
        stats: dict = {}
        picker = ChunkPicker(whole_images=True) if whole_images else None
        units = picker.pick(batches) if picker else batches
        kept = sample_keyed_batches(units, p_broadcast.value, languages, stats)
        written = files.write(kept, *_task_attempt())
        if picker and not picker.sorted:
            raise RuntimeError("sample: a partition sorted by image_uuid came out of order")
        yield _task_result(written, stats, TASK_RESULT)

    return task


def _pick_and_write(files: TaskFiles, edge_files: TaskFiles, p_broadcast, languages: list[str]):
    """_write_kept on the rows image_runs.ChunkPicker picks, the rows it sets aside written
    by `edge_files`; the result also says each chunk's first and last image_uuid and
    whether all were sorted (CHUNK_TASK_RESULT)."""
    def task(batches):
        stats: dict = {}
        picker = ChunkPicker()
        kept = sample_keyed_batches(picker.pick(batches), p_broadcast.value, languages, stats)
        written = files.write(kept, *_task_attempt())
        edges = edge_files.write(iter(picker.edges), *_task_attempt()) if picker.sorted else []
        yield _task_result(written, stats, CHUNK_TASK_RESULT, {
            "edge_files": [name for name, _ in edges], "edge_file_rows": [n for _, n in edges],
            "run_first": [first for first, _ in picker.runs],
            "run_last": [last for _, last in picker.runs], "sorted": picker.sorted,
            "rows": picker.rows})

    return task


def _task_attempt() -> tuple[int, int]:
    from pyspark import TaskContext

    context = TaskContext.get()
    return context.partitionId(), context.attemptNumber()


def _task_result(written: list[tuple[str, int]], stats: dict, schema: pa.Schema,
                 more: dict | None = None) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([{
        "partition": _task_attempt()[0], "files": [name for name, _ in written],
        "file_rows": [rows for _, rows in written], "units": stats.get("rows", 0),
        "expected": stats.get("expected", 0.0), **(more or {})}], schema=schema)


def files_hold_sorted_disjoint_images(path: str) -> bool:
    """Whether the Parquet files under `path` hold disjoint image_uuid ranges, by their
    footers' statistics (no data read): as dedup and match write them. Whether each file
    is sorted inside only the tasks can tell (image_runs.ChunkPicker)."""
    ranges = []
    for file in sorted(Path(local_path(path)).glob("*.parquet")):
        if file.name.startswith(("_", ".")):
            continue
        metadata = pq.read_metadata(file)
        column = metadata.schema.names.index("image_uuid")
        groups = [metadata.row_group(g) for g in range(metadata.num_row_groups)]
        statistics = [g.column(column).statistics for g in groups if g.num_rows]
        if not all(s is not None and s.has_min_max for s in statistics):
            return False
        if statistics:
            ranges.append((min(s.min for s in statistics), max(s.max for s in statistics)))
    return runs_are_disjoint(ranges)


def units_of(rows, unit: str, seed: int):
    """The rows the keep rule runs on: every row, or each image's first row in
    sampling.unit_order (one aggregate by image)."""
    from pyspark.sql import functions as F

    if unit == "pair":
        return rows
    first = F.min(spark_unit_order(seed)).alias("first")
    return (rows.groupBy("image_uuid").agg(first)
            .select("image_uuid", *[F.col(f"first.{c}").alias(c)
                                    for c in schemas.CURATED.names if c != "image_uuid"]))
