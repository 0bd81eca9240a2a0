"""The cluster profiles, conf/spark-*.properties, say what they mean: every key is one that
the installed Spark 4.1 (or its Hadoop) defines, with a comment above it; the connector jars
they name are the versions of Spark's own jars; and the settings that shape curate's output
are the ones curate itself uses locally. Each check returns the problems it found, and each
is also run on a broken profile to show that it finds them."""
from __future__ import annotations

import functools
import re
import struct
import zipfile
from pathlib import Path

import pyspark
import pytest

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
JARS = Path(pyspark.__file__).parent / "jars"
PROFILES = sorted(CONF.glob("spark-*.properties"))
MANAGERS = ("standalone", "emr", "dataproc", "kubernetes")
# Managers whose containers are sized by executor memory + memoryOverhead (YARN, Kubernetes).
CONTAINERS = ("emr", "dataproc", "kubernetes")
# What one Python worker may use: interpreter, numpy, pandas, pyarrow and the worldwide
# metadata (954 MiB at peak, bench/worker_memory.py --languages all); the JVM's own native
# memory beside them.
PYTHON_WORKER_MIB = 1536
JVM_NATIVE_MIB = 1024
# Keys Spark passes through under a prefix of its own (the rest is a name of the user's).
PREFIX_FAMILIES = ("spark.executorEnv.", "spark.kubernetes.driverEnv.",
                   "spark.kubernetes.driver.secretKeyRef.",
                   "spark.kubernetes.executor.secretKeyRef.")
# Spark's jars that define configuration keys, in the order they are searched.
KEY_JARS = ("spark-core", "spark-catalyst", "spark-sql-api", "spark-kubernetes", "spark-yarn",
            "spark-launcher", "spark-common-utils", "spark-sql")


# --------------------------------------------------------------------------- parsing

def parse(path: Path) -> list[tuple[int, str, str]]:
    """(line number, key, value) of a Java properties file: `key value`, `key=value` or
    `key: value`, comments from # or !, a backslash at the end continues the line."""
    entries = []
    lines = path.read_text("utf-8").splitlines()
    i = 0
    while i < len(lines):
        start, line = i + 1, lines[i].lstrip()
        i += 1
        if not line or line[0] in "#!":
            continue
        while _continues(line) and i < len(lines):
            line = line[:-1] + lines[i].lstrip()
            i += 1
        match = re.match(r"((?:\\.|[^\s=:\\])+)\s*[=:\s]\s*(.*)$", line)
        key, value = (match.group(1), match.group(2)) if match else (line, "")
        entries.append((start, key, value.strip()))
    return entries


def _continues(line: str) -> bool:
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def settings(path: Path) -> dict[str, str]:
    return {key: value for _, key, value in parse(path)}


def packages(values: dict[str, str]) -> dict[str, str]:
    """group:artifact -> version of spark.jars.packages."""
    found = {}
    for coordinate in filter(None, values.get("spark.jars.packages", "").split(",")):
        group, artifact, version = coordinate.strip().split(":")
        found[f"{group}:{artifact}"] = version
    return found


def excluded(values: dict[str, str]) -> set[str]:
    return {e.strip() for e in values.get("spark.jars.excludes", "").split(",") if e.strip()}


def mebibytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmgt]?)b?", size.strip().lower()).groups()
    return int(number) * {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 ** 2, "": 1}[unit]


# ------------------------------------------------------------ what Spark and Hadoop know

@functools.lru_cache(maxsize=None)
def _classes(name: str) -> bytes:
    [path] = JARS.glob(f"{name}_*.jar")
    with zipfile.ZipFile(path) as jar:
        return b"".join(jar.read(n) for n in jar.namelist() if n.endswith(".class"))


def _constant(text: str) -> bytes:
    """A whole string constant as a class file holds it (CONSTANT_Utf8: length, bytes)."""
    data = text.encode()
    return struct.pack(">H", len(data)) + data


