"""What get_spark checks before it takes the session spark-submit provides: the master
and the settings that apply only when the driver's JVM starts (no JVM here)."""
from __future__ import annotations

import pytest

from curate.errors import UserError
from curate.stages import session

SUBMITTED = {"spark.master": "spark://head:7077", "spark.driver.memory": "2g",
             "spark.submit.deployMode": "client", "spark.app.name": "run.py"}


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(session, "_WARNED", set())


def test_another_master_is_refused_with_one_line():
    with pytest.raises(UserError) as refused:
        session._submit_checked("local[2]", {}, SUBMITTED)
    message = str(refused.value)
    assert "\n" not in message
    assert "local[2]" in message and "spark://head:7077" in message
    assert "spark-submit --master local[2]" in message


def test_a_master_given_as_a_setting_is_refused_too():
    with pytest.raises(UserError, match="spark.master local"):
        session._submit_checked(None, {"spark.master": "local[*]"}, SUBMITTED)


@pytest.mark.parametrize("given, submitted", [
    ("spark://head:7077", "spark://head:7077"), (" yarn", "yarn"), ("local", "local[1]"),
    ("local[*]", None)])   # spark-submit's own default master is local[*]
def test_the_same_master_is_accepted(given, submitted):
    conf = {} if submitted is None else {"spark.master": submitted}
    assert session._submit_checked(given, {"spark.sql.shuffle.partitions": "7"}, conf) == \
        {"spark.sql.shuffle.partitions": "7"}


def test_no_master_given_takes_spark_submits(capsys):
    assert session._submit_checked(None, {}, SUBMITTED) == {}
    assert capsys.readouterr().err == ""


def test_driver_settings_warn_once_and_are_left_out(capsys):
    conf = {"spark.driver.memory": "3g", "spark.jars.packages": "org.apache.hadoop:hadoop-aws:3.4.2",
            "spark.driver.extraJavaOptions": "-Dx=1", "spark.driver.resource.gpu.amount": "1",
            "spark.sql.shuffle.partitions": "64", "spark.hadoop.fs.s3a.endpoint": "http://s3",
            "spark.executor.memory": "8g", "spark.executorEnv.X": "1"}
    kept = session._submit_checked(None, conf, SUBMITTED)
    assert kept == {"spark.sql.shuffle.partitions": "64",
                    "spark.hadoop.fs.s3a.endpoint": "http://s3",
                    "spark.executor.memory": "8g", "spark.executorEnv.X": "1"}
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4 and all(line.startswith("curate: warning: ") for line in lines)
    memory, = [line for line in lines if "spark.driver.memory" in line]
    assert "spark.driver.memory=3g is ignored" in memory and "(it has 2g)" in memory
    assert "spark-submit --conf spark.driver.memory=3g" in memory
    assert any("spark.jars.packages=" in line and "(it has no value)" in line for line in lines)
    session._submit_checked(None, conf, SUBMITTED)   # the same again: no second warning
    assert capsys.readouterr().err == ""


def test_a_driver_setting_spark_submit_already_has_is_silent(capsys):
    assert session._submit_checked(None, {"spark.driver.memory": "2g"}, SUBMITTED) == {}
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("key", sorted(session.DRIVER_START_SETTINGS))
def test_every_driver_start_setting_is_one(key):
    assert session.applies_too_late(key)


@pytest.mark.parametrize("key", ["spark.driver.maxResultSize", "spark.driver.host",
                                 "spark.executor.memory", "spark.sql.shuffle.partitions",
                                 "spark.hadoop.fs.s3a.access.key", "spark.jarsx",
                                 "spark.executor.pyspark.memory", "spark.ui.enabled"])
def test_settings_the_context_still_reads_are_not(key):
    assert not session.applies_too_late(key)


# --- versions -------------------------------------------------------------------------

