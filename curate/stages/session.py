"""The one way curate gets a SparkSession: under spark-submit it takes what the cluster
provides; otherwise it starts local mode bound to loopback with conf/spark-local.conf."""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

from curate.errors import UserError
from curate.options import local_spark_conf, log4j_properties_path
from curate.sources.redact import redact_text
from curate.stages.io import log_path, log_size, read_log, stderr_to


class SparkDidNotStart(UserError):
    """A bad master, a bad Spark setting, no Java: one line naming the cause and the log."""


def under_spark_submit() -> bool:
    # spark-submit's PythonRunner hands the driver an already running JVM gateway.
    return "PYSPARK_GATEWAY_PORT" in os.environ


def get_spark(master: str | None = None, conf: dict[str, str] | None = None,
              app_name: str = "curate"):
    from pyspark.sql import SparkSession

    conf = dict(conf or {})
    if under_spark_submit():
        # spark-submit decided the master and started the driver's JVM: a master of our
        # own would leave the cluster unused, and driver settings can no longer apply.
        conf = _submit_checked(master, conf, _submitted_conf())
        master = None
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
    # curate draws its own progress line (stages.progress); Spark's console bar would
    # write over it (pip's PySpark turns the bar on). A --conf may still turn it back on.
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = _start(builder)
    if INTERRUPT_RAISES:
        _interrupt_raises()
    # A session that already ran keeps its Hadoop settings: apply ours to it as well.
    apply_hadoop_settings(spark, conf)
    spark.sparkContext.setLogLevel("WARN")
    check_versions(spark)
    # Timestamps as INT64 microseconds in UTC: read back as timestamps by pyarrow and pandas
    # (Spark's default INT96 loses the time zone outside Spark).
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    return spark


# Settings Spark reads only when the driver's JVM starts or when spark-submit prepares it
# (the driver's memory, class path, Java options, library path; the jars spark-submit
# resolves and puts on its class path; the deploy mode; the driver's Python): "In client
# mode, this config must not be set through the SparkConf directly in your application,
# because the driver JVM has already started at that point" (Spark's configuration page).
# Under spark-submit they are given too late to apply; in cluster mode the driver's
# container is sized and started with them before any of our code runs.
DRIVER_START_SETTINGS = frozenset({
    "spark.driver.memory", "spark.driver.memoryOverhead", "spark.driver.memoryOverheadFactor",
    "spark.driver.minMemoryOverhead", "spark.driver.cores", "spark.driver.extraJavaOptions",
    "spark.driver.defaultJavaOptions", "spark.driver.extraClassPath",
    "spark.driver.extraLibraryPath", "spark.driver.userClassPathFirst",
    "spark.driver.supervise", "spark.driver.resourcesFile", "spark.jars",
    "spark.jars.packages", "spark.jars.repositories", "spark.jars.excludes",
    "spark.jars.ivy", "spark.jars.ivySettings", "spark.submit.deployMode",
    "spark.pyspark.driver.python"})
_DRIVER_START_PREFIXES = ("spark.driver.resource.",)


def applies_too_late(key: str) -> bool:
    """Whether a setting is read only when the driver's JVM starts (see
    DRIVER_START_SETTINGS)."""
    return key in DRIVER_START_SETTINGS or key.startswith(_DRIVER_START_PREFIXES)


def _same_master(a: str, b: str) -> bool:
    normal = lambda m: {"local": "local[1]"}.get(m.strip(), m.strip())
    return normal(a) == normal(b)


_WARNED: set[tuple[str, str]] = set()   # (key, value) warned about in this process


