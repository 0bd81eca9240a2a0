"""Faults injected, output identical (issue 17, items 6 and 7): `curate run` on the bundled
sample under `local[2,4]` (a task may fail three times) with a task that fails once in each
stage whose tasks run curate's Python, a Python worker that SIGKILLs itself in each (dedup's
tasks are Spark's own aggregate and writer: curate.faults says why it is only killed), the
whole run SIGKILLed inside each stage and run again, and two runs into one work directory at
once. Each writes what one
undisturbed run writes (its rows, file names, reports but for seconds, ids and what was
cleaned up). And failures that were tracebacks: a read-only output, a full disk, a killed
JVM, each one line.

The faults are curate.faults' switch ($CURATE_FAULT, test-only); every run is a process of
its own (a JVM of its own: the switch and the master are fixed when it starts). The full
disk and the read-only place are real: tmpfs mounts (as root; elsewhere a folder without
write permission, and the full disk is skipped)."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cli_helpers import assert_verified, run_cli
from curate.stages.io import REPORT_FILE, STAGE_DIRS

MASTER = "local[2,4]"
OUTPUTS = sorted(STAGE_DIRS.values())
SIDE_FILES = ("__curate__/summary.json", "__curate__/inputs.txt")
# What a stage writes on the way and removes (empty folders too): never left in an output.
STRAY = ("_attempts", "_temporary", "groups", "writing.json")
TIMES: dict[str, dict[str, float]] = {}   # wall and stage seconds of each case, for -s


def start(args, tmp_path: Path, name: str, **env) -> subprocess.Popen:
    """`curate ARGS` in a process group of its own (its JVM and Python workers with it)."""
    environment = {**os.environ, "CURATE_LOG": str(tmp_path / f"{name}.log"), **env}
    environment.pop("PYSPARK_GATEWAY_PORT", None)
    return subprocess.Popen([sys.executable, "-m", "curate.cli", *args], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=environment, start_new_session=True)


def run(work: Path, tmp_path: Path, name: str, *extra, **env) -> tuple[str, str]:
    """`curate run -o WORK` to its end, timed: (stdout, stderr); it must succeed."""
    began = time.monotonic()
    process = start(["run", "-o", str(work), "--master", MASTER, "-q", *extra], tmp_path,
                    name, **env)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    TIMES[name] = {"wall": time.monotonic() - began, **stage_seconds(work)}
    return out, err


def stage_seconds(work: Path) -> dict[str, float]:
    return {name: json.loads((work / name / REPORT_FILE).read_text())["seconds"]
            for name in OUTPUTS if (work / name / REPORT_FILE).exists()}


def wait_for(path: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)


def kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def rows(directory: Path) -> list[dict]:
    return sorted(pq.read_table(directory).to_pylist(), key=repr)


def files(directory: Path) -> list[str]:
    """The files of an output, Spark's writer's random job id in names made "ID"."""
    return sorted(re.sub(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", "ID",
                         str(p.relative_to(directory)))
                  for p in directory.rglob("*") if p.is_file())


def report(directory: Path) -> dict:
    """The stage report but for what differs between two runs that wrote the same."""
    value = json.loads((directory / REPORT_FILE).read_text())
    for key in ("seconds", "id", "output"):
        value.pop(key)
    value["made_from"] = sorted(value["made_from"])
    value["details"].pop("cleaned_up", None)
    return value


def assert_same_outputs(work: Path, reference: Path) -> None:
    """The same rows (sorted), file names and reports as the undisturbed run, and nothing
    else in the work directory or beside it; `curate verify` holds."""
    assert_verified(work)
    assert sorted(p.name for p in work.iterdir()) == OUTPUTS
    assert sorted(p.name for p in work.parent.iterdir() if p.name.startswith(work.name)) \
        == [work.name]   # no lock, no temporary beside it
    assert not [p for p in work.rglob("*") if p.name in STRAY or ".incomplete" in p.name
                or ".replaced-" in p.name or p.name.endswith(".lock")]
    for name in OUTPUTS:
        assert files(work / name) == files(reference / name), name
        assert rows(work / name) == rows(reference / name), name
        assert report(work / name) == report(reference / name), name
        for side in SIDE_FILES:
            if (reference / name / side).exists():
                assert (work / name / side).read_text() == (reference / name / side).read_text()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """One undisturbed run, the one every case is compared with."""
    tmp_path = tmp_path_factory.mktemp("reference")
    run(tmp_path / "work", tmp_path, "undisturbed")
    return tmp_path / "work"


@pytest.fixture(scope="module", autouse=True)
def print_times():
    yield
    undisturbed = TIMES.get("undisturbed", {})
    for name, seconds in TIMES.items():
        stages = ", ".join(f"{stage} {value:.1f} s (undisturbed {undisturbed.get(stage, 0):.1f})"
                           for stage, value in seconds.items() if stage != "wall")
        print(f"\n{name}: {seconds['wall']:.1f} s wall (undisturbed "
              f"{undisturbed.get('wall', 0):.1f}); {stages}")


FAULTED = ("extract", "match", "count", "sample")   # the stages whose tasks run curate's Python


def test_faults_in_every_task_and_a_second_run_meanwhile_change_nothing(reference, tmp_path):
    """One `curate run` in which partition 0's task of each stage raises after its first
    batch on attempt 0 and its Python worker SIGKILLs itself there on attempt 1 (Spark runs
    it a third time), and which waits inside dedup (everything written but the report)
    while a second `curate run` into the same work directory, and a `curate dedup` into its
    dedup output, each refuse with one line naming the first run's lock. Released, the
    first run ends with the undisturbed run's output; its log shows each fault."""
    work, hold = tmp_path / "work", tmp_path / "hold"
    hold.mkdir()
    began = time.monotonic()
    faults = [f"{stage}:raise+kill" for stage in FAULTED] + ["dedup:hold_commit"]
    first = start(["run", "-o", str(work), "--master", MASTER, "-q"], tmp_path, "first",
                  CURATE_FAULT=",".join(faults), CURATE_FAULT_HOLD=str(hold))
    wait_for(hold / "held-dedup", first)
    held = time.monotonic()
    lock = work.parent / f"{work.name}.lock"
    holder = json.loads(lock.read_text())
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(holder["started"]))
    for args in (["run", "-o", str(work)],
                 ["dedup", str(work / "pairs"), "-o", str(work / "dedup")]):
        second = start([*args, "--master", MASTER, "-q"], tmp_path, "second")
        out, err = second.communicate(timeout=300)
        assert second.returncode == 2
        assert err.splitlines() == [
            f"curate: error: {work} is being written by another curate run: process "
            f"{first.pid} on {socket.gethostname()}, started {started} (its lock: {lock}); "
            "wait for it to end, or remove the lock if that process is gone"]
    refused = time.monotonic()
    (hold / "release").touch()
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    TIMES["task_faults"] = {"wall": time.monotonic() - began - (refused - held),
                            **stage_seconds(work)}
    TIMES["task_faults"]["dedup"] -= refused - held   # (dedup waited for the refusals)
    assert_same_outputs(work, reference)
    log = (tmp_path / "first.log").read_text()
    assert set(re.findall(r"CURATE_FAULT: a (\w+) task fails on purpose", log)) == set(FAULTED)
    assert len(re.findall(r"Lost task 0\.1 in stage", log)) == len(FAULTED)   # the kills


