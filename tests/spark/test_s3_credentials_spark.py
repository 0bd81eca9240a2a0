"""The driver's AWS credentials reach the Spark tasks. The test session's JVM, and so its
Python workers, started without any AWS credentials, as executors on other machines do;
the driver (this process) has some in its environment (the `s3` fixture). A task that
reads a private S3 object, or writes to S3 and reads back, succeeds with the credentials
the driver carried to it; without them it would be an anonymous request and "access
denied" (what every private file was before they were carried)."""
from __future__ import annotations

import os

import pandas as pd
import pyarrow as pa
import pytest

from curate import api, schemas
from curate.core.extract.records import FileReport, iter_file_pairs
from curate.errors import RunFailed
from curate.options import ExtractOptions
from curate.sources import s3 as s3_source
from curate.stages import io
from curate.stages.task_files import TaskFiles

KEY = "data/commoncrawl/CC-MAIN-2024-22-whirlwind.warc.gz"   # private (no public ACL)


@pytest.fixture
def workers_without_credentials(spark):
    """The premise: the Python workers have no AWS credentials of their own."""
    def _worker_aws(_):   # (nested: pickled by value, the workers cannot import this file)
        import boto3
        return (sorted(k for k in os.environ if k.startswith("AWS_") and "KEY" in k),
                boto3.session.Session().get_credentials() is None)

    found = spark.sparkContext.parallelize([0], 1).map(_worker_aws).collect()
    assert found == [([], True)], "the test session's workers have AWS credentials"


def extract(spark, s3, tmp_path):
    out = tmp_path / "pairs"
    report = api.extract([s3.url(KEY)], str(out), ExtractOptions(max_failed_fraction=0),
                         spark)
    return report, out


def test_a_task_reads_a_private_object_with_the_drivers_credentials(
        spark, s3, tmp_path, data_dir, workers_without_credentials):
    report, out = extract(spark, s3, tmp_path)
    assert report.details["files_failed"] == 0
    rows = pd.read_parquet(out)
    expected = list(iter_file_pairs(str(data_dir / "commoncrawl" / KEY.rsplit("/", 1)[1]),
                                    FileReport()))
    assert len(rows) == len(expected) > 0
    assert sorted(rows.text) == sorted(r[2] for r in expected)


def test_without_them_the_task_is_anonymous_and_denied(spark, s3, tmp_path, monkeypatch,
                                                       workers_without_credentials):
    # What a task did before the credentials were carried: its own chain, then anonymous.
    monkeypatch.setattr(s3_source, "driver_credentials", lambda: (None, None))
    with pytest.raises(RunFailed) as failed:
        extract(spark, s3, tmp_path)
    assert f"access denied: {s3.url(KEY)}" in str(failed.value)


def test_machine_credentials_of_the_driver_are_not_an_anonymous_fallback(
        spark, s3, tmp_path, monkeypatch, workers_without_credentials):
    # The driver's credentials came from its instance role: the executors must have their
    # own, and a task that has none says so instead of asking anonymously.
    monkeypatch.setattr(s3_source, "driver_credentials", lambda: (None, "iam-role"))
    with pytest.raises(RunFailed) as failed:
        extract(spark, s3, tmp_path)
    assert "no AWS credentials on " in str(failed.value)
    assert "the driver's came from its iam-role" in str(failed.value)


def test_files_written_by_tasks_on_s3_use_the_drivers_credentials(
        spark, s3, workers_without_credentials):
    def _write_and_read_back(files: TaskFiles):
        def task(batches):
            written = files.write(batches, 0, 0)
            table = io.read_parquet([io.join(files.directory, name) for name, _ in written])
            yield pa.RecordBatch.from_pydict({"rows": [table.num_rows]})
        return task

    schema = pa.schema([pa.field("id", pa.int64())])
    files = TaskFiles(f"s3://{s3.bucket}/task-files", schema, None)
    assert files.s3.credentials is not None   # an output on S3: resolved on the driver
    rows = spark.range(0, 5, 1, 1).mapInArrow(_write_and_read_back(files), "rows long")
    assert rows.collect()[0].rows == 5


def test_files_written_locally_resolve_no_credentials(tmp_path, s3):
    files = TaskFiles(str(tmp_path), schemas.PAIRS, None)
    assert files.s3.credentials is None and files.s3.driver_method is None
    assert files.s3.endpoint == s3.endpoint