def spark_defines(key: str) -> bool:
    """The key is a whole string constant of one of Spark's jars, or is composed there of a
    prefix constant and a ".suffix" one (Kubernetes' authenticate.driver/executor keys, as
    plain or invokedynamic concatenation), or belongs to a pass-through family."""
    family = next((f for f in PREFIX_FAMILIES if key.startswith(f)), None)
    if family:
        return len(key) > len(family) and any(_constant(family) in _classes(j) or
                                              _constant(family.rstrip(".")) in _classes(j)
                                              for j in KEY_JARS)
    parts = key.split(".")
    for jar in KEY_JARS:
        classes = _classes(jar)
        if _constant(key) in classes:
            return True
        for cut in range(4, len(parts)):
            prefix, suffix = ".".join(parts[:cut]), "." + ".".join(parts[cut:])
            if _constant(prefix) in classes and (_constant(suffix) in classes or
                                                 _constant("\x01" + suffix) in classes):
                return True
    return False


@functools.lru_cache(maxsize=None)
def hadoop_keys() -> frozenset[str]:
    """The keys Hadoop documents in its *-default.xml files, from Spark's Hadoop jar."""
    [path] = JARS.glob("hadoop-client-api-*.jar")
    names = set()
    with zipfile.ZipFile(path) as jar:
        for xml in ("core-default.xml", "mapred-default.xml", "yarn-default.xml"):
            names.update(re.findall(r"<name>\s*([^<\s]+)\s*</name>", jar.read(xml).decode()))
    return frozenset(names)


def hadoop_defines(key: str) -> bool:
    """A Hadoop key (after spark.hadoop.) that Hadoop documents, or a committer factory of a
    scheme (mapreduce.outputcommitter.factory.scheme.SCHEME: Hadoop documents one per
    store and reads the name for any scheme)."""
    if key in hadoop_keys():
        return True
    family = "mapreduce.outputcommitter.factory.scheme."
    return key.startswith(family) and any(k.startswith(family) for k in hadoop_keys())


def spark_hadoop_version() -> str:
    [path] = JARS.glob("hadoop-client-api-*.jar")
    return re.fullmatch(r"hadoop-client-api-(.+)\.jar", path.name).group(1)


def scala_binary_version() -> str:
    [path] = JARS.glob("scala-library-*.jar")
    return ".".join(re.fullmatch(r"scala-library-(.+)\.jar", path.name).group(1).split(".")[:2])


def local_settings() -> dict[str, str]:
    """What curate sets for its own sessions: conf/spark-local.conf, and the settings
    stages/session.py gives every session (config(...) and spark.conf.set(...))."""
    found = settings(CONF / "spark-local.conf")
    source = (ROOT / "curate" / "stages" / "session.py").read_text("utf-8")
    found.update(re.findall(r'(?:\.config|conf\.set)\(\s*"(spark\.[\w.]+)",\s*"([^"]*)"\)',
                            source))
    return found


# ------------------------------------------------------------------------------ checks

def form_problems(path: Path) -> list[str]:
    """Every key starts with spark., appears once, and has a comment line right above it."""
    problems = []
    lines = path.read_text("utf-8").splitlines()
    seen = set()
    for number, key, value in parse(path):
        if not key.startswith("spark."):
            problems.append(f"line {number}: {key} is not a Spark key (spark.*)")
        if key in seen:
            problems.append(f"line {number}: {key} is set twice (the last one wins)")
        seen.add(key)
        if not value:
            problems.append(f"line {number}: {key} has no value")
        above = lines[number - 2].strip() if number >= 2 else ""
        if not above.startswith("#") or above.strip("# ") == "":
            problems.append(f"line {number}: {key} has no comment right above it")
    return problems


def key_problems(path: Path) -> list[str]:
    """Every key is one Spark 4.1 defines, or (spark.hadoop.*) one its Hadoop documents."""
    problems = []
    for number, key, _ in parse(path):
        if key.startswith("spark.hadoop."):
            if not hadoop_defines(key[len("spark.hadoop."):]):
                problems.append(f"line {number}: Hadoop {spark_hadoop_version()} documents "
                                f"no {key[len('spark.hadoop.'):]}")
        elif key.startswith("spark.") and not spark_defines(key):
            problems.append(f"line {number}: Spark {pyspark.__version__} defines no {key}")
    return problems


