"""The live progress line on a real local Spark: extract's lines in a log (no terminal)
over the real CommonCrawl files, --quiet, the redraw on a real pseudo-terminal, a block
that fails, and Spark's own console bar being off."""
from __future__ import annotations

import fcntl
import os
import re
import struct
import termios
import threading
import time
import tty
from io import StringIO

import pytest

from cli_helpers import run_cli
from curate.sources.inputs import resolve_inputs
from curate.options import ExtractOptions
from curate.stages.io import read_report
from curate.stages.progress import SECONDS_ENV, progress

# extract's line: tasks, files, bytes (local inputs), rows, elapsed, ETA.
EXTRACT_LINE = re.compile(
    r"extract: (?P<tasks>\d+)/(?P<tasks_total>\d+) tasks(?: \(\d+ running\))?, "
    r"(?P<files>\d+)/(?P<files_total>\d+) files, "
    r"(?P<bytes>[\d.]+)/(?P<bytes_total>[\d.]+) (?P<unit>[kMGT]?B)(?: \([\d.]+ [kMGT]B/s\))?, "
    r"(?P<rows>[\d,]+) rows(?: \([\d,]+ rows/s\))?, \d+:\d\d elapsed, ETA (?P<eta>[\d:]+|\?)")


def progress_lines(err: str) -> list[dict]:
    lines = [line for line in err.splitlines() if line.startswith("extract: ")]
    matches = [EXTRACT_LINE.fullmatch(line) for line in lines]
    assert all(matches), lines
    return [{k: (v if k in ("bytes", "bytes_total", "unit", "eta") else int(v.replace(",", "")))
             for k, v in m.groupdict().items()} for m in matches]


def test_extract_writes_a_line_every_interval_without_a_terminal(spark, data_dir, tmp_path,
                                                                 capsys, monkeypatch):
    """capsys's stderr is no terminal: full lines, often at a 0.1 s interval, whose counts
    only grow, and a last one with every file, the stage's rows and every byte."""
    monkeypatch.setenv(SECONDS_ENV, "0.1")
    inputs = resolve_inputs([str(data_dir / "commoncrawl")], ExtractOptions())
    capsys.readouterr()
    assert run_cli("extract", str(data_dir / "commoncrawl"), "-o", str(tmp_path / "p")) == 0
    lines = progress_lines(capsys.readouterr().err)
    assert len(lines) >= 2   # at least one while it ran, and the last
    for key in ("tasks", "files", "rows"):
        assert [line[key] for line in lines] == sorted(line[key] for line in lines), key
    last = lines[-1]
    assert last["files"] == last["files_total"] == len(inputs) == 5
    assert last["tasks"] == last["tasks_total"] == len(inputs)
    assert last["rows"] == read_report(str(tmp_path / "p")).rows_out > 0
    size = sum(os.path.getsize(path) for path in inputs)
    assert (last["bytes"], last["bytes_total"], last["unit"]) == \
        (f"{size / 1e3:.1f}", f"{size / 1e3:.1f}", "kB")
    assert last["eta"] == "0:00"
    assert all(line["files_total"] == 5 and line["bytes_total"] == last["bytes_total"]
               for line in lines)


def test_quiet_prints_no_progress_line(spark, data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(SECONDS_ENV, "0.05")
    capsys.readouterr()
    wat = data_dir / "commoncrawl" / "CC-MAIN-2024-22-whirlwind.warc.wat.gz"
    assert run_cli("extract", str(wat), "-o", str(tmp_path / "p"), "--quiet") == 0
    captured = capsys.readouterr()
    assert "extract: 1 files (1 read, 0 failed)" in captured.out   # the stage ran
    assert "extract:" not in captured.err and " tasks" not in captured.err


def slow_job(spark, partitions: int = 4, seconds: float = 0.6) -> int:
    """A job that lasts long enough for the line to be redrawn while it runs."""
    return spark.sparkContext.parallelize(range(partitions), partitions).map(
        lambda x: time.sleep(seconds) or x).count()


class Terminal:
    """A real pseudo-terminal (raw: no newline translation; `columns` wide, 0: no size
    set) and what was written to it."""

    def __init__(self, columns: int = 0):
        self.columns = columns

    def __enter__(self):
        self.master, slave = os.openpty()
        tty.setraw(slave)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, self.columns, 0, 0))
        self.stream = os.fdopen(slave, "w")
        self.chunks: list[bytes] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        return self

    def _read(self):
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:   # the other end closed
                return
            if not chunk:
                return
            self.chunks.append(chunk)

    def __exit__(self, *exc):
        self.stream.close()
        self.reader.join(10)
        os.close(self.master)

    @property
    def text(self) -> str:
        return b"".join(self.chunks).decode()