def _submit_checked(master: str | None, conf: dict[str, str],
                    submitted: dict[str, str]) -> dict[str, str]:
    """Under spark-submit: a master other than the one spark-submit gave (`submitted`: its
    settings) is a UserError; a setting that applies only when the driver's JVM starts and
    differs from spark-submit's value is one warning line on stderr and left out (Spark's
    UI then shows what the driver really has). Returns the settings to apply."""
    given = [("master", master)] if master else []
    if conf.get("spark.master"):
        given.append(("spark.master", conf["spark.master"]))
    submitted_master = submitted.get("spark.master", "local[*]")
    for name, value in given:
        if not _same_master(value, submitted_master):
            raise UserError(
                f"{name} {value} differs from spark-submit's master {submitted_master}: "
                f"under spark-submit the master is spark-submit's to choose (spark-submit "
                f"--master {value} ...), or the application would not run where it was "
                f"submitted")
    kept = {}
    for key, value in conf.items():
        if key == "spark.master":
            continue
        if not applies_too_late(key):
            kept[key] = value
        elif submitted.get(key) != value and (key, value) not in _WARNED:
            _WARNED.add((key, value))
            # (redacted: spark.jars.repositories may hold https://user:pass@host/)
            print(redact_text(
                f"curate: warning: {key}={value} is ignored: spark-submit started the "
                f"driver before curate ran (it has "
                f"{submitted[key] if key in submitted else 'no value'}); give it to "
                f"spark-submit instead (spark-submit --conf {key}={value} ...)"),
                file=sys.stderr)
    return kept


def _submitted_conf() -> dict[str, str]:
    """The settings spark-submit started this driver with (the running context's, once
    there is one)."""
    from pyspark import SparkConf, SparkContext

    active = SparkContext._active_spark_context
    if active is not None:
        return dict(active.getConf().getAll())
    SparkContext._ensure_initialized()   # connects to spark-submit's JVM; no context yet
    return dict(SparkConf().getAll())


# The Spark curate is built and tested for: pyproject's pin (tests/core keeps them equal),
# and the major.minor series it allows, from the first up to the second (not included).
SPARK_REQUIREMENT = "pyspark>=4.1.0,<4.2"
SPARK_SERIES = ((4, 1), (4, 2))

_CHECKED: set[tuple[str, int]] = set()   # (application id, start time) of checked contexts


@dataclass(frozen=True)
class WorkerVersions:
    """What one executor's Python worker runs: its host, Python major.minor, and pyspark
    (the executor's Spark: its workers import the pyspark of its Spark installation)."""
    host: str
    python: str
    spark: str | None = None


def major_minor(version: str) -> tuple[int, int] | None:
    match = re.match(r"\s*(\d+)\.(\d+)", version)
    return (int(match.group(1)), int(match.group(2))) if match else None


def spark_supported(version: str) -> bool:
    found = major_minor(version)
    return found is not None and SPARK_SERIES[0] <= found < SPARK_SERIES[1]


def version_problems(driver_spark: str, driver_pyspark: str, driver_python: str,
                     workers: list[WorkerVersions] = ()) -> list[str]:
    """What differs from what curate is built for: the driver's Spark (its JVM's, and the
    pyspark it imports) outside SPARK_SERIES; an executor's Spark outside it; an executor's
    Python major.minor other than the driver's (PySpark refuses to run a task then). One
    sentence each."""
    from importlib.metadata import version

    built = f"curate {version('curate')} is built for Spark {_series()} ({SPARK_REQUIREMENT})"
    problems = []
    if not spark_supported(driver_spark):
        problems.append(f"the driver runs Spark {driver_spark}; {built}")
    elif not spark_supported(driver_pyspark):
        problems.append(f"the driver imports pyspark {driver_pyspark} (its JVM runs Spark "
                        f"{driver_spark}); {built}")
    by_versions: dict[tuple[str, str | None], list[str]] = {}
    for worker in workers:
        hosts = by_versions.setdefault((worker.python, worker.spark), [])
        if worker.host not in hosts:
            hosts.append(worker.host)
    for (python, spark), hosts in sorted(by_versions.items(), key=str):
        where = _hosts(hosts)
        if spark is not None and not spark_supported(spark):
            problems.append(f"the executors on {where} run Spark {spark}; {built}")
        if major_minor(python) != major_minor(driver_python):
            problems.append(
                f"the Python workers on {where} run Python {python}, the driver Python "
                f"{driver_python}: PySpark needs the same major.minor version on both (set "
                f"PYSPARK_PYTHON or spark.pyspark.python on the cluster to the driver's "
                f"Python, with curate installed)")
    return problems


