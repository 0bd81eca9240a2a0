"""The live progress line while a stage runs: its tasks, for extract its input files and
bytes, the rows written so far, throughput and an ETA, on stderr (the line itself is
curate.core.progress).

- Tasks come from Spark's status tracker: the stage's jobs run in a job group of their
  own, and a daemon thread reads their stages' task counts twice a second. No extra pass.
- Rows, files and bytes come from one accumulator that each task adds to as it ends. The
  reports' counters still travel in the tasks' result rows (task_files), but those reach
  the driver when the whole job ends; an accumulator's updates reach it task by task,
  which is what a live line needs. The line is only a display: a retried task may add
  twice, and no report reads it.
- On a terminal the line is redrawn in place; without one (a log) a full line is written
  every $CURATE_PROGRESS_SECONDS (30 s); either way a last line when the stage ends.
  `quiet` turns all of it off. Spark's own console progress bar is off in every session
  curate starts (stages.session), so the two never share a line.
"""
from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

from curate.core.progress import Snapshot, format_line, job_tasks
from curate.errors import UserError
from curate.sources.local import local_size
from curate.sources.streams import is_remote

SECONDS_ENV = "CURATE_PROGRESS_SECONDS"
LOG_SECONDS = 30.0     # without a terminal: a line this often, few enough for a log
POLL_SECONDS = 0.5     # how often Spark's status is read: a few py4j calls each time
SETTLE_SECONDS = 2.0   # at the end, how long Spark's listener may take to see the jobs end
JOIN_SECONDS = 5.0     # a thread stuck in a call to a dying JVM is left behind (a daemon)
_CLEAR = "\x1b[K"      # to the end of the line: a shorter line leaves no tail of the last
_ENDED = ("SUCCEEDED", "FAILED")
_JOB_GROUP = ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel")


class _Sums:
    """Spark's accumulator protocol for (rows, files, bytes), added element by element."""

    def zero(self, value):
        return (0, 0, 0)

    def addInPlace(self, a, b):
        return tuple(x + y for x, y in zip(a, b))


@dataclass(frozen=True)
class TaskProgress:
    """What a task adds to the line as it ends (it travels with the task); without an
    accumulator (quiet) it adds nothing."""
    sums: object = None

    def add(self, rows: int = 0, files: int = 0, nbytes: int = 0) -> None:
        if self.sums is not None:
            self.sums.add((int(rows), int(files), int(nbytes)))


def input_size(path: str) -> int | None:
    """An input file's size where it is cheap to know: a local file's (a stat); None for
    s3:// and http(s):// names (no request is made for a display) and unseen files."""
    return None if is_remote(path) else local_size(path)


def total_size(paths: list[str]) -> int | None:
    """The inputs' total size; None as soon as one of them is not known."""
    total = 0
    for path in paths:
        size = input_size(path)
        if size is None:
            return None
        total += size
    return total


def log_seconds() -> float:
    """Seconds between lines without a terminal: $CURATE_PROGRESS_SECONDS, else 30."""
    raw = os.environ.get(SECONDS_ENV, "").strip()
    if not raw:
        return LOG_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise UserError(f"{SECONDS_ENV}={raw}: expected a positive number of seconds")
    return value


@contextmanager
def progress(spark, stage: str, *, quiet: bool = False, rows: bool = True,
             files: int | None = None, bytes_total: int | None = None, stream=None,
             seconds: float | None = None):
    """Inside: the stage's jobs in a job group of their own and its line on `stream`
    (default stderr). Yields the TaskProgress the stage's tasks add to: rows (`rows`:
    whether they do), and for extract files (`files` input files in all) and bytes
    (`bytes_total`, None: unknown). `seconds`: between lines without a terminal (default
    log_seconds()). With `quiet`, nothing. The line never raises into the stage, and its
    thread is stopped and joined when the block ends, however it ends (a thread stuck in
    a call to a dying JVM is waited for JOIN_SECONDS, then left behind: a daemon)."""
    if quiet:
        yield TaskProgress()
        return
    interval = log_seconds() if seconds is None else seconds
    context = spark.sparkContext
    line = _Line(context, stage, stream or sys.stderr, interval, rows, files, bytes_total)
    with _job_group(context, line.group, f"curate {stage}"):
        line.start()
        finished = False
        try:
            yield line.task
            finished = True
        finally:
            line.stop(finished)


