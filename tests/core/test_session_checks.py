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
