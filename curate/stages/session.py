"""The one way curate gets a SparkSession: under spark-submit it takes what the cluster
provides; otherwise it starts local mode bound to loopback with conf/spark-local.conf."""
from __future__ import annotations

import os
import sys

from curate.options import local_spark_conf, log4j_properties_path


def under_spark_submit() -> bool:
    # spark-submit's PythonRunner hands the driver an already running JVM gateway.
    return "PYSPARK_GATEWAY_PORT" in os.environ


def get_spark(master: str | None = None, conf: dict[str, str] | None = None,
              app_name: str = "curate"):
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if master is None and not under_spark_submit():
        master = "local[*]"
    if master is not None:
        builder = builder.master(master)
    if master is not None and master.startswith("local"):
        _prepare_local_environment()
        for key, value in local_spark_conf().items():
            builder = builder.config(key, value)
        builder = builder.config("spark.pyspark.python", sys.executable)
        builder = builder.config("spark.driver.extraJavaOptions",
                                 f"-Dlog4j.configurationFile=file:{log4j_properties_path()}")
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    # Timestamps as INT64 microseconds in UTC: read back as timestamps by pyarrow and pandas
    # (Spark's default INT96 loses the time zone outside Spark).
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    return spark


def _prepare_local_environment() -> None:
    # Without these Spark binds to the machine's other interface, and Python workers may
    # start another interpreter than the driver's, so imports fail inside tasks only.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
