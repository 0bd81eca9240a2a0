"""One input file -> Arrow batches of its pairs (schemas.PAIRS); the file's counters and
errors are left in the FileReport the caller passes, which the Spark task returns once
the file is done (curate.stages.task_files: one result row per task)."""
from __future__ import annotations

from typing import Iterator

import pyarrow as pa

from curate import schemas
from curate.core.extract.options import PageOptions
from curate.core.extract.records import FileReport, iter_file_pairs


def pair_batches(path: str, report: FileReport, batch_rows: int,
                 options: PageOptions = PageOptions()) -> Iterator[pa.RecordBatch]:
    """The file's pairs in batches of at most batch_rows rows."""
    rows: list[tuple] = []
    for row in iter_file_pairs(path, report, options):
        rows.append(row)
        if len(rows) >= batch_rows:
            yield _batch(rows)
            rows = []
    if rows:
        yield _batch(rows)


def _batch(rows: list[tuple]) -> pa.RecordBatch:
    columns = list(zip(*rows))
    return pa.RecordBatch.from_arrays(
        [pa.array(col, type=f.type) for col, f in zip(columns, schemas.PAIRS)],
        schema=schemas.PAIRS)
