"""Parquet files written by tasks and committed by the driver (curate.stages.task_files):
files cut at max_rows_per_file, only the succeeded attempts' files kept, under names fixed
by the partition; an empty result is one empty file. With Spark:
tests/spark/test_task_files_spark.py."""
from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from curate import schemas
from curate.errors import CountsDisagree, UserError
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


def test_a_file_the_driver_cannot_see_stops_the_commit_before_anything_moves(tmp_path):
    """What is simulated: an executor whose output path is a disk of its own. The writer's
    test-only switch (task_files.PRIVATE_DISK_SWITCH, given here as the field it sets)
    sends partition 0's files to another directory, as that executor's disk would; the
    driver's commit looks for them where it reads the output."""
    out, private = tmp_path / "out", tmp_path / "private"
    files = TaskFiles(str(out), schemas.CURATED, None, private_disk=str(private))
    zeroth = files.write(iter([curated_batch(0, 10)]), 0, 0)
    first = files.write(iter([curated_batch(10, 7)]), 1, 0)
    assert (private / zeroth[0][0]).is_file()          # written, but on "its own disk"
    with pytest.raises(CountsDisagree) as failure:
        task_files.commit(str(out), [(0, zeroth), (1, first)], schemas.CURATED)
    assert str(failure.value) == (
        f"1 of the 2 files the tasks wrote are not in {out} as the driver sees it (first: "
        f"{ATTEMPTS_DIR}/0-0/part-00000-0000.parquet): the output must be on storage every "
        "executor shares; nothing was committed")
    assert not list(out.glob("*.parquet"))              # partition 1's file was not moved


def test_a_file_holding_other_rows_than_its_task_counted_fails_the_commit(tmp_path):
    """The rows out come from the files' footers, not from what the task said: a task
    result doctored to claim 12 rows for a file of 10 (what a file cut short on its way
    to the store would look like) fails, naming the file."""
    files = TaskFiles(str(tmp_path), schemas.CURATED, None)
    written = files.write(iter([curated_batch(0, 10)]), 2, 0)
    assert written == [(f"{ATTEMPTS_DIR}/2-0/part-00002-0000.parquet", 10)]
    doctored = [(written[0][0], 12)]
    with pytest.raises(CountsDisagree) as failure:
        task_files.commit(str(tmp_path), [(2, doctored)], schemas.CURATED)
    assert str(failure.value) == (
        "1 written file(s) hold other rows than their tasks counted (first: "
        "part-00002-0000.parquet: 12 counted, 10 in the file); the output was not committed")


def test_the_books_of_dedup_and_extract_fail_on_the_numbers_of_a_private_disk():
    """The figures the issue saw on a cluster with one worker on a private disk. dedup:
    999,996 rows in, 90,000 true duplicates counted in the aggregate, so 909,996 rows
    written by the tasks, of which the driver's files hold 302,457; before, duplicate was
    rows in - rows out (697,539) and the books balanced. extract: 1,972 pairs counted by
    the tasks, 290 in the files the driver sees."""
    from curate.stages.dedup import dedup_report
    from curate.stages.extract import extract_report
    from curate.stages.task_files import TaskResults

    with pytest.raises(CountsDisagree) as failure:
        dedup_report("out", 999_996, 909_996, 90_000, 302_457)
    assert str(failure.value) == ("dedup: 909996 distinct rows were written but the output's "
                                  "files hold 302457; the output was not committed")
    report = dedup_report("out", 999_996, 909_996, 90_000, 909_996)
    assert (report.rows_out, report.dropped) == (909_996, {"duplicate": 90_000})
    with pytest.raises(CountsDisagree) as failure:   # the aggregate's own books
        dedup_report("out", 999_996, 909_996, 89_000, 909_996)
    assert str(failure.value) == ("dedup: 999996 rows in, but 909996 written + 89000 dropped "
                                  "(duplicate 89000); the output was not committed")

    results = TaskResults.from_json([{"partition": 0, "files": ["a.parquet"],
                                      "file_rows": [1972], "path": "x.warc.gz", "errors": [],
                                      "counters": {"pairs": 1972, "texts_found": 1972,
                                                   "files_read": 1}}])
    with pytest.raises(CountsDisagree) as failure:
        extract_report("out", results, 1, on_disk=290)
    assert str(failure.value) == ("extract: the output's files hold 290 rows, the tasks "
                                  "counted 1972 pairs; the output was not committed")
    assert extract_report("out", results, 1, on_disk=1972).rows_out == 1972