def _series() -> str:
    (major, minor), (end_major, end_minor) = SPARK_SERIES
    if (end_major, end_minor) == (major, minor + 1):
        return f"{major}.{minor}"
    return f"{major}.{minor} up to {end_major}.{end_minor}"


def _hosts(hosts: list[str], shown: int = 3) -> str:
    hosts = sorted(hosts)
    more = f" and {len(hosts) - shown} more" if len(hosts) > shown else ""
    return ", ".join(hosts[:shown]) + more


def check_versions(spark, probe: bool | None = None) -> None:
    """A UserError of one line when the driver's or an executor's Spark or Python differs
    from what curate is built for, now rather than later inside a task. The executors
    are asked by one small job (at most one task per registered executor), only where they
    are not the driver's own process (`probe` None: every master but local and
    local[...]), once per context."""
    import pyspark

    context = spark.sparkContext
    key = (context.applicationId, context.startTime)
    if key in _CHECKED:
        return
    if probe is None:   # local-cluster[...] starts executors of their own: probed too
        probe = not re.fullmatch(r"local(\[.*\])?", context.master.strip())
    workers = probe_workers(spark) if probe else []
    problems = version_problems(spark.version, pyspark.__version__,
                                "%d.%d" % sys.version_info[:2], workers)
    if problems:
        raise UserError("; ".join(problems))
    _CHECKED.add(key)


# PySpark's message when a worker's Python is not the driver's (pyspark.worker_util).
# Spark's errors when an executor's Python cannot start: a missing interpreter, or one
# that exits before PySpark's daemon is up.
_NO_DAEMON = re.compile(r"(Cannot run program \"[^\"\n]*\": [^\n]*|EOFException occurred "
                        r"while reading the port number from pyspark\.daemon's stdout[^\n]*)")
_PYTHON_MISMATCH = re.compile(r"Python in worker has different version:? \(?([\d., ]+?)\)? "
                              r"than that in driver:? ([\d.]+)")


def probe_workers(spark) -> list[WorkerVersions]:
    """The versions the executors' Python workers run: one tiny job. A worker whose Python
    differs from the driver's fails the task before running it, with PySpark's own message,
    which is read here. The task imports nothing but what a worker has loaded (its
    function travels by value), so it costs a worker's start and no more."""
    context = spark.sparkContext
    executors = context._jsc.sc().getExecutorMemoryStatus().size() - 1   # minus the driver
    tasks = max(1, executors)

    def versions(_index):   # runs in a Python worker; nested: pickled by value
        import socket
        import sys

        import pyspark
        return socket.gethostname(), "%d.%d" % sys.version_info[:2], pyspark.__version__

    context.setJobDescription("curate: Spark and Python versions of the executors")
    try:
        found = context.parallelize(range(tasks), tasks).map(versions).collect()
    except Exception as error:   # py4j's error of the failed job
        text = str(error)
        mismatch = _PYTHON_MISMATCH.search(text)
        if mismatch is None:
            daemon = _NO_DAEMON.search(text)
            if daemon is None:
                raise
            raise UserError(f"the executors' Python workers did not start "
                            f"({daemon.group(1).rstrip('.')}): check the Python they run "
                            f"(PYSPARK_PYTHON, spark.pyspark.python) on the cluster") from None
        python = ".".join(p.strip() for p in mismatch.group(1).split(",") if p.strip())
        return [WorkerVersions("an executor", python)]
    finally:
        context.setLocalProperty("spark.job.description", None)
    return sorted({WorkerVersions(*row) for row in found},
                  key=lambda w: (w.host, w.python, w.spark or ""))


# Set by the CLI: Ctrl-C raises KeyboardInterrupt in the driver, as Python does by default.
# PySpark's own handler cancels the jobs by calling the JVM from inside the signal handler,
# while the main thread waits on that same connection: py4j fails ("reentrant call"),
# prints tracebacks and the command ends as a Spark failure instead of an interruption
# (the JVM has the Ctrl-C too and stops its jobs itself).
INTERRUPT_RAISES = False


