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
