"""One writer per output: a lock file beside the output (`NAME.lock`, or `WORKDIR.lock` for
`curate run`) while a stage or a run writes it, so that two runs into one `-o` cannot
delete each other's temporary directories or replace each other's outputs.

The lock is created atomically (io.create_exclusive: a hard link on a local disk, a
conditional put on S3) and holds who holds it: process id, host, when it started, and a
token of its own. A second run refuses with one line naming them. A lock whose process is
gone (same host: no such process, or another process under its id) is stale and taken
over with one warning line, so a killed run never blocks the next; a lock of another host
is taken over only when older than OTHER_HOST_STALE_SECONDS (no host can tell whether a
process elsewhere is alive). The lock is removed when the stage or run ends, failed or not,
and only when it still holds this process's token.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
import uuid
from contextlib import contextmanager

from curate.errors import UserError
from curate.stages import io

LOCK_SUFFIX = ".lock"
OTHER_HOST_STALE_SECONDS = 3 * 24 * 3600
_HELD: dict[str, int] = {}   # locks this process holds (by the output they cover): depth


def lock_of(output: str) -> str:
    """The lock file of `output`: beside it, named after it."""
    parent, name = io.parent_and_name(output)
    return io.join(parent, name + LOCK_SUFFIX)


@contextmanager
def output_lock(output: str, workdir: bool = False):
    """Inside: this process holds `output`'s lock (or a lock of a directory holding it:
    `curate run`'s work directory covers its stage outputs). Re-entrant. `workdir`:
    `output` holds stage outputs, none of which another process may be writing (a
    listing: not done for every stage output, which may hold 100,000 files)."""
    target = io.stores.absolute(output)
    if _covered(target):
        _refuse_if_held(target)   # a stage run on its own into a run's work directory
        _HELD[target] = _HELD.get(target, 0) + 1
        try:
            yield
        finally:
            _release_depth(target)
        return
    _refuse_if_held(io.parent_and_name(target)[0])   # a run holding the work directory
    holder = _acquire(target)
    try:   # a stage run on its own into one of this work directory's outputs
        for name in io.list_dir(target) if workdir else ():
            if name.endswith(LOCK_SUFFIX):
                _refuse_if_held(io.join(target, name[:-len(LOCK_SUFFIX)]))
    except BaseException:
        _release(lock_of(target), holder["token"])
        raise
    _HELD[target] = 1
    try:
        yield
    finally:
        _HELD.pop(target, None)
        _release(lock_of(target), holder["token"])


def _covered(target: str) -> bool:
    return any(target == held or target.startswith(held.rstrip("/") + "/")
               for held in _HELD)


def _release_depth(target: str) -> None:
    _HELD[target] -= 1
    if not _HELD[target]:
        del _HELD[target]


def _acquire(target: str) -> dict:
    uri = lock_of(target)
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
              "process_start": io.process_start(os.getpid()), "token": uuid.uuid4().hex,
              "output": target}
    data = json.dumps(holder, indent=2).encode()
    for _ in range(3):   # a lock released or taken over between two looks: look again
        try:
            if io.create_exclusive(uri, data):
                return holder
        except OSError as error:   # a full disk, a read-only place: one line
            raise UserError(f"{target}: cannot write its lock {uri} ({error.strerror})"
                            ) from None
        other = _read(uri)
        if other is None:
            continue
        if not _stale(other):
            raise UserError(_refusal(target, uri, other))
        if io.retire(uri):
            print(f"curate: warning: took over the lock {uri} of process {other.get('pid')} "
                  f"on {other.get('host')} (since {_when(other)}), which is no longer "
                  "running", file=sys.stderr)
    raise UserError(f"{target}: could not take its lock {uri}: other runs keep taking it")


def _refuse_if_held(target: str) -> None:
    """A user error when a live lock of another process covers `target`."""
    uri = lock_of(target)
    other = _read(uri) if io.exists(uri) else None
    mine = other is not None and other.get("pid") == os.getpid() \
        and other.get("host") == socket.gethostname()
    if other is not None and not mine and not _stale(other):
        raise UserError(_refusal(target, uri, other))


def _refusal(target: str, uri: str, other: dict) -> str:
    return (f"{target} is being written by another curate run: process {other.get('pid')} "
            f"on {other.get('host')}, started {_when(other)} (its lock: {uri}); wait for "
            "it to end, or remove the lock if that process is gone")


def _when(holder: dict) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(holder["started"])))
    except (KeyError, TypeError, ValueError):
        return "at an unknown time"


def _read(uri: str) -> dict | None:
    """The lock's holder; None when it is gone. A lock that is not ours to read (not JSON)
    reads as a holder of nothing, which is stale only by its age."""
    try:
        value = json.loads(io.read_text(uri))
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError):
        return {"started": 0, "host": "?", "pid": "?"}
    return value if isinstance(value, dict) else {"started": 0, "host": "?", "pid": "?"}


def _stale(holder: dict) -> bool:
    """Whether the lock's process is gone: on this host, by its id and start time;
    elsewhere, by the lock's age."""
    if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int):
        start = io.process_start(holder["pid"])
        return start is None or start != holder.get("process_start")
    try:
        return time.time() - float(holder.get("started", 0)) > OTHER_HOST_STALE_SECONDS
    except (TypeError, ValueError):
        return True


def _release(uri: str, token: str) -> None:
    """Remove the lock if it is still this process's (a run that took it over as stale,
    wrongly, keeps its own)."""
    holder = _read(uri) if io.exists(uri) else None
    if holder is not None and holder.get("token") == token:
        io.remove_key(uri)
