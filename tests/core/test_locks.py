"""One writer per output (curate.stages.locks), and what a re-run reports it cleaned up
(staged_output), without Spark. The other processes are real ones (a `sleep` that runs,
a `true` that ended); a lock of another host is a file written as that host would."""
from __future__ import annotations

import json
import socket
import subprocess
import time

import pytest

from curate.errors import UserError
from curate.stages import io
from curate.stages.io import REPORT_FILE, StageReport, staged_output
from curate.stages.locks import lock_of, output_lock


@pytest.fixture
def alive():
    """A process that runs while the test does."""
    process = subprocess.Popen(["sleep", "300"])
    yield process.pid
    process.kill()
    process.wait()


def ended_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def held_by(lock, pid, host=None, started=None) -> dict:
    holder = {"pid": pid, "host": host or socket.gethostname(),
              "started": started or time.time(), "process_start": io.process_start(pid),
              "token": "theirs"}
    lock.write_text(json.dumps(holder))
    return holder


def refusal(target, lock, holder) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(holder["started"]))
    return (f"{target} is being written by another curate run: process {holder['pid']} on "
            f"{holder['host']}, started {when} (its lock: {lock}); wait for it to end, or "
            "remove the lock if that process is gone")


def test_the_lock_is_held_inside_and_gone_after_even_on_failure(tmp_path):
    out = tmp_path / "dedup"
    with output_lock(str(out)):
        holder = json.loads((tmp_path / "dedup.lock").read_text())
        assert holder["pid"] > 0 and holder["host"] == socket.gethostname()
        assert [p.name for p in tmp_path.iterdir()] == ["dedup.lock"]   # no temporary left
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError), output_lock(str(out)):
        raise ValueError("the stage failed")
    assert list(tmp_path.iterdir()) == []


def test_a_live_lock_refuses_with_one_line_and_is_left_alone(tmp_path, alive):
    out, lock = tmp_path / "dedup", tmp_path / "dedup.lock"
    holder = held_by(lock, alive)
    with pytest.raises(UserError) as refused, output_lock(str(out)):
        pass
    assert str(refused.value) == refusal(out, lock, holder)
    assert json.loads(lock.read_text()) == holder


def test_a_lock_whose_process_is_gone_is_taken_over_with_a_warning(tmp_path, capsys):
    out, lock = tmp_path / "dedup", tmp_path / "dedup.lock"
    holder = held_by(lock, ended_pid())
    with output_lock(str(out)):
        assert json.loads(lock.read_text())["token"] != "theirs"
    assert not lock.exists()
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(holder["started"]))
    assert capsys.readouterr().err.splitlines() == [
        f"curate: warning: took over the lock {lock} of process {holder['pid']} on "
        f"{holder['host']} (since {when}), which is no longer running"]


def test_a_reused_process_id_does_not_keep_a_lock(tmp_path, alive):
    """The lock's process id now belongs to another process (another start time)."""
    lock = tmp_path / "dedup.lock"
    holder = held_by(lock, alive)
    lock.write_text(json.dumps({**holder, "process_start": "1"}))
    with output_lock(str(tmp_path / "dedup")):
        pass
    assert not lock.exists()


def test_another_hosts_lock_is_kept_until_it_is_old(tmp_path):
    out, lock = tmp_path / "dedup", tmp_path / "dedup.lock"
    holder = held_by(lock, 1, host="elsewhere.example")
    with pytest.raises(UserError) as refused, output_lock(str(out)):
        pass
    assert str(refused.value) == refusal(out, lock, holder)
    held_by(lock, 1, host="elsewhere.example", started=time.time() - 4 * 24 * 3600)
    with output_lock(str(out)):
        pass
    assert not lock.exists()


def test_a_run_lock_covers_its_outputs_and_refuses_a_stage_of_another_process(tmp_path,
                                                                             alive):
    work = tmp_path / "work"
    work.mkdir()
    with output_lock(str(work)), output_lock(str(work / "pairs")):
        assert sorted(p.name for p in tmp_path.iterdir()) == ["work", "work.lock"]
        assert list(work.iterdir()) == []   # the outputs take no lock of their own
    run_lock = tmp_path / "work.lock"
    holder = held_by(run_lock, alive)
    with pytest.raises(UserError) as refused, output_lock(str(work / "dedup")):
        pass
    assert str(refused.value) == refusal(work, run_lock, holder)
    run_lock.unlink()
    holder = held_by(work / "dedup.lock", alive)   # a stage writing into it on its own
    with pytest.raises(UserError) as refused, output_lock(str(work), workdir=True):
        pass
    assert str(refused.value) == refusal(work / "dedup", work / "dedup.lock", holder)
    assert not run_lock.exists()


def test_a_lock_taken_over_by_another_run_is_not_removed_by_the_first(tmp_path):
    lock = tmp_path / "dedup.lock"
    with output_lock(str(tmp_path / "dedup")):
        lock.write_text(json.dumps({"pid": 1, "host": "elsewhere", "token": "theirs",
                                    "started": time.time()}))
    assert json.loads(lock.read_text())["token"] == "theirs"


def test_an_s3_lock_is_a_conditional_put(s3):
    out = f"s3://{s3.bucket}/locks/dedup"
    with output_lock(out):
        assert io.exists(lock_of(out))
        assert not io.create_exclusive(lock_of(out), b"{}")   # If-None-Match: *
    assert not io.exists(lock_of(out))


def finish_with(finish, stage="dedup"):
    finish(StageReport(stage, "", 0, 0))


def test_a_rerun_reports_what_it_cleaned_up(tmp_path):
    """Temporaries an interrupted run left beside the output are removed and named in the
    report; the names of other outputs are left alone."""
    for name in ("dedup.incomplete-0123456789ab", "dedup.replaced-0123456789ab",
                 "dedup2.incomplete-0123456789ab"):
        (tmp_path / name / "_temporary").mkdir(parents=True)
    with staged_output(str(tmp_path / "dedup"), "dedup") as (where, finish):
        io.write_text(io.join(where, "part-0.parquet"), "")
        finish_with(finish)
    report = json.loads((tmp_path / "dedup" / REPORT_FILE).read_text())
    assert report["details"]["cleaned_up"] == [
        str(tmp_path / "dedup.incomplete-0123456789ab"),
        str(tmp_path / "dedup.replaced-0123456789ab")]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dedup", "dedup2.incomplete-0123456789ab"]
    with staged_output(str(tmp_path / "dedup"), "dedup") as (where, finish):
        finish_with(finish)
    assert "cleaned_up" not in json.loads((tmp_path / "dedup" / REPORT_FILE).read_text())[
        "details"]
