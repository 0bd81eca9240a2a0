"""The fault switch: faults that only tests set, to show that a task that fails, a Python
worker that dies or a driver that is killed leaves the outputs as an undisturbed run
writes them. Never set it outside tests.

    CURATE_FAULT=STAGE:KIND[+KIND...][,STAGE:...]   e.g. CURATE_FAULT=match:raise+kill,count:kill

The driver reads it when a stage starts (`fault_for`); unset, that is one dictionary
lookup and the stage runs exactly as without this module. The fault travels to the tasks
inside the task's function. KIND:

- `raise`: the task of partition 0 raises after its first batch, on attempt 0 only, so
  that Spark's retry (attempt 1) succeeds: a task failed once in the middle of a partition.
- `kill`: the same task's Python worker SIGKILLs itself there (a worker that dies).
- `raise+kill`: the first kind on attempt 0, the second on attempt 1 (and so on); the
  attempt after the last runs undisturbed.
- `hold`: the same task waits there, until `$CURATE_FAULT_HOLD/release` exists, having
  made `$CURATE_FAULT_HOLD/held-STAGE`: a test knows the run is inside the task.
- `hold_commit`: the driver waits the same way once the stage has written everything but
  its report (stages.io.staged_output): for stages whose writing is Spark's own (dedup's,
  count's), a known point inside the stage.

dedup runs no Python of its own (Spark's aggregate and writer), so `raise`, `kill` and
`hold` have no task of dedup's to act in; putting a Python step into its plan just for a
fault would test another plan. Its faults are the driver's (`hold_commit`, then a kill).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Iterable, Iterator

FAULT_ENV = "CURATE_FAULT"
HOLD_ENV = "CURATE_FAULT_HOLD"
KINDS = ("raise", "kill", "hold", "hold_commit")
HOLD_SECONDS = 600   # a held run that nobody releases or kills ends its wait by then


@dataclass(frozen=True)
class Fault:
    """One stage's fault (small: it is pickled into that stage's tasks)."""
    stage: str
    kinds: tuple[str, ...]   # the fault of attempt 0, 1, ...
    hold_dir: str = ""

    def wrap(self, batches: Iterable, partition: int, attempt: int) -> Iterator:
        """`batches` as they are; in partition 0, on an attempt that has a fault, it acts
        when the batch after the first is asked for (the first is being written by then)."""
        batches = iter(batches)
        first = next(batches, None)
        if first is not None:
            yield first
        if partition == 0 and attempt < len(self.kinds):
            self.act(self.kinds[attempt])
        yield from batches

    def act(self, kind: str) -> None:
        if kind == "raise":
            raise RuntimeError(f"{FAULT_ENV}: a {self.stage} task fails on purpose")
        if kind == "kill":
            import signal
            os.kill(os.getpid(), signal.SIGKILL)
        if kind == "hold":
            hold(self.hold_dir, self.stage)


def fault_for(stage: str) -> Fault | None:
    """The fault $CURATE_FAULT sets for `stage` (None: none, the only case outside tests)."""
    setting = os.environ.get(FAULT_ENV)
    if not setting:
        return None
    for item in setting.split(","):
        name, _, kinds = item.strip().partition(":")
        if not set(kinds.split("+")) <= set(KINDS):
            raise ValueError(f"{FAULT_ENV}={setting!r}: {item!r} is not STAGE:KIND[+KIND] "
                             f"with KIND one of {', '.join(KINDS)}")
        if name == stage:
            return Fault(stage, tuple(kinds.split("+")), os.environ.get(HOLD_ENV, ""))
    return None


def at_commit(stage: str) -> None:
    """Where staged_output is about to write `stage`'s report: a `hold_commit` waits."""
    fault = fault_for(stage)
    if fault is not None and "hold_commit" in fault.kinds:
        hold(fault.hold_dir, stage)


def hold(directory: str, stage: str) -> None:
    """Say "held" with a file, then wait until the release file exists; a process whose
    parent died (its JVM killed) stops waiting."""
    if not directory:
        raise ValueError(f"{FAULT_ENV} hold needs ${HOLD_ENV}: a directory")
    parent = os.getppid()
    with open(os.path.join(directory, f"held-{stage}"), "w"):
        pass
    deadline = time.monotonic() + HOLD_SECONDS
    while not os.path.exists(os.path.join(directory, "release")):
        if os.getppid() != parent or time.monotonic() > deadline:
            return
        time.sleep(0.05)