def progress_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("curate-progress")]


def test_on_a_terminal_the_line_is_redrawn_in_place(spark):
    with Terminal() as terminal:
        assert terminal.stream.isatty()
        with progress(spark, "check", rows=False, stream=terminal.stream):
            assert slow_job(spark) == 4
        assert not progress_threads()
    draws = terminal.text.split("\r")
    assert draws[0] == "" and len(draws) >= 3   # redrawn at least once before the last
    # each draw clears what a longer line left; only the last ends the line
    assert all(d.endswith("\x1b[K") for d in draws[1:-1])
    assert draws[-1].startswith("check: 4/4 tasks, ") and draws[-1].endswith(
        " elapsed, ETA 0:00\x1b[K\n")
    assert terminal.text.count("\n") == 1
    assert all(d.startswith("check: ") and " rows" not in d for d in draws[1:])


def test_a_failing_block_ends_the_line_and_the_thread_and_raises_as_it_was(spark):
    context = spark.sparkContext
    context.setJobGroup("caller", "the caller's own group")
    try:
        with Terminal(columns=40) as terminal:
            with pytest.raises(ZeroDivisionError):
                with progress(spark, "check", stream=terminal.stream):
                    slow_job(spark, partitions=2)
                    1 / 0
            assert not progress_threads()
        assert context.getLocalProperty("spark.jobGroup.id") == "caller"
        log = StringIO()   # no terminal: a failed stage writes no last line
        with pytest.raises(ZeroDivisionError):
            with progress(spark, "check", stream=log, seconds=3600):
                1 / 0
        assert log.getvalue() == "" and not progress_threads()
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)
        context.setLocalProperty("spark.job.description", None)
    # the drawn line is ended, so the error starts on a line of its own
    assert terminal.text.startswith("\rcheck: ") and terminal.text.endswith("\x1b[K\n")
    assert terminal.text.count("\n") == 1
    # within the terminal's width, so that it never wraps onto a second line: the parts
    # least needed left out (core.progress.format_line), the ETA kept
    draws = [d.removesuffix("\n").removesuffix("\x1b[K") for d in terminal.text.split("\r")[1:]]
    assert draws and all(len(d) <= 39 and re.fullmatch(r"check: \d+/\d+ tasks, .*ETA [\d:?]+", d)
                         for d in draws), draws
    assert not any("rows/s" in d or "running" in d for d in draws)


def test_spark_console_progress_bar_is_off(spark):
    """stages.session turns it off (pip's PySpark turns it on): the JVM has no bar."""
    assert spark.sparkContext.getConf().get("spark.ui.showConsoleProgress") == "false"
    assert spark.sparkContext._jsc.sc().progressBar().isEmpty()


def test_the_interval_without_a_terminal_comes_from_the_environment(monkeypatch):
    from curate.errors import UserError
    from curate.stages.progress import log_seconds

    monkeypatch.delenv(SECONDS_ENV, raising=False)
    assert log_seconds() == 30.0
    monkeypatch.setenv(SECONDS_ENV, "0.5")
    assert log_seconds() == 0.5
    for wrong in ("abc", "0", "-1", "nan"):
        monkeypatch.setenv(SECONDS_ENV, wrong)
        with pytest.raises(UserError, match=f"{SECONDS_ENV}={wrong}: expected a positive"):
            log_seconds()
