"""The live progress line of a running stage, from plain numbers (no Spark).

A `Snapshot` is what is known of a stage at one moment: its tasks, for extract its input
files and their bytes, the rows its tasks have written, the seconds since it started.
`format_line` makes the one line the terminal shows, with throughput and an ETA from the
done fraction. `job_tasks` turns the stages of one Spark job, as Spark's status tracker
describes them, into tasks done and to do. curate.stages.progress takes the snapshots.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

# Decimal units, chosen by the size of the amount shown (a crawl's inputs reach terabytes).
_UNITS = ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB"), (1.0, "B"))


@dataclass(frozen=True)
class Snapshot:
    """A stage at one moment. None: not known for this stage (rows where the stage's
    tasks do not count them; files and bytes outside extract; bytes of remote inputs)."""
    stage: str
    seconds: float
    tasks_done: int = 0
    tasks_total: int = 0
    tasks_running: int = 0
    rows: int | None = None
    files_done: int | None = None
    files_total: int | None = None
    bytes_done: int | None = None
    bytes_total: int | None = None


def done_fraction(snapshot: Snapshot) -> float | None:
    """The share of the stage done: by bytes where their total is known (input files
    differ in size, tasks of one file each do not), else by files, else by tasks; None
    while there is no total to divide by."""
    s = snapshot
    for done, total in ((s.bytes_done, s.bytes_total), (s.files_done, s.files_total),
                        (s.tasks_done, s.tasks_total)):
        if done is not None and total:
            return min(done / total, 1.0)
    return None


def eta_seconds(snapshot: Snapshot) -> float | None:
    """Seconds left at the rate so far; None until something is done (no rate yet)."""
    fraction = done_fraction(snapshot)
    if not fraction:
        return None
    return snapshot.seconds * (1 - fraction) / fraction


# Parts a narrow terminal goes without, first to last: rates, running tasks, elapsed time,
# bytes, rows. Tasks, files and the ETA always stay (0).
_RATE, _RUNNING, _ELAPSED, _BYTES, _ROWS = 1, 2, 3, 4, 5


def format_line(snapshot: Snapshot, width: int | None = None) -> str:
    """The line, e.g. `extract: 3/5 tasks (2 running), 3/5 files, 1.5/4.0 GB (121.0 MB/s),
    12,345 rows (996 rows/s), 0:12 elapsed, ETA 0:21`. What the stage does not know is
    left out; rates are averages since the stage started. Within `width` (a terminal's:
    a line that wraps cannot be redrawn in place) the parts least needed are left out
    until it fits, and what still does not fit is cut."""
    pieces = _pieces(snapshot)
    for rank in (_RATE, _RUNNING, _ELAPSED, _BYTES, _ROWS):
        if width is None or len(_joined(pieces)) <= width:
            break
        pieces = [(text, r) for text, r in pieces if r != rank]
    line = _joined(pieces)
    return line if width is None else line[:width]


def _pieces(s: Snapshot) -> list[tuple[str, int]]:
    """The line as (text, rank) pieces, separators included."""
    pieces = [(f"{s.stage}: {s.tasks_done}/{s.tasks_total} tasks", 0)]
    if s.tasks_running:
        pieces.append((f" ({s.tasks_running} running)", _RUNNING))
    if s.files_total is not None:
        pieces.append((f", {s.files_done or 0}/{s.files_total} files", 0))
    if s.bytes_total is not None:
        done = s.bytes_done or 0
        pieces.append((", " + _amount(done, s.bytes_total), _BYTES))
        if s.seconds > 0:
            pieces.append((f" ({_rate(done / s.seconds)})", _RATE))
    if s.rows is not None:
        pieces.append((f", {s.rows:,} rows", _ROWS))
        if s.seconds > 0:
            pieces.append((f" ({s.rows / s.seconds:,.0f} rows/s)", _RATE))
    eta = eta_seconds(s)
    pieces.append((f", {clock(s.seconds)} elapsed", _ELAPSED))
    pieces.append((f", ETA {clock(eta)}" if eta is not None else ", ETA ?", 0))
    return pieces


def _joined(pieces: list[tuple[str, int]]) -> str:
    return "".join(text for text, _rank in pieces)


def clock(seconds: float) -> str:
    """M:SS, or H:MM:SS from an hour on."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def job_tasks(stages: Iterable[tuple[int, int, int]], ended: bool) -> tuple[int, int, int]:
    """(done, running, total) tasks of one Spark job from its stages' (tasks, completed,
    running). An ended job counts only the tasks that ran: a stage whose output an
    earlier job left (a shuffle reused) is listed but skipped, and would hold the job
    short of its total for ever."""
    stages = list(stages)
    done = sum(completed for _tasks, completed, _running in stages)
    if ended:
        return done, 0, done
    return (done, sum(running for _tasks, _completed, running in stages),
            sum(tasks for tasks, _completed, _running in stages))


def _amount(done: int, total: int) -> str:
    scale, unit = _unit(total)
    return f"{done / scale:.1f}/{total / scale:.1f} {unit}"


def _rate(bytes_per_second: float) -> str:
    scale, unit = _unit(max(bytes_per_second, 1e3))   # "0.0 kB/s", not "0.0 B/s"
    return f"{bytes_per_second / scale:.1f} {unit}/s"


def _unit(value: float) -> tuple[float, str]:
    return next(((scale, unit) for scale, unit in _UNITS if value >= scale), _UNITS[-1])
