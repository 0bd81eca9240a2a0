"""The version check on the test session: local mode passes; the executors' probe (run
here on purpose, though local mode skips it) reports this Python and pyspark, and reads
PySpark's own refusal when a worker's Python is not the driver's."""
from __future__ import annotations

import socket
import sys

import pyspark
import pytest

from curate.errors import UserError
from curate.stages import session


def test_the_local_session_passes(spark):
    session.check_versions(spark)
    session.check_versions(spark, probe=True)


def test_the_probe_reads_the_workers_versions(spark):
    assert session.probe_workers(spark) == [
        session.WorkerVersions(socket.gethostname(), "%d.%d" % sys.version_info[:2],
                               pyspark.__version__)]


def test_a_worker_of_another_python_is_read_from_pysparks_refusal(spark, monkeypatch):
    # The worker compares its Python with the version the driver sends with each task:
    # a driver claiming 3.99 is a worker of another Python, as on a misconfigured cluster.
    monkeypatch.setattr(spark.sparkContext, "pythonVer", "3.99")
    here = "%d.%d" % sys.version_info[:2]
    assert session.probe_workers(spark) == [session.WorkerVersions("an executor", here)]


def test_a_made_up_spark_series_is_one_line(spark, monkeypatch):
    from importlib.metadata import version

    monkeypatch.setattr(session, "SPARK_SERIES", ((4, 2), (4, 3)))
    monkeypatch.setattr(session, "SPARK_REQUIREMENT", "pyspark>=4.2.0,<4.3")
    monkeypatch.setattr(session, "_CHECKED", set())
    with pytest.raises(UserError) as refused:
        session.check_versions(spark)
    assert str(refused.value) == (f"the driver runs Spark {spark.version}; curate "
                                  f"{version('curate')} is built for Spark 4.2 "
                                  f"(pyspark>=4.2.0,<4.3)")