# Where each stage is killed: inside partition 0's task (its files half written under
# _attempts/), or, where Spark writes (dedup, count), with everything written but the report.
KILLED_AT = [("extract", "hold"), ("dedup", "hold_commit"), ("match", "hold"),
             ("count", "hold_commit"), ("sample", "hold")]


def test_a_run_killed_in_each_stage_then_run_again_ends_as_one_undisturbed_run(
        reference, tmp_path):
    """`curate run -o WORK --resume` SIGKILLed (the driver, its JVM and its Python workers)
    inside extract; the same command again, killed inside dedup; and so on through sample;
    then once more to its end. Each stage's report names what the killed run had left
    (cleaned_up), the terminal says it, nothing of it remains, and the output is the
    undisturbed run's."""
    work = tmp_path / "work"
    left = {}
    began = time.monotonic()
    for stage, kind in KILLED_AT:
        run_began = time.monotonic()
        hold = tmp_path / f"hold-{stage}"
        hold.mkdir()
        process = start(["run", "-o", str(work), "--master", MASTER, "-q", "--resume"],
                        tmp_path, f"killed-{stage}", CURATE_FAULT=f"{stage}:{kind}",
                        CURATE_FAULT_HOLD=str(hold))
        wait_for(hold / f"held-{stage}", process)
        kill(process)
        TIMES[f"killed in {stage}"] = {"wall": time.monotonic() - run_began}
        name = STAGE_DIRS[stage]
        left[stage] = ([str(work / "pairs.incomplete" / "_attempts")] if stage == "extract"
                       else [str(p) for p in work.glob(f"{name}.incomplete-*")])
        assert len(left[stage]) == 1 and Path(left[stage][0]).is_dir()
        assert (work.parent / f"{work.name}.lock").exists()   # the killed run's lock
    out, err = run(work, tmp_path, "after_kills", "--resume")
    TIMES["all six runs"] = {"wall": time.monotonic() - began}
    assert err.count("curate: warning: took over the lock") == 1
    assert_same_outputs(work, reference)
    for stage in STAGE_DIRS:
        assert json.loads((work / STAGE_DIRS[stage] / REPORT_FILE).read_text())[
            "details"]["cleaned_up"] == left[stage]
    assert f"sample: removed what an interrupted run left: {left['sample'][0]}" in out


