"""One input file -> Arrow batches of a single stream that carries the file's pairs, its
errors and its counters, so the Spark wrapper reads each file exactly once.

Rows of kind "pair" fill the PAIRS columns; "error" rows fill error_offset/error_reason
(source_path is the file); the one "counters" row per file holds its counters as JSON.
"""
from __future__ import annotations

import json
from typing import Iterator

import pyarrow as pa

from curate import schemas
from curate.extract.options import ExtractOptions
from curate.extract.records import FileReport, iter_file_pairs

KIND_PAIR, KIND_ERROR, KIND_COUNTERS = "pair", "error", "counters"

STREAM = pa.schema([f.with_nullable(True) for f in schemas.PAIRS] + [
    pa.field("record_kind", pa.string()),
    pa.field("error_offset", pa.int64()),
    pa.field("error_reason", pa.string()),
    pa.field("counters_json", pa.string()),
])


def file_stream(path: str, batch_rows: int, options: ExtractOptions
                ) -> Iterator[pa.RecordBatch]:
    report = FileReport()
    rows: list[tuple] = []
    for row in iter_file_pairs(path, report, options):
        rows.append(row + (KIND_PAIR, None, None, None))
        if len(rows) >= batch_rows:
            yield _batch(rows)
            rows = []
    for offset, reason in report.errors:
        rows.append(_file_row(path, KIND_ERROR, offset, reason, None))
    counters = json.dumps(dict(report.counters), sort_keys=True)
    rows.append(_file_row(path, KIND_COUNTERS, None, None, counters))
    yield _batch(rows)


def _file_row(path, kind, offset, reason, counters) -> tuple:
    """A row about the file itself: only source_path among the pair columns is set."""
    pair_columns = [None] * len(schemas.PAIRS)
    pair_columns[schemas.PAIRS.names.index("source_path")] = path
    return tuple(pair_columns) + (kind, offset, reason, counters)


def _batch(rows: list[tuple]) -> pa.RecordBatch:
    columns = list(zip(*rows))
    return pa.RecordBatch.from_arrays(
        [pa.array(col, type=f.type) for col, f in zip(columns, STREAM)], schema=STREAM)
