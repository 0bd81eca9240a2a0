"""Every stage's output on an object store: moto's S3 server on loopback, reached by
curate's own reads and writes (pyarrow's S3 filesystem, boto3) and by Spark through
Hadoop's real S3A connector (hadoop-aws of the Hadoop version pyspark bundles, fetched
from Maven Central with spark.jars.packages, as users fetch it).

The S3 runs are `curate` commands in a process of their own, as a user starts them: the
JVM and its Python workers take their AWS settings from the environment they start
with, which the test session's JVM (started once, without them) cannot."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from cli_helpers import run_cli
from conftest_servers import REGION, direct_client, put_files
from curate import schemas
from curate.sources import s3 as s3_source
from curate.stages import io as stage_io
from curate.stages import stores
from curate.stages.io import REPORT_FILE, WRITING_FILE, StageReport

BUCKET = "curate-store"
STAGE_DIRS = ["pairs", "dedup", "matched", "counts", "curated"]


def hadoop_aws() -> str:
    """hadoop-aws at the version of the Hadoop client jars pyspark ships."""
    import pyspark

    (jar,) = (Path(pyspark.__file__).parent / "jars").glob("hadoop-client-api-*.jar")
    return "org.apache.hadoop:hadoop-aws:" + jar.stem.removeprefix("hadoop-client-api-")


def curate(*args: str, endpoint: str, log: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "PYSPARK_GATEWAY")) and k != s3_source.S3_ENDPOINT_ENV}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_DEFAULT_REGION=REGION, AWS_EC2_METADATA_DISABLED="true",
               NO_PROXY="127.0.0.1", CURATE_LOG=str(log))
    return subprocess.run(
        [sys.executable, "-m", "curate.cli", *args, "--s3-endpoint-url", endpoint,
         "--master", "local[2]", "--conf", f"spark.jars.packages={hadoop_aws()}"],
        capture_output=True, text=True, env=env, timeout=900)


def verify(workdir: str, endpoint: str, log: Path) -> subprocess.CompletedProcess:
    """`curate verify WORKDIR` in a process of its own, with the runs' environment."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "PYSPARK_GATEWAY")) and k != s3_source.S3_ENDPOINT_ENV}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_DEFAULT_REGION=REGION, AWS_EC2_METADATA_DISABLED="true",
               NO_PROXY="127.0.0.1", CURATE_LOG=str(log))
    return subprocess.run([sys.executable, "-m", "curate.cli", "verify", workdir,
                           "--s3-endpoint-url", endpoint], capture_output=True, text=True,
                          env=env, timeout=300)


def keys(endpoint: str, prefix: str) -> list[str]:
    listed = direct_client(endpoint).list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def read_rows(endpoint: str, prefix: str) -> pd.DataFrame:
    client = direct_client(endpoint)
    tables = [pq.read_table(io.BytesIO(client.get_object(Bucket=BUCKET, Key=k)["Body"].read()))
              for k in keys(endpoint, prefix) if k.endswith(".parquet")
              and f"/{schemas.SIDE_DIR}/" not in k]
    return pd.concat([t.to_pandas() for t in tables], ignore_index=True)


def comparable(rows: pd.DataFrame) -> list[tuple]:
    """The curated rows without where their input file was (a local path or an S3 key)."""
    columns = [c for c in schemas.CURATED.names if c not in ("matched_entry_ids",)]
    return sorted(map(tuple, rows[columns].astype(str).values.tolist()))


@pytest.fixture(scope="module")
def inputs(data_dir) -> dict[str, Path]:
    return {p.name: p for p in sorted((data_dir / "commoncrawl").glob("*.warc.gz"))}


@pytest.fixture(scope="module")
def local_run(spark, inputs, tmp_path_factory) -> pd.DataFrame:
    work = tmp_path_factory.mktemp("local") / "work"
    assert run_cli("run", *map(str, inputs.values()), "-o", str(work)) == 0
    return pd.read_parquet(work / "curated")


