"""Parquet files written by tasks and committed by the driver (curate.stages.task_files):
files cut at max_rows_per_file, only the succeeded attempts' files kept, under names fixed
by the partition; an empty result is one empty file. With Spark:
tests/spark/test_task_files_spark.py."""
from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from curate import schemas
from curate.errors import UserError
from curate.stages import task_files
from curate.stages.task_files import ATTEMPTS_DIR, TaskFiles
from task_files_helpers import curated_batch, texts_of  # noqa: F401


def test_files_are_cut_at_max_rows_and_only_succeeded_attempts_are_committed(tmp_path):
    files = TaskFiles(str(tmp_path), schemas.CURATED, max_rows_per_file=25, codec="zstd",
                      row_group_rows=8)
    # Partition 3 runs twice: attempt 0 dies after writing a file (its files stay behind),
    # attempt 1 succeeds. Partition 0 succeeds at once; partition 5 keeps no row.
    files.write(iter([curated_batch(100, 10)]), partition=3, attempt=0)
    third = files.write(iter([curated_batch(100, 10), curated_batch(110, 10),
                              curated_batch(120, 0), curated_batch(120, 11)]), 3, 1)
    zeroth = files.write(iter([curated_batch(0, 25)]), 0, 0)
    fifth = files.write(iter([curated_batch(200, 0)]), 5, 0)
    assert [rows for _, rows in third] == [25, 6]          # cut inside the third batch
    assert zeroth == [(f"{ATTEMPTS_DIR}/0-0/part-00000-0000.parquet", 25)] and fifth == []

    committed = task_files.commit(str(tmp_path), [(3, third), (5, fifth), (0, zeroth)],
                                  schemas.CURATED)
    assert committed == [("part-00000-0000.parquet", 25), ("part-00003-0000.parquet", 25),
                         ("part-00003-0001.parquet", 6)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [name for name, _ in committed]
    assert texts_of(tmp_path / "part-00003-0000.parquet") == [f"text {i}" for i in range(100, 125)]
    assert texts_of(tmp_path / "part-00003-0001.parquet") == [f"text {i}" for i in range(125, 131)]
    metadata = pq.ParquetFile(tmp_path / "part-00003-0000.parquet").metadata
    assert [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)] == [10, 10, 5]
    assert metadata.row_group(0).column(0).compression == "ZSTD"
    assert pq.read_schema(tmp_path / "part-00000-0000.parquet").equals(schemas.CURATED)


def test_an_empty_result_is_one_empty_file_with_the_schema(tmp_path):
    committed = task_files.commit(str(tmp_path / "out"), [(0, []), (1, [])], schemas.CURATED)
    assert committed == [("part-00000-0000.parquet", 0)]
    table = pq.read_table(tmp_path / "out")
    assert table.num_rows == 0 and table.schema.equals(schemas.CURATED)


def test_files_need_at_least_one_row(tmp_path):
    with pytest.raises(ValueError, match="at least one row"):
        TaskFiles(str(tmp_path), schemas.CURATED, max_rows_per_file=0)
    from curate.options import SampleOptions, resolve_sample

    # The option is checked when it is built, before any stage runs.
    with pytest.raises(UserError, match="max_rows_per_file must be at least 1, got -3"):
        SampleOptions(max_rows_per_file=-3)
    with pytest.raises(UserError, match="max_rows_per_file must be at least 1, got 0"):
        resolve_sample(max_rows_per_file=0)
    assert not (tmp_path / "out").exists()