def test_a_killed_jvm_is_one_line(tmp_path):
    """The JVM of a running `curate run` SIGKILLed while an extract task runs: one line
    that says so, status 1; no output, no lock left (extract's committed groups would be
    kept in pairs.incomplete for the next run: none was committed yet)."""
    work, hold = tmp_path / "work", tmp_path / "hold"
    hold.mkdir()
    process = start(["run", "-o", str(work), "--master", MASTER, "-q"], tmp_path, "jvm",
                    CURATE_FAULT="extract:hold", CURATE_FAULT_HOLD=str(hold))
    try:
        wait_for(hold / "held-extract", process)
        os.kill(java_child(process.pid), signal.SIGKILL)
        _out, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            kill(process)
    assert process.returncode == 1
    log = tmp_path / "jvm.log"
    assert err.splitlines() == [
        "curate: failed: Spark's JVM died (killed by signal 9) while the command ran; no "
        f"output was replaced (the trace: {log})"], err
    assert [p.name for p in work.iterdir()] == ["pairs.incomplete"]
    assert not (work.parent / f"{work.name}.lock").exists()


def java_child(pid: int) -> int:
    """The JVM that process `pid` started (its child running java)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                command = (entry / "cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if int(stat[1]) == pid and command.endswith(b"java"):
                return int(entry.name)
    raise AssertionError(f"no JVM under process {pid}")


# ------------------------------------------------------------ a read-only or full disk

def mount_tmpfs(folder: Path, options: str) -> None:
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


@pytest.fixture
def read_only(tmp_path):
    """A folder no file can be made in: a read-only tmpfs as root (root writes through
    permissions), else a folder without write permission."""
    folder = tmp_path / "read-only"
    if os.geteuid() != 0:
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mount_tmpfs(folder, "ro,size=64k")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=True)


def test_a_read_only_output_is_refused_before_the_stage_runs(reference, read_only, capsys):
    code = run_cli("dedup", str(reference / "pairs"), "-o", str(read_only / "dedup"), "-q")
    reason = "Read-only file system" if os.geteuid() == 0 else "Permission denied"
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"curate: error: -o {read_only / 'dedup'}: cannot write in {read_only} ({reason}); "
        "choose a place this user can write"]


@pytest.fixture
def full_disk(tmp_path):
    """A real full disk: a tmpfs of three pages, one filled; the stage's lock takes one,
    the shared-output probe's marker the other until it is removed (root only)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder = tmp_path / "full"
    mount_tmpfs(folder, "size=12k")
    (folder / "filler").write_bytes(b"x" * 4096)   # a page for the lock, one for the probe
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=True)


@pytest.mark.parametrize("stage, input_name", [("match", "dedup"), ("dedup", "pairs")],
                         ids=["tasks write", "Spark writes"])
def test_a_full_disk_is_one_line_naming_the_output(spark, reference, full_disk, capsys,
                                                   monkeypatch, tmp_path, stage, input_name):
    log = tmp_path / "curate.log"
    monkeypatch.setenv("CURATE_LOG", str(log))
    output = full_disk / stage
    code = run_cli(stage, str(reference / input_name), "-o", str(output), "-q")
    assert code == 1
    lines = capsys.readouterr().err.splitlines()
    file = (rf" \({re.escape(str(full_disk))}/{stage}\.incomplete-[0-9a-f]{{12}}/_attempts/"
            rf"\d+-0/part-\d{{5}}-0000\.parquet\)" if stage == "match" else "")
    assert len(lines) == 1 and re.fullmatch(
        rf"curate: failed: {stage}: no space left on the device that holds "
        rf"{re.escape(str(output))}{file}; nothing was replaced \(the trace: "
        rf"{re.escape(str(log))}\)", lines[0]), lines
    assert "No space left on device" in log.read_text()
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


def test_a_disk_full_before_the_stage_writes_is_one_line(spark, reference, full_disk, capsys,
                                                         monkeypatch, tmp_path):
    """Only the lock's page left: the shared-output probe's marker finds the disk full."""
    (full_disk / "more filler").write_bytes(b"x" * 4096)
    log = tmp_path / "curate.log"
    monkeypatch.setenv("CURATE_LOG", str(log))
    code = run_cli("dedup", str(reference / "pairs"), "-o", str(full_disk / "dedup"), "-q")
    assert code == 1
    assert capsys.readouterr().err.splitlines() == [
        "curate: failed: no space left on a device this command writes to; nothing was "
        f"replaced (the trace: {log})"]
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler", "more filler"]
