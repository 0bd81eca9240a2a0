"""curate on a real Spark standalone cluster: a master and two workers (one core each)
started from the installed pyspark on 127.0.0.1 (scripts/cluster.py), the jobs submitted
with `spark-submit` exactly as docs/operating.md tells operators, the environment shipped
as scripts/package.py's archive. The workers' Python (the base interpreter under the
archive's virtualenv) has neither curate nor its dependencies: the archive carries them.

Every stage's rows on the cluster equal a local-mode run's (sorted rows); a worker killed
(SIGKILL of it and its executor) while dedup and while sample run costs a retry, no row."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from cli_helpers import assert_verified, run_cli
from curate.stages.io import REPORT_FILE, read_report

ROOT = Path(__file__).resolve().parents[2]
STAGES = [("extract", "pairs"), ("dedup", "dedup"), ("match", "matched"), ("count", "counts"),
          ("sample", "curated")]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("package")
    return _script("package").build(out / "curate-env.tar.gz", None, out)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with _script("cluster").StandaloneCluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


def test_stopping_a_cluster_drops_what_executors_unpacked_and_keeps_their_logs(tmp_path):
    """The shipped environment and --packages jars an executor unpacks or fetches into its
    worker's work directory (~0.5 GB an application: a test session's cluster left 9.5 GB)
    go when the cluster stops; its stdout and stderr stay, and nothing a symlink points
    to, or outside the executors' directories, is touched."""
    outside = tmp_path / "outside"
    (outside / "lib").mkdir(parents=True)
    (outside / "lib" / "keep.py").write_text("x")
    executor = tmp_path / "work" / "worker-0" / "app-20261206-0000" / "0"
    (executor / "env" / "bin").mkdir(parents=True)
    (executor / "env" / "bin" / "python").write_text("x")
    (executor / "hadoop-aws-3.4.1.jar").write_text("x")
    (executor / "linked").symlink_to(outside / "lib")
    for log in ("stdout", "stderr"):
        (executor / log).write_text(log)
    (tmp_path / "work" / "master.log").write_text("m")
    _script("cluster").drop_executor_files(tmp_path / "work")
    assert sorted(p.name for p in executor.iterdir()) == ["stderr", "stdout"]
    assert (executor / "stderr").read_text() == "stderr"
    assert (outside / "lib" / "keep.py").read_text() == "x"
    assert (tmp_path / "work" / "master.log").exists()