def test_a_run_on_s3_gives_the_local_rows(moto_s3, inputs, local_run, tmp_path):
    """Inputs, and every stage's output, on S3: the same curated rows as a local run; each
    output complete (its report last), nothing else among its keys (no task attempt, no
    marker, no Spark temporary); s3:// and s3a:// name the same objects."""
    put_files(moto_s3.url, BUCKET, {f"in/{name}": path for name, path in inputs.items()})
    done = curate("run", f"s3://{BUCKET}/in/", "-o", f"s3a://{BUCKET}/work",
                  endpoint=moto_s3.url, log=tmp_path / "run.log")
    assert done.returncode == 0, done.stderr[-3000:]
    assert comparable(read_rows(moto_s3.url, "work/curated/")) == comparable(local_run)
    written = keys(moto_s3.url, "work/")
    for name in STAGE_DIRS:
        assert f"work/{name}/{REPORT_FILE}" in written
    leftovers = [k for k in written if any(part in k for part in (
        "_attempts", "_temporary", WRITING_FILE, ".incomplete-", ".replaced-"))]
    assert leftovers == []
    checked = verify(f"s3a://{BUCKET}/work", moto_s3.url, tmp_path / "verify.log")
    assert checked.returncode == 0, checked.stdout + checked.stderr[-3000:]
    assert len(checked.stdout.splitlines()) == 8 and "FAILED" not in checked.stdout
    assert "2 inputs: 2 sources of rows" in checked.stdout
    # s3:// for the same place: dedup of work/pairs again, by the other scheme
    again = curate("dedup", f"s3://{BUCKET}/work/pairs", "-o", f"s3://{BUCKET}/dedup2",
                   endpoint=moto_s3.url, log=tmp_path / "dedup.log")
    assert again.returncode == 0, again.stderr[-3000:]
    first, second = (read_rows(moto_s3.url, p) for p in ("work/dedup/", "dedup2/"))
    assert sorted(map(tuple, first.astype(str).values.tolist())) == \
        sorted(map(tuple, second.astype(str).values.tolist()))


def test_a_flaky_store_gives_the_same_rows(moto_s3, s3_front, inputs, local_run, tmp_path):
    """Every 7th GET and every 5th PUT answered 503 SlowDown, and every 11th PUT cut
    before its answer: retried by S3A, pyarrow and boto3 alike; the same curated rows."""
    put_files(moto_s3.url, BUCKET, {f"in/{name}": path for name, path in inputs.items()})
    s3_front.reset()
    s3_front.every(7, "GET", "slowdown")
    s3_front.every(5, "PUT", "slowdown")
    s3_front.every(11, "PUT", "drop")
    done = curate("run", f"s3://{BUCKET}/in/", "-o", f"s3a://{BUCKET}/flaky",
                  endpoint=s3_front.url, log=tmp_path / "run.log")
    misbehaved = dict(s3_front.misbehaved)
    s3_front.reset()
    assert done.returncode == 0, done.stderr[-3000:]
    assert min(misbehaved.get(k, 0) for k in ("GET slowdown", "PUT slowdown", "PUT drop")) >= 3
    assert comparable(read_rows(moto_s3.url, "flaky/curated/")) == comparable(local_run)
    checked = verify(f"s3://{BUCKET}/flaky", moto_s3.url, tmp_path / "verify.log")
    assert checked.returncode == 0, checked.stdout + checked.stderr[-3000:]