def _interrupt_raises() -> None:
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    _server_errors_to_log()


def _server_errors_to_log() -> None:
    """PySpark's accumulator server prints a traceback on stderr for each connection that
    breaks (socketserver's default), as when the JVM dies: the terminal gets curate's one
    line, the log the traceback (the CLI sends logging there)."""
    import logging

    from pyspark import accumulators

    def handle_error(self, request, client_address):
        logging.getLogger("pyspark.accumulators").warning(
            "a connection from the JVM (%s) broke", client_address, exc_info=True)

    for name in ("AccumulatorTCPServer", "AccumulatorUnixServer"):   # (pyspark 4.1's)
        if hasattr(accumulators, name):
            getattr(accumulators, name).handle_error = handle_error


def s3_endpoint_settings(endpoint: str) -> dict[str, str]:
    """The Spark settings that use this S3-compatible endpoint for s3:// and s3a://: on a
    cluster's executors (spark.executorEnv, for curate's own reads and writes in tasks)
    and in Spark's S3A connector (with use_s3_endpoint_here for the driver's process)."""
    from urllib.parse import urlsplit

    from curate.sources.s3 import S3_ENDPOINT_ENV

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return {f"spark.executorEnv.{S3_ENDPOINT_ENV}": endpoint,
            "spark.hadoop.fs.s3a.endpoint": endpoint,
            "spark.hadoop.fs.s3a.endpoint.region": region,
            # S3-compatible stores (MinIO, a loopback server) answer paths, not bucket hosts
            "spark.hadoop.fs.s3a.path.style.access": "true",
            "spark.hadoop.fs.s3a.connection.ssl.enabled": str(
                urlsplit(endpoint).scheme == "https").lower()}


def apply_hadoop_settings(spark, conf: dict[str, str]) -> None:
    """The `spark.hadoop.*` settings of `conf` in the running session's Hadoop
    configuration (read when a file system of a bucket or host is first used)."""
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in conf.items():
        if key.startswith("spark.hadoop."):
            hadoop.set(key[len("spark.hadoop."):], value)


def _start(builder):
    """builder.getOrCreate(); a JVM started here writes its output to log_path() (it
    inherits the file as its stderr), and a start that fails is one SparkDidNotStart line
    with the cause found in that log."""
    from pyspark import SparkContext

    if under_spark_submit() or SparkContext._active_spark_context is not None:
        return builder.getOrCreate()
    log = log_path()
    start = log_size(log)
    try:
        with stderr_to(log):
            return builder.getOrCreate()
    except Exception as error:   # py4j / PySpark errors of a JVM that did not come up
        raise SparkDidNotStart(f"Spark did not start: {_cause(log, start, error)} (its log: "
                               f"{log})") from None


_EXCEPTION = re.compile(r".*Exception: (.+)$")          # the last "...Exception: " of a line
_SHELL = re.compile(r"^\S*spark-class: line \d+: ")      # the launcher script's prefix


def _cause(log: str, start: int, error: Exception) -> str:
    """The reason in what the failed start wrote to the log: a JVM exception's message,
    else its first line (the launcher's or the JVM's own complaint), else the Python error.
    A missing Java says how to get one."""
    lines = [line.strip() for line in read_log(log, start).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("WARNING:", "Using Spark's"))]
    reason = next((m.group(1) for m in map(_EXCEPTION.match, lines) if m), None)
    reason = (reason or (_SHELL.sub("", lines[0]) if lines else f"{type(error).__name__}: "
                         f"{error}")).strip().rstrip(".")
    if "java" in reason.lower() and ("no such file" in reason.lower()
                                     or "not found" in reason.lower()):
        reason += "; Spark needs Java 17 or newer (scripts/setup.sh says how to get it)"
    return reason


def _prepare_local_environment() -> None:
    # Without these Spark binds to the machine's other interface, and Python workers may
    # start another interpreter than the driver's, so imports fail inside tasks only.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