@contextmanager
def _job_group(context, group: str, description: str):
    """Jobs this thread starts inside belong to `group`; the thread's group before (a
    caller's own) is back afterwards."""
    before = {key: context.getLocalProperty(key) for key in _JOB_GROUP}
    context.setJobGroup(group, description)
    try:
        yield
    finally:
        try:
            for key, value in before.items():
                context.setLocalProperty(key, value)
        except Exception:   # after Ctrl-C the JVM may be gone: the interrupt is the news
            pass


class _Line:
    """One stage's line: a thread that reads Spark's status and the accumulator, and
    writes."""

    def __init__(self, context, stage: str, stream, interval: float, rows: bool,
                 files: int | None, bytes_total: int | None) -> None:
        self.group = f"curate-{stage}-{uuid.uuid4().hex[:12]}"
        self.task = TaskProgress(context.accumulator((0, 0, 0), _Sums()))
        self._stage, self._stream, self._interval = stage, stream, interval
        self._rows, self._files, self._bytes_total = rows, files, bytes_total
        self._tracker = context.statusTracker()
        self._tty = _is_terminal(stream)
        self._ended: dict[int, tuple[int, int, int]] = {}   # job id -> its final counts
        self._drawn = False   # a line is on the terminal without its newline
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"curate-progress-{stage}",
                                        daemon=True)

    def start(self) -> None:
        self._started = time.monotonic()
        self._thread.start()

    def stop(self, finished: bool) -> None:
        """End the thread, then write the last line; a stage that failed or was
        interrupted only gets its line ended (Spark may be gone, and the error follows)."""
        self._stop.set()
        self._thread.join(JOIN_SECONDS)
        try:
            if finished:
                self._show(self.snapshot(settle=True), last=True)
            elif self._drawn:
                self._write("\n")
        except Exception:   # the display never fails a stage
            pass

    def _run(self) -> None:
        poll = POLL_SECONDS if self._tty else min(POLL_SECONDS, self._interval)
        due = self._started + self._interval
        while not self._stop.wait(poll):
            try:
                if self._tty:
                    self._show(self.snapshot(), last=False)
                elif time.monotonic() >= due:
                    self._show(self.snapshot(), last=False)
                    due = time.monotonic() + self._interval
            except Exception:   # a failed read (a JVM going down) skips one refresh
                pass

    def _show(self, snapshot: Snapshot, last: bool) -> None:
        if self._tty:
            line = format_line(snapshot, _width(self._stream))
            self._write("\r" + line + _CLEAR + ("\n" if last else ""))
            self._drawn = not last
        else:
            self._write(format_line(snapshot) + "\n")

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()

    def snapshot(self, settle: bool = False) -> Snapshot:
        """The stage now; with `settle`, once Spark's listener has seen every job of the
        group end (it runs behind the jobs), or after SETTLE_SECONDS."""
        deadline = time.monotonic() + (SETTLE_SECONDS if settle else 0.0)
        counts, ended = self._jobs()
        while not ended and time.monotonic() < deadline:
            time.sleep(0.05)
            counts, ended = self._jobs()
        done, running, total = (sum(column) for column in zip((0, 0, 0), *counts))
        rows, files, nbytes = self.task.sums.value
        return Snapshot(self._stage, time.monotonic() - self._started, done, total, running,
                        rows=rows if self._rows else None,
                        files_done=None if self._files is None else files,
                        files_total=self._files,
                        bytes_done=None if self._bytes_total is None else nbytes,
                        bytes_total=self._bytes_total)

    def _jobs(self) -> tuple[list[tuple[int, int, int]], bool]:
        """(done, running, total) tasks of each job of the group, and whether all have
        ended. An ended job's counts are kept as they were: Spark may later list its
        stages again, as a later job's skipped ones, or forget the job."""
        counts, all_ended = [], True
        for job in set(self._tracker.getJobIdsForGroup(self.group)) | set(self._ended):
            if job not in self._ended:
                info = self._tracker.getJobInfo(job)
                if info is None:
                    continue
                stages = [(s.numTasks, s.numCompletedTasks, s.numActiveTasks)
                          for s in map(self._tracker.getStageInfo, info.stageIds)
                          if s is not None]
                if info.status not in _ENDED:
                    all_ended = False
                    counts.append(job_tasks(stages, ended=False))
                    continue
                self._ended[job] = job_tasks(stages, ended=True)
            counts.append(self._ended[job])
        return counts, all_ended


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _width(stream) -> int | None:
    """What a line may take of the terminal (read at each draw: it may be resized): all
    but the last column, where some terminals wrap at once; None when it has no size."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return None
    return columns - 1 if columns > 1 else None
