"""curate's jobs under a real spark-submit, started the way docs/operating.md tells users
to (the venv's bin/ first on PATH, so spark-submit finds pyspark's Spark and the driver
and its Python workers run the venv's python3), in local mode: a master other than
spark-submit's is refused with one line before any job, a driver setting that comes too
late is one warning line and the job runs."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def spark_submit(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`PATH="$PWD/.venv/bin:$PATH" spark-submit ARGS...` from the repository."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYSPARK_", "AWS_", "SPARK_")) and k != "CURATE_S3_ENDPOINT_URL"}
    env.update(PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}", SPARK_LOCAL_IP="127.0.0.1",
               AWS_EC2_METADATA_DISABLED="true")
    return subprocess.run(["spark-submit", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def curate_lines(done: subprocess.CompletedProcess) -> list[str]:
    """curate's own lines on stderr. spark-submit runs the driver's Python with its stderr
    merged into its stdout (PythonRunner), so both are searched."""
    return [line for line in (done.stdout + done.stderr).splitlines()
            if line.startswith("curate:")]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory, data_dir) -> tuple[Path, subprocess.CompletedProcess]:
    """An extract run by spark-submit --master local[1] with a driver setting that comes
    too late (spark.driver.memory)."""
    out = tmp_path_factory.mktemp("submit") / "pairs"
    done = spark_submit("--master", "local[1]", "jobs/extract.py",
                        str(data_dir / "commoncrawl" / "CC-MAIN-2024-22-whirlwind.warc.gz"),
                        "-o", str(out), "-q", "--conf", "spark.driver.memory=3g",
                        "--conf", "spark.sql.shuffle.partitions=3")
    return out, done


def test_the_documented_spark_submit_runs_a_job_and_warns_of_the_driver_memory(pairs):
    out, done = pairs
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "__curate__" / "stage.json").is_file()
    assert "extract:" in done.stdout
    lines = curate_lines(done)
    assert len(lines) == 1, done.stderr[-3000:]
    assert lines[0].startswith("curate: warning: spark.driver.memory=3g is ignored")
    assert "spark-submit --conf spark.driver.memory=3g" in lines[0]


def test_another_master_under_spark_submit_is_one_line_and_status_2(pairs, tmp_path):
    out, _ = pairs
    dedup = tmp_path / "dedup"
    done = spark_submit("--master", "local[1]", "jobs/dedup.py", str(out), "-o", str(dedup),
                        "--master", "local[2]")
    assert done.returncode == 2, done.stderr[-3000:]
    assert curate_lines(done) == [
        "curate: error: master local[2] differs from spark-submit's master local[1]: under "
        "spark-submit the master is spark-submit's to choose (spark-submit --master "
        "local[2] ...), or the application would not run where it was submitted"]
    assert "Traceback" not in done.stdout + done.stderr
    assert not dedup.exists() and "dedup:" not in done.stdout


def test_the_same_master_under_spark_submit_runs(pairs, tmp_path):
    out, _ = pairs
    dedup = tmp_path / "dedup"
    done = spark_submit("--master", "local[1]", "jobs/dedup.py", str(out), "-o", str(dedup),
                        "--master", "local[1]", "-q")
    assert done.returncode == 0, done.stderr[-3000:]
    assert curate_lines(done) == []
    assert (dedup / "__curate__" / "stage.json").is_file()
