"""curate's jobs under a real spark-submit, started the way docs/operating.md tells users
to (the venv's bin/ first on PATH, so spark-submit finds pyspark's Spark and the driver
and its Python workers run the venv's python3), in local mode: a master other than
spark-submit's is refused with one line before any job, a driver setting that comes too
late is one warning line and the job runs. In local-cluster mode (an executor JVM of its
own): executors whose Python is another version, or does not start, are one line at
start-up."""
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


def other_python() -> str | None:
    """An interpreter of another minor version than this one, if the machine has one."""
    import glob
    import shutil

    here = "%d.%d" % sys.version_info[:2]
    for minor in ("3.12", "3.13", "3.10", "3.11"):
        if minor == here:
            continue
        candidates = [*sorted(glob.glob(f"{os.path.expanduser('~')}/.pyenv/versions/"
                                        f"{minor}.*/bin/python{minor}")),
                      shutil.which(f"python{minor}")]
        for found in candidates:   # (pyenv's shims are scripts that may not run here)
            if found and "/shims/" not in found and subprocess.run(
                    [found, "-c", "pass"], capture_output=True).returncode == 0:
                return found
    return None


def test_executors_of_another_python_are_one_line_at_start(tmp_path, data_dir):
    """local-cluster[1,1,1024]: an executor of its own (another JVM), whose Python workers
    run another Python than the driver, as on a cluster whose PYSPARK_PYTHON is wrong:
    curate's version check says so before any stage, instead of PySpark's mismatch inside
    the first task."""
    python = other_python()
    if python is None:
        pytest.skip("no Python of another minor version on this machine")
    out = tmp_path / "pairs"
    done = spark_submit("--master", "local-cluster[1,1,1024]",
                        "--conf", f"spark.pyspark.python={python}",
                        "--conf", f"spark.pyspark.driver.python={sys.executable}",
                        "jobs/extract.py",
                        str(data_dir / "commoncrawl" / "CC-MAIN-2024-22-whirlwind.warc.gz"),
                        "-o", str(out), "-q")
    assert done.returncode == 2, done.stderr[-3000:]
    theirs = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                            capture_output=True, text=True, check=True).stdout.strip()
    here = "%d.%d" % sys.version_info[:2]
    assert curate_lines(done) == [
        f"curate: error: the Python workers on an executor run Python {theirs}, the driver "
        f"Python {here}: PySpark needs the same major.minor version on both (set "
        f"PYSPARK_PYTHON or spark.pyspark.python on the cluster to the driver's Python, "
        f"with curate installed)"]
    assert not out.exists()


def test_executors_whose_python_does_not_start_are_one_line_at_start(tmp_path, data_dir):
    out = tmp_path / "pairs"
    done = spark_submit("--master", "local-cluster[1,1,1024]",
                        "--conf", "spark.pyspark.python=/nonexistent/python3",
                        "--conf", f"spark.pyspark.driver.python={sys.executable}",
                        "jobs/extract.py",
                        str(data_dir / "commoncrawl" / "CC-MAIN-2024-22-whirlwind.warc.gz"),
                        "-o", str(out), "-q")
    assert done.returncode == 2, done.stderr[-3000:]
    assert curate_lines(done) == [
        "curate: error: the executors' Python workers did not start (Cannot run program "
        "\"/nonexistent/python3\": error=2, No such file or directory): check the Python "
        "they run (PYSPARK_PYTHON, spark.pyspark.python) on the cluster"]
    assert not out.exists()
