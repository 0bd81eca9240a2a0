"""Batches shared by tests/core/test_task_files.py and tests/spark/test_task_files_spark.py."""
from __future__ import annotations

import datetime

import pyarrow as pa
import pyarrow.parquet as pq


def curated_batch(start: int, n: int) -> pa.RecordBatch:
    """n curated rows numbered from start, with Spark's Arrow names (list items
    "element", every field nullable), as mapInArrow hands them to a task; an extra column
    the files must not keep."""
    rows = range(start, start + n)
    return pa.RecordBatch.from_pydict({
        "image_uuid": [f"{i:024x}" for i in rows], "url": [f"http://a.example/{i}.jpg" for i in rows],
        "text": [f"text {i}" for i in rows], "lang": ["en" if i % 3 else "de" for i in rows],
        "matched_entry_ids": pa.array([[i % 7, 7 + i % 5] for i in rows], pa.list_(pa.int32())),
        "page_url": [f"http://a.example/page{i // 4}" for i in rows],
        "crawl": ["CC-MAIN-2014-35"] * n,
        "fetch_time": pa.array([FETCHED] * n, pa.timestamp("us", tz="UTC")),
        "row_key": pa.array(list(rows), pa.int64())})


FETCHED = datetime.datetime(2014, 8, 21, 6, 6, 5, tzinfo=datetime.timezone.utc)


def texts_of(path) -> list[str]:
    return pq.read_table(path, columns=["text"])["text"].to_pylist()