def package_problems(path: Path) -> list[str]:
    """hadoop-aws at the Hadoop version of Spark's jars, spark-hadoop-cloud at Spark's
    version and Scala version; present wherever the profile uses S3A or the cloud commit
    protocol, which pyspark's jars do not include."""
    values = settings(path)
    found = packages(values)
    problems = []
    hadoop_aws = found.get("org.apache.hadoop:hadoop-aws")
    if hadoop_aws and hadoop_aws != spark_hadoop_version():
        problems.append(f"hadoop-aws {hadoop_aws} is not Spark's Hadoop "
                        f"{spark_hadoop_version()} (hadoop-client-api's version)")
    cloud = [a for a in found if a.startswith("org.apache.spark:spark-hadoop-cloud_")]
    for artifact in cloud:
        scala = artifact.rsplit("_", 1)[1]
        if scala != scala_binary_version():
            problems.append(f"{artifact} is for Scala {scala}, Spark's is "
                            f"{scala_binary_version()}")
        if found[artifact] != pyspark.__version__:
            problems.append(f"{artifact}:{found[artifact]} is not Spark {pyspark.__version__}")
    if any(k.startswith("spark.hadoop.fs.s3a.") for k in values) and not hadoop_aws:
        problems.append("S3A settings without org.apache.hadoop:hadoop-aws in "
                        "spark.jars.packages (pyspark ships no S3A)")
    if cloud and not {"org.apache.hadoop:hadoop-client-runtime",
                      "com.google.cloud.bigdataoss:gcs-connector"} <= excluded(values):
        problems.append("spark-hadoop-cloud without spark.jars.excludes of the connectors "
                        "and Spark jars its POM depends on (hadoop-client-runtime, "
                        "gcs-connector, ...)")
    providers = values.get("spark.hadoop.fs.s3a.aws.credentials.provider", "")
    if "WebIdentityTokenFileCredentialsProvider" in providers:
        problems.append("WebIdentityTokenFileCredentialsProvider throws when S3A builds it "
                        "without AWS_WEB_IDENTITY_TOKEN_FILE, so S3A cannot start on other "
                        "credentials: use the SDK's DefaultCredentialsProvider")
    cloud_classes = ("org.apache.spark.internal.io.cloud.",)
    if any(v.startswith(cloud_classes) for v in values.values()) and not cloud:
        problems.append("org.apache.spark.internal.io.cloud classes without "
                        "spark-hadoop-cloud in spark.jars.packages")
    return problems


# The settings that shape what curate writes, or what it shows, as curate sets them locally.
SAME_AS_LOCAL = ("spark.sql.parquet.compression.codec", "spark.sql.parquet.outputTimestampType",
                 "spark.ui.showConsoleProgress", "spark.sql.session.timeZone",
                 "spark.sql.execution.arrow.pyspark.enabled")


def local_problems(path: Path) -> list[str]:
    values, local = settings(path), local_settings()
    problems = []
    for key in SAME_AS_LOCAL:
        if key not in local:
            problems.append(f"curate sets no {key} locally any more: update SAME_AS_LOCAL")
        elif values.get(key) != local[key]:
            problems.append(f"{key} is {values.get(key)!r}, curate's own is {local[key]!r}")
    return problems


def memory_problems(path: Path, manager: str) -> list[str]:
    """No address-space limit on the Python workers; on YARN and Kubernetes an overhead
    that holds one Python worker per task slot beside the JVM's native memory."""
    values = settings(path)
    problems = []
    if "spark.executor.pyspark.memory" in values:
        problems.append("spark.executor.pyspark.memory is an address-space limit (RLIMIT_AS) "
                        "per Python worker, which pyarrow's allocator reservations exceed")
    if manager in CONTAINERS:
        cores = int(values.get("spark.executor.cores", "1"))
        need = JVM_NATIVE_MIB + cores * PYTHON_WORKER_MIB
        have = mebibytes(values.get("spark.executor.memoryOverhead", "0"))
        if have < need:
            problems.append(f"spark.executor.memoryOverhead is {have} MiB; {cores} Python "
                            f"workers and the JVM need {need} MiB")
    partitions = int(values.get("spark.sql.shuffle.partitions", "0"))
    if partitions < 1000:
        problems.append(f"spark.sql.shuffle.partitions {partitions} is not sized for a "
                        f"crawl's dedup (~128 MB of shuffle per partition)")
    if values.get("spark.speculation") != "true":
        problems.append("speculation is off: extract's long tail of slow files waits")
    return problems


# ------------------------------------------------------------------------------- tests