@pytest.fixture
def s3_store(aws_env, monkeypatch, moto_s3):
    """curate's own S3 I/O in this process pointed at moto, with dummy credentials."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv(s3_source.S3_ENDPOINT_ENV, moto_s3.url)
    stores._s3.cache_clear()
    put_files(moto_s3.url, BUCKET, {})
    yield moto_s3.url
    stores._s3.cache_clear()


def test_in_place_commit_on_an_object_store(s3_store, tmp_path):
    """Where nothing renames: a stage that fails leaves its output marked incomplete,
    which readers refuse with one line and the same stage may replace; the re-run leaves
    nothing of the failed attempt, and its report is written last."""
    out = f"s3://{BUCKET}/inplace/dedup"
    with pytest.raises(RuntimeError, match="killed"):
        with stage_io.staged_output(out, "dedup") as (where, _finish):
            assert where == out
            stage_io.write_bytes(stage_io.join(where, "part-old.parquet"), b"PAR1")
            raise RuntimeError("killed")
    assert keys(s3_store, "inplace/") == ["inplace/dedup/__curate__/writing.json",
                                          "inplace/dedup/part-old.parquet"]
    with pytest.raises(stage_io.UserError, match=r"is incomplete: dedup did not finish"):
        stage_io.require_stage_output(out)
    with pytest.raises(stage_io.UserError, match="already holds"):
        stage_io.check_output(out, "match")
    stage_io.check_output(out, "dedup")   # its own: may be redone
    with stage_io.staged_output(out, "dedup") as (where, finish):
        table = pd.DataFrame({"x": [1, 2]})
        stage_io.write_parquet(stage_io.join(where, "part-new.parquet"),
                               __import__("pyarrow").Table.from_pandas(table))
        finish(StageReport("dedup", out, 2, 2))
    assert [k.rsplit("/", 1)[1] for k in keys(s3_store, "inplace/")
            if not k.endswith("/")] == ["stage.json", "part-new.parquet"]
    stage_io.require_stage_output(out)
    assert stage_io.read_report(out).rows_out == 2
    assert stage_io.read_report(out).details["cleaned_up"] == [f"{out}/part-old.parquet"]


def test_an_incomplete_input_is_refused_in_one_line(s3_store, spark, capsys):
    client = direct_client(s3_store)
    client.put_object(Bucket=BUCKET, Key="half/pairs/part-00000-0000.parquet",
                      Body=Path(__file__).read_bytes()[:0] + b"PAR1")
    client.put_object(Bucket=BUCKET, Key=f"half/pairs/{WRITING_FILE}",
                      Body=b'{"stage": "extract"}')
    code = run_cli("dedup", f"s3a://{BUCKET}/half/pairs", "-o", f"s3a://{BUCKET}/half/dedup")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [f"curate: error: s3a://{BUCKET}/half/pairs is incomplete: extract did not "
                   "finish writing it (run extract again)"]


def test_uris_map_to_one_store_and_plain_paths_stay_local(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert stores.canonical("s3a://b/k/") == stores.canonical("s3://b/k") == "s3://b/k"
    assert stores.spark_uri("work/pairs") == f"file://{tmp_path}/work/pairs"
    assert stores.spark_uri("s3a://b/k") == "s3a://b/k"
    assert stores.filesystem("file:///x/y")[1] == "/x/y"
    assert stores.filesystem("s3a://b/k/")[1] == "b/k"
    with pytest.raises(stage_io.UserError, match="not ftp://"):
        stores.filesystem("ftp://host/x")


def test_a_plain_path_is_the_drivers_whatever_the_default_file_system(spark, tmp_path,
                                                                       data_dir):
    """A cluster's fs.defaultFS (HDFS, GCS) must not take Spark's Parquet of a plain -o:
    with a default file system that cannot even be reached, a local run still works."""
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    before = hadoop.get("fs.defaultFS")
    hadoop.set("fs.defaultFS", "hdfs://127.0.0.1:1")
    try:
        warc = str(next((data_dir / "commoncrawl").glob("*.warc.gz")))
        assert run_cli("extract", warc, "-o", str(tmp_path / "pairs")) == 0
        assert run_cli("dedup", str(tmp_path / "pairs"), "-o", str(tmp_path / "dedup")) == 0
    finally:
        hadoop.set("fs.defaultFS", before)
    assert stage_io.read_report(str(tmp_path / "dedup")).rows_out == len(
        pd.read_parquet(tmp_path / "dedup")) > 0


def test_a_failed_task_attempt_leaves_nothing_on_the_store(s3_store):
    """Task files on S3: partition 3's attempt 0 dies after writing a file, attempt 1
    succeeds; after the commit the output's keys are exactly the succeeded attempts' files
    (the moves are server-side copies, done in parallel)."""
    from curate.stages import task_files
    from curate.stages.task_files import TaskFiles
    from task_files_helpers import curated_batch, texts_of  # noqa: F401

    out = f"s3://{BUCKET}/attempts/curated"
    files = TaskFiles(out, schemas.CURATED, max_rows_per_file=25, codec="zstd")
    files.write(iter([curated_batch(100, 10)]), partition=3, attempt=0)
    third = files.write(iter([curated_batch(100, 31)]), 3, 1)
    zeroth = files.write(iter([curated_batch(0, 25)]), 0, 0)
    committed = task_files.commit(out, [(3, third), (0, zeroth)], schemas.CURATED)
    names = ["part-00000-0000.parquet", "part-00003-0000.parquet", "part-00003-0001.parquet"]
    assert [name for name, _ in committed] == names
    assert [k.removeprefix("attempts/curated/") for k in keys(s3_store, "attempts/")
            if not k.endswith("/")] == names
    rows = read_rows(s3_store, "attempts/curated/")
    assert sorted(rows.text) == sorted([f"text {i}" for i in range(0, 25)] +
                                       [f"text {i}" for i in range(100, 131)])


@pytest.fixture
def s3_behind_front(aws_env, monkeypatch, moto_s3, s3_front):
    """curate's own S3 I/O in this process pointed at the scripted front."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    # (set_s3_endpoint's value, which an earlier run in this process may have set, comes
    # before the environment's)
    before = s3_source._S3_ENDPOINT[0]
    s3_source.set_s3_endpoint(s3_front.url)
    stores._s3.cache_clear()
    put_files(moto_s3.url, BUCKET, {})
    s3_front.reset()
    yield s3_front
    s3_front.reset()
    s3_source.set_s3_endpoint(before)
    stores._s3.cache_clear()


@pytest.mark.parametrize("times", [1, 2, 3])
def test_a_throttled_read_of_a_small_side_file_is_retried(s3_behind_front, times):
    """A 503 SlowDown answering the read of an object shorter than the error's XML (a
    lock, a report): the AWS SDK under pyarrow cannot write that answer into the read's
    buffer and calls it a non-retryable INTERNAL_FAILURE ("Failed to flush response
    stream"), so its own retries never run; curate's reads try again."""
    uri = f"s3://{BUCKET}/side/lock.json"
    stage_io.write_text(uri, '{"pid": 1}')
    s3_behind_front.slowdown(f"/{BUCKET}/side/lock.json", times, "GET")
    start = len(s3_behind_front._seen)
    assert stage_io.read_json(uri) == {"pid": 1}
    gets = [seen.headers.get("range") for seen in s3_behind_front._seen[start:]
            if seen.method == "GET"]
    assert gets == ["bytes=0-9"] * (times + 1)   # a 10-byte buffer each time: throttled, then read
