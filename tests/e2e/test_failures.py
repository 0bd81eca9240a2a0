"""Failures a user can cause end with one line on the terminal and a meaningful status,
the JVM's own output and any trace in the log file the line names: a bad master, a bad
Spark setting and a missing Java (each in a fresh process: a JVM that does not start)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from curate.stages.io import REPORT_FILE, StageReport


@pytest.fixture
def pairs(tmp_path):
    """Enough of a stage output for dedup to get as far as starting Spark."""
    path = tmp_path / "pairs"
    path.mkdir()
    (path / "part-0.parquet").write_bytes(b"PAR1")
    (path / REPORT_FILE).parent.mkdir(parents=True, exist_ok=True)
    (path / REPORT_FILE).write_text(StageReport("extract", str(path), 0, 0).to_json())
    return path


@pytest.mark.parametrize("args, env, cause, in_log", [
    (["--master", "bogus"], {}, "Master must either be yarn or start with spark, k8s, or local",
     "SparkException"),
    (["--conf", "spark.driver.memory=lots"], {}, "Invalid maximum heap size: -Xmxlots",
     "Could not create the Java Virtual Machine"),
    ([], {"JAVA_HOME": "/nonexistent-java"}, "/nonexistent-java/bin/java: No such file or "
     "directory; Spark needs Java 17 or newer (scripts/setup.sh says how to get it)",
     "/nonexistent-java/bin/java"),
], ids=["master", "setting", "java"])
def test_spark_that_does_not_start_is_one_line(pairs, tmp_path, args, env, cause, in_log):
    log = tmp_path / "curate.log"
    environment = {**os.environ, **env, "CURATE_LOG": str(log)}
    environment.pop("PYSPARK_GATEWAY_PORT", None)
    done = subprocess.run([sys.executable, "-m", "curate.cli", "dedup", str(pairs), "-o",
                           str(tmp_path / "dedup"), *args], capture_output=True, text=True,
                          env=environment, timeout=300)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"curate: error: Spark did not start: {cause} (its log: {log})"], done.stderr
    assert in_log in log.read_text()
    assert not (tmp_path / "dedup").exists()


def test_ctrl_c_during_a_spark_job_is_one_line_and_130(tmp_path, data_dir):
    """A real Ctrl-C (SIGINT to the process group, as a terminal sends it: the driver, the
    JVM and the Python workers) while the driver waits for extract's job (its tasks are
    writing): one line, status 130, py4j's complaints in the log only. (PySpark's own
    handler calls the JVM from inside the signal handler while the main thread waits on
    that connection: py4j's "reentrant call", 48 lines of tracebacks, status 1.)"""
    import signal
    import time

    files = sorted(str(p) for folder in ("commoncrawl", "webarchives")
                   for p in (data_dir / folder).glob("*.warc.gz"))
    log = tmp_path / "curate.log"
    environment = {**os.environ, "CURATE_LOG": str(log)}
    environment.pop("PYSPARK_GATEWAY_PORT", None)
    running = subprocess.Popen(
        [sys.executable, "-m", "curate.cli", "extract", *files, "-o", str(tmp_path / "pairs"),
         "--master", "local[1]"], stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, env=environment, start_new_session=True)
    attempts = tmp_path / "pairs.incomplete" / "_attempts"
    deadline = time.monotonic() + 300
    while not attempts.exists():
        assert running.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(running.pid, signal.SIGINT)
    _out, err = running.communicate(timeout=120)
    assert running.returncode == 130
    lines = [line for line in err.splitlines() if line.strip()]  # (click closes the ^C echo)
    assert len(lines) == 1 and lines[0].startswith("curate: interrupted"), err
    assert not (tmp_path / "pairs").exists()