def test_there_is_one_profile_per_cluster_manager():
    assert sorted(p.stem.removeprefix("spark-") for p in PROFILES) == sorted(MANAGERS)


def test_the_profiles_ship_in_the_package():
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["curate.conf"]
    assert any(PROFILES[0].match(pattern) for pattern in patterns)


# Each profile against each check: every key a commented spark.* key; every key one Spark
# or Hadoop defines; connector packages of the installed Spark; curate's own output
# settings; memory, shuffle partitions and speculation.
CHECKS = {"form": form_problems, "keys": key_problems, "packages": package_problems,
          "output": local_problems,
          "memory": lambda path: memory_problems(path, path.stem.removeprefix("spark-"))}


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.stem)
def test_every_profile_passes_every_check(path, check):
    assert CHECKS[check](path) == []


def test_s3a_profiles_bind_the_magic_committer():
    for path in PROFILES:
        values = settings(path)
        if "org.apache.hadoop:hadoop-aws" in packages(values):
            assert values.get("spark.hadoop.fs.s3a.committer.name") == "magic", path.name
            assert values.get("spark.sql.sources.commitProtocolClass") == \
                "org.apache.spark.internal.io.cloud.PathOutputCommitProtocol", path.name
            assert values.get("spark.sql.parquet.output.committer.class") == \
                "org.apache.spark.internal.io.cloud.BindingParquetOutputCommitter", path.name


BROKEN = """\
# a profile with one mistake per check

spark.executor.cores 4
spark.hadoop.fs.s3a.committer.name=magic
# a misspelt key
spark.speculation.minTaskRunTime 60s
# a key of no one
spark.hadoop.fs.s3a.comitter.name magic
# not a Spark key
executor.memory 8g
# the wrong Hadoop and Spark versions
spark.jars.packages org.apache.hadoop:hadoop-aws:3.3.4,org.apache.spark:spark-hadoop-cloud_2.12:3.5.0
# a provider that cannot be built without IRSA's variables
spark.hadoop.fs.s3a.aws.credentials.provider software.amazon.awssdk.auth.credentials.WebIdentityTokenFileCredentialsProvider
# another codec than curate's
spark.sql.parquet.compression.codec snappy
# Spark's default timestamps
spark.sql.parquet.outputTimestampType INT96
# an address-space limit
spark.executor.pyspark.memory 4g
# too little for four Python workers
spark.executor.memoryOverhead 1g
# a laptop's shuffle
spark.sql.shuffle.partitions 200
"""


def found_all(problems: list[str], *fragments: str) -> bool:
    """Whether every fragment is in one of the problems."""
    return all(any(fragment in p for p in problems) for fragment in fragments)


def test_the_checks_find_a_broken_profile(tmp_path):
    path = tmp_path / "spark-broken.properties"
    path.write_text(BROKEN, "utf-8")
    assert found_all(form_problems(path), "spark.executor.cores has no comment",
                     "fs.s3a.committer.name has no comment", "executor.memory is not a Spark key")
    keys = key_problems(path)
    assert found_all(keys, "spark.speculation.minTaskRunTime", "fs.s3a.comitter.name")
    assert not any("minTaskRuntime " in p or "committer.name" in p for p in keys)
    assert found_all(package_problems(path), "hadoop-aws 3.3.4", "Scala 2.12",
                     ":3.5.0 is not Spark", "without spark.jars.excludes",
                     "WebIdentityTokenFileCredentialsProvider throws")
    assert found_all(local_problems(path), "compression.codec is 'snappy'",
                     "outputTimestampType is 'INT96'", "showConsoleProgress is None")
    assert found_all(memory_problems(path, "kubernetes"), "RLIMIT_AS",
                     "memoryOverhead is 1024 MiB", "shuffle.partitions 200",
                     "speculation is off")


def test_the_parser_reads_every_properties_form(tmp_path):
    path = tmp_path / "forms.properties"
    path.write_text("a.b 1\nc.d=2\n! bang comment\ne.f : 3\ng.h    four five\n"
                    "i.j = x,\\\n      y\n\n  # indented comment\n", "utf-8")
    assert [(k, v) for _, k, v in parse(path)] == [
        ("a.b", "1"), ("c.d", "2"), ("e.f", "3"), ("g.h", "four five"), ("i.j", "x,y")]
