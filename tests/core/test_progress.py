"""The progress line from plain snapshots: exact lines, the done fraction each stage's ETA
follows, and the tasks of a Spark job as the status tracker describes it."""
from __future__ import annotations

import pytest

from curate.core.progress import Snapshot, clock, done_fraction, format_line, job_tasks


@pytest.mark.parametrize("snapshot, line", [
    # extract at its start: local inputs, so bytes are known; nothing done, no ETA.
    (Snapshot("extract", 0.0, rows=0, files_done=0, files_total=5, bytes_done=0,
              bytes_total=434_251),
     "extract: 0/0 tasks, 0/5 files, 0.0/434.3 kB, 0 rows, 0:00 elapsed, ETA ?"),
    # extract under way: 1.5 of 4 GB in 12.4 s, so 20.7 s to go by bytes.
    (Snapshot("extract", 12.4, 3, 5, 2, rows=12_345, files_done=3, files_total=5,
              bytes_done=1_500_000_000, bytes_total=4_000_000_000),
     "extract: 3/5 tasks (2 running), 3/5 files, 1.5/4.0 GB (121.0 MB/s), "
     "12,345 rows (996 rows/s), 0:12 elapsed, ETA 0:21"),
    # remote inputs: no bytes; the ETA follows files (1 of 4: 30 s), not tasks (2 of 4).
    (Snapshot("extract", 10.0, 2, 4, 1, rows=100, files_done=1, files_total=4),
     "extract: 2/4 tasks (1 running), 1/4 files, 100 rows (10 rows/s), 0:10 elapsed, "
     "ETA 0:30"),
    # dedup: Spark's own writer, tasks only; hours shown as H:MM:SS.
    (Snapshot("dedup", 3725.0, 7, 12),
     "dedup: 7/12 tasks, 1:02:05 elapsed, ETA 44:21"),
    (Snapshot("match", 2.0, 3, 3, rows=852),
     "match: 3/3 tasks, 852 rows (426 rows/s), 0:02 elapsed, ETA 0:00"),
    # before the first job: no total, no ETA.
    (Snapshot("count", 0.4, rows=0), "count: 0/0 tasks, 0 rows (0 rows/s), 0:00 elapsed, ETA ?"),
    # rates below a kilobyte a second stay in kB/s
    (Snapshot("extract", 2.0, 0, 1, 1, files_done=0, files_total=1, bytes_done=0,
              bytes_total=900),
     "extract: 0/1 tasks (1 running), 0/1 files, 0.0/900.0 B (0.0 kB/s), 0:02 elapsed, ETA ?"),
])
def test_the_line_of_a_snapshot(snapshot, line):
    assert format_line(snapshot) == line


def test_the_done_fraction_takes_bytes_then_files_then_tasks():
    both = Snapshot("extract", 1.0, 1, 4, files_done=2, files_total=4, bytes_done=300,
                    bytes_total=400)
    assert done_fraction(both) == 0.75
    assert done_fraction(Snapshot("extract", 1.0, 1, 4, files_done=2, files_total=4)) == 0.5
    assert done_fraction(Snapshot("sample", 1.0, 1, 4)) == 0.25
    assert done_fraction(Snapshot("sample", 1.0)) is None
    # accumulators may run ahead of the listener's totals: never past done
    assert done_fraction(Snapshot("sample", 1.0, 5, 4)) == 1.0


def test_clock():
    assert [clock(s) for s in (0, 0.4, 59.6, 61, 3599.4, 3600, 36_061)] == [
        "0:00", "0:00", "1:00", "1:01", "59:59", "1:00:00", "10:01:01"]


def test_job_tasks_count_what_ran_once_a_job_ended():
    # A job reading a shuffle an earlier job wrote: its map stage (6 tasks) is skipped.
    stages = [(6, 0, 0), (3, 2, 1)]
    assert job_tasks(stages, ended=False) == (2, 1, 9)
    assert job_tasks([(6, 0, 0), (3, 3, 0)], ended=True) == (3, 0, 3)
    assert job_tasks([], ended=False) == (0, 0, 0)


def test_a_narrow_terminal_loses_the_parts_least_needed_first():
    """Rates, running tasks, elapsed time, bytes, rows go in that order until the line
    fits; tasks, files and the ETA stay, and are cut only below their own length."""
    s = Snapshot("extract", 12.4, 3, 5, 2, rows=12_345, files_done=3, files_total=5,
                 bytes_done=1_500_000_000, bytes_total=4_000_000_000)
    full = format_line(s)
    assert len(full) == 116 and format_line(s, 116) == full
    assert format_line(s, 115) == format_line(s, 90) == (
        "extract: 3/5 tasks (2 running), 3/5 files, 1.5/4.0 GB, 12,345 rows, 0:12 elapsed, "
        "ETA 0:21")
    assert format_line(s, 89) == (
        "extract: 3/5 tasks, 3/5 files, 1.5/4.0 GB, 12,345 rows, 0:12 elapsed, ETA 0:21")
    assert format_line(s, 70) == "extract: 3/5 tasks, 3/5 files, 1.5/4.0 GB, 12,345 rows, ETA 0:21"
    assert format_line(s, 60) == "extract: 3/5 tasks, 3/5 files, 12,345 rows, ETA 0:21"
    assert format_line(s, 50) == format_line(s, 39) == "extract: 3/5 tasks, 3/5 files, ETA 0:21"
    assert format_line(s, 10) == "extract: 3"