def test_the_pin_is_pyprojects():
    import re
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    pins = [d for d in project["project"]["dependencies"] if d.startswith("pyspark")]
    assert pins == [session.SPARK_REQUIREMENT]
    parts = re.fullmatch(r"pyspark>=(\d+)\.(\d+)\.0,<(\d+)\.(\d+)", pins[0]).groups()
    low_major, low_minor, high_major, high_minor = map(int, parts)
    assert session.SPARK_SERIES == ((low_major, low_minor), (high_major, high_minor))


@pytest.mark.parametrize("version, supported", [
    ("4.1.0", True), ("4.1.4", True), ("4.1.9-SNAPSHOT", True), ("4.1.0.dev1", True),
    ("4.2.0", False), ("4.0.1", False), ("3.5.4", False), ("5.1.0", False), ("41.0", False),
    ("", False), ("unknown", False)])
def test_spark_supported(version, supported):
    assert session.spark_supported(version) is supported


def test_nothing_to_say_when_every_version_fits():
    workers = [session.WorkerVersions("a", "3.11", "4.1.4"),
               session.WorkerVersions("b", "3.11", "4.1.2"),
               session.WorkerVersions("an executor", "3.11")]
    assert session.version_problems("4.1.4", "4.1.4", "3.11", workers) == []


def test_a_driver_of_another_spark():
    from importlib.metadata import version

    assert session.version_problems("3.5.1", "4.1.4", "3.11") == [
        f"the driver runs Spark 3.5.1; curate {version('curate')} is built for Spark 4.1 "
        f"(pyspark>=4.1.0,<4.2)"]
    assert session.version_problems("4.1.4", "4.0.0", "3.11") == [
        f"the driver imports pyspark 4.0.0 (its JVM runs Spark 4.1.4); curate "
        f"{version('curate')} is built for Spark 4.1 (pyspark>=4.1.0,<4.2)"]


def test_executors_of_another_python_or_spark_are_named_by_host():
    from importlib.metadata import version

    workers = [session.WorkerVersions(f"node{i}", "3.10", "4.1.4") for i in range(5)] + \
        [session.WorkerVersions("node9", "3.11", "4.2.0"),
         session.WorkerVersions("node0", "3.10", "4.1.4")]   # the same executor twice
    assert session.version_problems("4.1.4", "4.1.4", "3.11", workers) == [
        "the Python workers on node0, node1, node2 and 2 more run Python 3.10, the driver "
        "Python 3.11: PySpark needs the same major.minor version on both (set PYSPARK_PYTHON "
        "or spark.pyspark.python on the cluster to the driver's Python, with curate "
        "installed)",
        f"the executors on node9 run Spark 4.2.0; curate {version('curate')} is built for "
        f"Spark 4.1 (pyspark>=4.1.0,<4.2)"]


def test_a_patch_release_of_python_is_the_same_python():
    assert session.version_problems("4.1.4", "4.1.4", "3.11",
                                    [session.WorkerVersions("a", "3.11.9", "4.1.4")]) == []


def test_pysparks_own_mismatch_message_is_read():
    from pyspark.errors import PySparkRuntimeError

    error = PySparkRuntimeError(errorClass="PYTHON_VERSION_MISMATCH",
                                messageParameters={"worker_version": "3.10",
                                                   "driver_version": "3.11"})
    found = session._PYTHON_MISMATCH.search(f"py4j...\n{error}\n\tat org.apache...")
    assert found.groups() == ("3.10", "3.11")


@pytest.mark.parametrize("text, reason", [
    ('Lost task 0.3: java.io.IOException: Cannot run program "/opt/py/bin/python3": error=2, '
     'No such file or directory\n\tat java.base/...',
     'Cannot run program "/opt/py/bin/python3": error=2, No such file or directory'),
    ("org.apache.spark.SparkException: EOFException occurred while reading the port number "
     "from pyspark.daemon's stdout and terminated with code: 127..\n\tat org...",
     "EOFException occurred while reading the port number from pyspark.daemon's stdout and "
     "terminated with code: 127..")])
def test_sparks_messages_of_a_python_that_did_not_start_are_read(text, reason):
    assert session._NO_DAEMON.search(text).group(1) == reason