def submit(cluster, archive, job: str, *args: str, log: Path, wait: bool = True,
           spark_args: tuple[str, ...] = ()):
    """spark-submit as docs/operating.md says (with everything on 127.0.0.1)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "PYSPARK_GATEWAY_PORT")}
    env.update(PATH=f"{Path(sys.executable).parent}:{env['PATH']}", SPARK_LOCAL_IP="127.0.0.1",
               CURATE_LOG=str(log))
    command = ["spark-submit", "--master", cluster.url,
               "--archives", f"{archive}#env",
               "--conf", "spark.pyspark.python=./env/bin/python",
               "--conf", f"spark.pyspark.driver.python={sys.executable}",
               "--conf", "spark.driver.host=127.0.0.1",
               "--conf", "spark.driver.bindAddress=127.0.0.1", *spark_args,
               str(ROOT / "jobs" / f"{job}.py"), *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=log.parent)
    if not wait:
        return process
    out, err = process.communicate(timeout=900)
    assert process.returncode == 0, err[-4000:]
    return out


def rows(directory: Path) -> pd.DataFrame:
    frame = pd.read_parquet(directory)
    frame = frame.drop(columns=[c for c in ("matched_entry_ids",) if c in frame])
    return frame.astype(str).sort_values(list(frame.columns), ignore_index=True)


@pytest.fixture(scope="module")
def local(spark, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("local") / "work"
    assert run_cli("run", "-o", str(work)) == 0
    return work


def same_rows(got: Path, want: Path) -> None:
    pd.testing.assert_frame_equal(rows(got), rows(want))
    mine, theirs = read_report(str(got)), read_report(str(want))
    assert (mine.rows_in, mine.rows_out, mine.dropped) == (theirs.rows_in, theirs.rows_out,
                                                           theirs.dropped)


def test_run_on_the_cluster_equals_local(cluster, archive, local, tmp_path):
    work = tmp_path / "work"
    submit(cluster, archive, "run", "-o", str(work), log=tmp_path / "run.log")
    for _stage, name in STAGES:
        same_rows(work / name, local / name)
    assert_verified(work)
    apps = cluster.state()["completedapps"]
    assert apps and all(app["state"] == "FINISHED" for app in apps)


def test_each_job_on_the_cluster_equals_local(cluster, archive, local, tmp_path):
    d = {name: str(tmp_path / name) for _stage, name in STAGES}
    log = tmp_path / "jobs.log"
    submit(cluster, archive, "extract", *_bundled_sample(), "-o", d["pairs"], log=log)
    submit(cluster, archive, "dedup", d["pairs"], "-o", d["dedup"], log=log)
    submit(cluster, archive, "match", d["dedup"], "-o", d["matched"], log=log)
    submit(cluster, archive, "count", d["matched"], "-o", d["counts"], log=log)
    submit(cluster, archive, "sample", d["matched"], "--counts", d["counts"], "-o",
           d["curated"], log=log)
    for _stage, name in STAGES:
        same_rows(tmp_path / name, local / name)
    assert_verified(tmp_path)   # the five jobs' outputs are one run


def _bundled_sample() -> list[str]:
    from curate.api import bundled_sample
    return bundled_sample()


@pytest.mark.parametrize("stage, name", [("dedup", "dedup"), ("sample", "curated")])
def test_a_worker_lost_during_a_stage_costs_no_row(cluster, archive, local, tmp_path, stage,
                                                   name):
    """The stage's job is submitted; once its tasks write their files (Spark's
    `_temporary` for dedup, curate's `_attempts` for sample), worker 0 and its executor
    are SIGKILLed. The driver sees the executor lost; the job finishes on worker 1 with
    the undisturbed rows."""
    upstream = {"dedup": ["pairs"], "sample": ["matched", "counts"]}[stage]
    for directory in upstream:
        subprocess.run(["cp", "-r", str(local / directory), str(tmp_path / directory)],
                       check=True)
    args = {"dedup": [str(tmp_path / "pairs")],
            "sample": [str(tmp_path / "matched"), "--counts", str(tmp_path / "counts")]}[stage]
    running = submit(cluster, archive, stage, *args, "-o", str(tmp_path / name),
                     log=tmp_path / "lost.log", wait=False)
    writing = {"dedup": "_temporary", "sample": "_attempts"}[stage]
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob(f"{name}.incomplete-*/{writing}")):
        assert running.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    cluster.kill_worker(0)
    try:
        _out, err = running.communicate(timeout=900)
        assert running.returncode == 0, err[-4000:]
    finally:
        cluster.restart_worker(0)
    print("\n".join(line for line in err.splitlines() if "lost" in line.lower()))
    assert "Lost executor" in err or "ExecutorLostFailure" in err   # (ids vary by worker)
    assert (tmp_path / name / REPORT_FILE).exists()
    same_rows(tmp_path / name, local / name)


def test_run_on_the_cluster_with_s3(cluster, archive, local, moto_s3, tmp_path,
                                    monkeypatch):
    """Inputs and every stage output on the loopback S3 store, from the cluster: S3A for
    Spark, pyarrow and boto3 for curate in the driver and in the executors (whose own
    environment has no AWS credentials: the driver's travel with the tasks)."""
    from curate.api import bundled_sample
    from test_object_store import BUCKET, comparable, hadoop_aws, keys, read_rows

    from conftest_servers import put_files

    put_files(moto_s3.url, BUCKET, {f"cluster-in/{Path(p).name}": Path(p)
                                    for p in bundled_sample()})
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(key, value)   # the submitting side's credentials, as an operator's
    submit(cluster, archive, "run", f"s3://{BUCKET}/cluster-in/", "-o",
           f"s3a://{BUCKET}/cluster-work", "--s3-endpoint-url", moto_s3.url,
           log=tmp_path / "s3.log", spark_args=("--packages", hadoop_aws()))
    assert comparable(read_rows(moto_s3.url, "cluster-work/curated/")) == comparable(
        pd.read_parquet(local / "curated"))
    assert f"cluster-work/curated/{REPORT_FILE}" in keys(moto_s3.url, "cluster-work/")
    # curate verify reads the work directory from this process, as an operator would
    monkeypatch.setenv("CURATE_S3_ENDPOINT_URL", moto_s3.url)
    assert_verified(f"s3://{BUCKET}/cluster-work")
