"""Scale benchmark: what dedup -> match -> count -> sample cost per row at crawl size, and
whether memory stays bounded as the pool grows.

    PYTHONPATH=$PWD .venv/bin/python bench/scale.py --rows 10000000,100000000

Pool (generated in Spark from spark.range, one per size, under
bench/out/scale/pool-<rows>-<params hash>/, reused while its `_scale.json` exists: that
file is written last, so a partial pool is generated again). Schema curate.schemas.PAIRS
exactly, shaped like an extract output of CommonCrawl WAT files:

- texts: the 15,833 Conceptual Captions (validation TSV) and the alt / title texts of the
  181 real pages of ../shared/data/html, one table row per occurrence (a text that occurs
  on many images, "logo", has that many rows), broadcast-joined by index: a text is drawn
  in proportion to how often it occurs there, so its length distribution is theirs (the
  run prints mean and median characters). Captions count as alt texts (they are ones);
  titles keep text_source "title": alt mostly.
- image URLs and page URLs on a million hosts, 30 images per page, 20 pages per site; an
  image's host is the site of the page where it first appears; image_uuid is
  substring(sha2(url, 224), 1, 24), what curate.core.extract.text.image_uuid gives.
- source_path s3://commoncrawl/crawl-data/<crawl>/segments/<segment>/wat/...warc.wat.gz,
  300,000 pairs per WAT file (the files grow with the rows), six crawls taking turns;
  source_offset increasing within a file (one record per page: a page's pairs share it);
  fetch_time from the crawl and position; lang null.
- duplicates: cc2dataset's figures (its issue 5: 40B candidate pairs from 130k WAT files,
  8B after a global dedup by URL + text) are 80% duplicates: each distinct
  (image_uuid, text) appears 5 times on average. Here row i with i % 5 == 0 is the first
  occurrence of key i // 5 (so the pool holds exactly D = ceil(rows / 5) distinct keys and
  the duplicate rate is 1 - D / rows, 0.8 up to rounding); every other row repeats key
  floor(D * u**2), u uniform from a hash of i: skewed towards some keys (a site's logo
  repeats more than an article's photo), spread over other pages, files and crawls. A key
  is its own image URL (the key is in the URL), so distinct keys are distinct
  (image_uuid, text) pairs (a 96-bit id collision aside): dedup must keep exactly D rows.
  Every column is a function of the row index and --seed: the same pool whatever the
  partitioning.

Each size runs in a child process (a fresh SparkSession: clean memory figures, its shuffle
files gone with it) on local[--cores] with --driver-memory (default 2g: the JVM's heap in
local mode, fixed and touched at start so its RSS does not grow as the heap fills; ~0.5 GB
of execution memory per task, so the shuffles of 10^8 rows spill),
spark.sql.shuffle.partitions = max(8, rows / --partition-rows) (a run at crawl size sets
its partitions by its size; a fixed 8 would make every reduce task grow with the pool),
spark.local.dir under bench/out/scale/tmp, the UI on at 127.0.0.1 for the status REST API.
It runs api.dedup -> api.match (shipped metadata, default recipe) -> api.count ->
api.sample into bench/out/scale/work-<rows>/ (removed after the size; the pool is kept).
Before any clock runs, the same steps run once, untimed, on a pool of min(rows, 200,000)
rows: the JVM's first Parquet read, shuffle and write load and compile their code (about
3 s x cores, paid once by a crawl's hours), and would otherwise be timed in the first step.

Printed per stage and size: rows in / out, wall seconds x cores per 10^6 rows in, shuffle
bytes written per row in, spill bytes (memory, disk) from the status REST API (the delta
over the stage's jobs), and peak RSS (VmRSS polled every 0.2 s) of the JVM and of the Python
workers (max over workers, and how many were seen: pyspark.daemon's forks are reused
across stages, so VmHWM would carry one stage's peak into the next). Then the smallest size
against the largest: per-row cost ratio per stage (PASS within +-20%) and memory growth,
PASS under 512 MiB for the JVM (its heap is capped by --driver-memory; the rest is
off-heap buffers and metaspace, which must not grow with the rows) and 128 MiB for the
Python workers (a worker holds one Arrow batch and the metadata's automaton: nothing of it
depends on the pool's size). --json PATH writes every figure.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
DATA = ROOT.parent / "shared" / "data"
CAPTIONS = DATA / "captions" / "Validation_GCC-1.1.0-Validation.tsv"
OUT = ROOT / "bench" / "out" / "scale"

WARMUP_ROWS = 200_000     # the warm-up pool (at most the size run; --warmup-rows)
GENERATOR = 1               # bump when the generator changes: a new params hash
COPIES = 5                  # rows per distinct (image_uuid, text), on average
PAIRS_PER_FILE = 300_000
IMAGES_PER_PAGE = 30        # divides PAIRS_PER_FILE: no page straddles two files
PAGES_PER_SITE = 20
SITES = 1_000_000
CRAWLS = ["CC-MAIN-2024-10", "CC-MAIN-2024-18", "CC-MAIN-2024-22", "CC-MAIN-2024-26",
          "CC-MAIN-2024-30", "CC-MAIN-2024-33"]
STAGES = ("dedup", "match", "count", "sample")
FLOOR = "floor"             # a plain Spark read + write of the pool: what dedup is held to
COST_BAND = 0.20
JVM_GROWTH = 512 << 20
WORKER_GROWTH = 128 << 20


# ------------------------------------------------------------------------------- texts

def real_texts() -> list[tuple[str, str]]:
    """(text, text_source), one per occurrence: every caption, every alt and title of the
    <img> of the 181 real pages (as curate's extract cleans them)."""
    from curate.core.extract.html import parse_html
    from curate.core.extract.text import clean_text

    with open(CAPTIONS, encoding="utf-8", newline="") as f:
        texts = [(clean_text(row[0]), "alt")
                 for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    truth = json.loads((DATA / "html" / "ground-truth.json").read_text("utf-8"))
    for page in sorted((DATA / "html" / "html").glob("*.html.gz")):
        url = truth[page.name[:-len(".html.gz")]]["url"]
        _, images = parse_html(gzip.open(page).read(), url)
        for image in images:
            for attr in ("alt", "title"):
                texts.append((clean_text(image.get(attr) or ""), attr))
    return [(t, s) for t, s in texts if t]


def text_stats(texts: list[tuple[str, str]]) -> dict:
    lengths = [len(t) for t, _ in texts]
    return {"occurrences": len(texts), "distinct": len({t for t, _ in texts}),
            "mean_chars": statistics.fmean(lengths), "median_chars": statistics.median(lengths),
            "alt_share": sum(s == "alt" for _, s in texts) / len(texts)}


# -------------------------------------------------------------------------------- pool

def pool_dir(rows: int, seed: int, texts: list[tuple[str, str]]) -> Path:
    params = json.dumps([GENERATOR, rows, seed, COPIES, PAIRS_PER_FILE, IMAGES_PER_PAGE,
                         PAGES_PER_SITE, SITES, CRAWLS,
                         hashlib.sha256(repr(texts).encode()).hexdigest()])
    return OUT / f"pool-{rows}-{hashlib.sha256(params.encode()).hexdigest()[:10]}"


def distinct_keys(rows: int) -> int:
    return -(-rows // COPIES)


def pool_frame(spark, rows: int, seed: int, texts: list[tuple[str, str]]):
    """The pool as a DataFrame: every column a function of the row index and the seed."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    table = spark.createDataFrame(
        [(j, t, s) for j, (t, s) in enumerate(texts)],
        StructType([StructField("t", LongType(), False), StructField("text", StringType(), False),
                    StructField("text_source", StringType(), False)]))
    d = distinct_keys(rows)
    files = -(-rows // PAIRS_PER_FILE)
    i = F.col("id")

    def h(salt, *cols):   # 64-bit hash of (seed, salt, cols), >= 0
        return F.abs(F.xxhash64(F.lit(seed), F.lit(salt), *cols) % F.lit(1 << 62))

    u = h("copy", i).cast("double") / float(1 << 62)
    key = F.when(i % COPIES == 0, (i / COPIES).cast("long")).otherwise(
        F.least(F.floor(F.lit(float(d)) * u * u).cast("long"), F.lit(d - 1)))

    def site(page):   # host of a page index
        return F.concat(F.lit("www.site"), (h("site", (page / PAGES_PER_SITE).cast("long"))
                                            % SITES).cast("string"), F.lit(".com"))
    first_page = (F.col("key") * COPIES / IMAGES_PER_PAGE).cast("long")
    url = F.concat(F.lit("https://"), site(first_page), F.lit("/wp-content/uploads/"),
                   (F.lit(2015) + h("year", F.col("key")) % 10).cast("string"), F.lit("/"),
                   F.lpad((F.lit(1) + h("month", F.col("key")) % 12).cast("string"), 2, "0"),
                   F.lit("/"), F.substring(F.sha2(F.col("key").cast("string"), 256), 1, 12),
                   F.lit("-"), F.col("key").cast("string"), F.lit(".jpg"))
    page = (i / IMAGES_PER_PAGE).cast("long")
    page_url = F.concat(F.lit("https://"), site(page), F.lit("/"),
                        F.element_at(F.array(*map(F.lit, ["news", "blog", "shop/product",
                                                          "article", "gallery"])),
                                     (h("section", page) % 5 + 1).cast("int")),
                        F.lit("/"), F.lower(F.hex(h("slug", page))), F.lit("-"),
                        page.cast("string"), F.lit(".html"))
    f = (i / PAIRS_PER_FILE).cast("long")
    within = (f / len(CRAWLS)).cast("long")     # the file's number inside its crawl
    crawl = F.element_at(F.array(*map(F.lit, CRAWLS)), (f % len(CRAWLS) + 1).cast("int"))
    segment = F.format_string("%d.%d", F.lit(1722640353668) + (within % 100) * 7919,
                              within % 8)
    source_path = F.concat(
        F.lit("s3://commoncrawl/crawl-data/"), crawl, F.lit("/segments/"), segment,
        F.lit("/wat/"), F.regexp_replace(crawl, "-20[0-9]{2}-[0-9]{2}$", ""),
        F.lit("-20240806040011-20240806070011-"), F.lpad(within.cast("string"), 5, "0"),
        F.lit(".warc.wat.gz"))
    page_in_file = ((i % PAIRS_PER_FILE) / IMAGES_PER_PAGE).cast("long")
    offset = page_in_file * 37_000 + h("offset", page) % 30_000   # increasing in a file
    fetch = F.timestamp_seconds(F.lit(1706745600) + (f % len(CRAWLS)) * 30 * 86400
                                + within * 37 + page_in_file * 3)
    real = i >= 0   # true: F.when(real, x) makes a nullable column of x (PAIRS' nullables)
    frame = (spark.range(0, rows, 1, files)
             .select(i, key.alias("key"))
             .withColumn("t", h("text", F.col("key")) % len(texts))
             .join(F.broadcast(table), "t"))
    def required(column):   # never null; coalesce tells Spark so (PAIRS' "not null")
        return F.coalesce(column, F.lit(""))
    return (frame.select(required(F.substring(F.sha2(url, 224), 1, 24)).alias("image_uuid"),
                         required(url).alias("url"),
                         "text", "text_source",
                         F.when(real, page_url).alias("page_url"),
                         required(source_path).alias("source_path"),
                         F.when(real, offset).alias("source_offset"),
                         F.when(real, crawl).alias("crawl"),
                         F.when(real, fetch).alias("fetch_time"),
                         F.lit(None).cast("string").alias("lang"),
                         F.col("id"))
            .select("image_uuid", "url", "text", "text_source", "page_url",
                    "source_path",
                    "source_offset", "crawl", "fetch_time", "lang"))


def build_pool(spark, rows: int, seed: int, texts) -> tuple[Path, dict]:
    """The pool of `rows` pairs (generated once; reused while its _scale.json exists)."""
    path = pool_dir(rows, seed, texts)
    done = path / "_scale.json"
    if done.exists():
        pool_report(path, rows)
        return path, json.loads(done.read_text())
    shutil.rmtree(path, ignore_errors=True)
    started = time.monotonic()
    pool_frame(spark, rows, seed, texts).write.parquet(str(path))
    d = distinct_keys(rows)
    info = {"rows": rows, "distinct": d, "duplicate_rate": 1 - d / rows, "seed": seed,
            "files": -(-rows // PAIRS_PER_FILE), "generator": GENERATOR,
            "seconds": time.monotonic() - started,
            "bytes": sum(p.stat().st_size for p in path.glob("*.parquet")),
            "texts": text_stats(texts)}
    pool_report(path, rows)
    done.write_text(json.dumps(info, indent=2))   # last: the pool is complete
    return path, info


def pool_report(path: Path, rows: int) -> None:
    """The pool's stage report, as extract's: its rows are shaped as extract's output, its
    image_uuids extract's (the first 24 hex characters of a URL's sha224), so dedup takes
    the route it takes on a real extract output (ranges from the uuid's hex, no sampling
    job; a pool without a report would be cut by sampled ranges as any foreign Parquet)."""
    from curate.stages import io

    if io.report_or_none(str(path)) is None:
        report = io.StageReport("extract", str(path), rows, rows, id=uuid.uuid4().hex,
                                details={"made_by": "bench/scale.py's pool generator"})
        io.write_text(io.join(str(path), io.REPORT_FILE), report.to_json())


# -------------------------------------------------------------------------- memory

class RssMonitor(threading.Thread):
    """Polls VmRSS of the JVM (a java process under this one) and of the Python workers
    (pyspark.daemon's forks) every `interval` s; `begin` starts a stage's figures."""

    def __init__(self, interval: float = 0.2):
        super().__init__(daemon=True)
        self.interval, self.stop_event = interval, threading.Event()
        self.lock = threading.Lock()
        self.cmdlines: dict[int, bytes] = {}
        self.begin()

    def begin(self) -> None:
        with self.lock:
            self.figures = {"jvm_peak": 0, "worker_peak": 0, "workers": set()}

    def end(self) -> dict:
        self.sample()
        with self.lock:
            out = dict(self.figures)
        out["workers"] = len(out["workers"])
        return out

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        parents: dict[int, int] = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open(f"/proc/{name}/stat", "rb") as f:
                        stat = f.read()
                    parents[int(name)] = int(stat[stat.rindex(b")") + 2:].split()[1])
                except (OSError, ValueError, IndexError):
                    pass
        below, stack = [], [os.getpid()]
        children: dict[int, list[int]] = {}
        for pid, ppid in parents.items():
            children.setdefault(ppid, []).append(pid)
        while stack:
            for child in children.get(stack.pop(), []):
                below.append(child)
                stack.append(child)
        for pid in below:
            kind = self.kind(pid, parents)
            if kind is None:
                continue
            rss = vm_rss(pid)
            with self.lock:
                if kind == "jvm":
                    self.figures["jvm_peak"] = max(self.figures["jvm_peak"], rss)
                else:
                    self.figures["worker_peak"] = max(self.figures["worker_peak"], rss)
                    self.figures["workers"].add(pid)

    def kind(self, pid: int, parents: dict[int, int]) -> str | None:
        if pid not in self.cmdlines:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    self.cmdlines[pid] = f.read()
            except OSError:
                return None
        argv = self.cmdlines[pid].split(b"\0")
        if argv and argv[0].endswith(b"java"):
            return "jvm"
        # the daemon is the JVM's child; its forks (the workers) are the daemon's children
        if b"pyspark.daemon" in self.cmdlines[pid]:
            parent = self.cmdlines.get(parents.get(pid, -1), b"")
            return "worker" if b"pyspark.daemon" in parent else None
        return None


def vm_rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


# --------------------------------------------------------------------- one size (child)

def run_size(args) -> dict:
    from curate.options import log4j_properties_path
    from curate.stages.session import get_spark
    from spark_status import stage_totals

    rows = args.child
    texts = real_texts()
    (OUT / "tmp").mkdir(parents=True, exist_ok=True)
    partitions = max(8, -(-rows // args.partition_rows))
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    # The heap is fixed and touched at start (-Xms = -Xmx, AlwaysPreTouch): the JVM's RSS
    # then starts at its heap and any growth is what lies beside it (off-heap buffers,
    # metaspace, threads), not the heap filling up to --driver-memory on the larger pool.
    java = (f"-Dlog4j.configurationFile=file:{log4j_properties_path()} "
            f"-Xms{args.driver_memory} -XX:+AlwaysPreTouch")
    spark = get_spark(f"local[{args.cores}]", {
        "spark.driver.extraJavaOptions": java,
        "spark.ui.enabled": "true", "spark.driver.memory": args.driver_memory,
        "spark.local.dir": str(OUT / "tmp"), "spark.sql.shuffle.partitions": str(partitions),
        "spark.ui.retainedStages": "10000", "spark.ui.retainedJobs": "10000"})
    spark.range(1000).count()   # start the JVM before any clock runs
    # Warm up: every step once on a small pool, untimed. The first Parquet read, shuffle,
    # sort and write of a JVM load and compile their code (about 3 s x cores), which a
    # crawl pays once in hours; timed, it would fall on whichever step runs first (dedup,
    # against a floor run warm) and on whether the pool was generated in this process.
    if args.warmup_rows > 0:
        warm_pool, warm_info = build_pool(spark, min(rows, args.warmup_rows), args.seed, texts)
        warm_work = OUT / f"work-{rows}-warmup"
        shutil.rmtree(warm_work, ignore_errors=True)
        for _name, step in stage_steps(spark, args, warm_pool, warm_info, warm_work):
            step()
        shutil.rmtree(warm_work, ignore_errors=True)
    monitor = RssMonitor()
    monitor.start()
    pool, info = build_pool(spark, rows, args.seed, texts)
    work = OUT / f"work-{rows}"
    shutil.rmtree(work, ignore_errors=True)
    steps = stage_steps(spark, args, pool, info, work)
    stages = {}
    for name, step in steps:
        time.sleep(1.0)
        before = stage_totals(spark)
        monitor.begin()
        started = time.monotonic()
        report = step()
        seconds = time.monotonic() - started
        memory = monitor.end()
        time.sleep(1.0)   # let the status store take in the last tasks
        after = stage_totals(spark)
        # cc2dataset's line times its own function only (not the conversion before it)
        seconds = getattr(report, "seconds", seconds)
        stages[name] = {"rows_in": report.rows_in, "rows_out": report.rows_out,
                        "dropped": dict(report.dropped), "seconds": seconds,
                        **{k: after[k] - before[k] for k in after}, **memory}
        if "ranges" in getattr(report, "details", {}):   # dedup's: hex or sampled
            stages[name]["ranges"] = report.details["ranges"]
    monitor.stop_event.set()
    output_bytes = {name: sum(p.stat().st_size for p in (work / name).rglob("*.parquet"))
                    for name in OUTPUTS}
    spark.stop()
    shutil.rmtree(work, ignore_errors=True)
    import pyarrow.parquet as pq
    from curate import schemas
    first = sorted(pool.glob("*.parquet"))[0]
    schema_ok = pq.read_schema(first).equals(schemas.PAIRS, check_metadata=False)
    return {"rows": rows, "pool": str(pool), "pool_info": info, "cores": args.cores,
            "driver_memory": args.driver_memory, "shuffle_partitions": partitions,
            "pool_schema_is_pairs": schema_ok, "output_bytes": output_bytes, "stages": stages}


OUTPUTS = ("dedup", "matched", "counts", "curated")


def stage_steps(spark, args, pool: Path, info: dict, work: Path) -> list:
    """(name, call) of each step on `pool`, writing under `work`: the stages, the floor and,
    when asked for, cc2dataset's dedup."""
    from curate import api

    d = {name: str(work / name) for name in OUTPUTS}
    steps = [("dedup", lambda: api.dedup(str(pool), d["dedup"], session=spark, quiet=True)),
             (FLOOR, lambda: floor_pass(spark, str(pool), str(work / FLOOR))),
             ("match", lambda: api.match(d["dedup"], d["matched"], session=spark, quiet=True)),
             ("count", lambda: api.count(d["matched"], d["counts"], session=spark, quiet=True)),
             ("sample", lambda: api.sample(d["matched"], d["curated"], session=spark,
                                           counts=d["counts"], quiet=True))]
    if args.cc2dataset_venv and info["rows"] <= args.cc2dataset_rows:
        steps.append((CC2DATASET, lambda: run_cc2dataset_dedup(
            spark, args.cc2dataset_venv, pool, info["files"], str(work / "cc2dataset"))))
    return steps


CC2DATASET = "cc2dataset dedup"


def cc2dataset_dedup_function(venv: Path):
    """cc2dataset's own `deduplicate_repartition_count` (cc2dataset/main.py of the peer venv
    bench/extract.py builds from bench/requirements.txt), compiled from its source alone:
    importing its module would need fsspec, simdjson and loguru in this venv. It is run in
    this process's Spark as written: dropDuplicates(["uid"]), repartition(max(256,
    wat_count // 500)), a Parquet write and a read back to count."""
    import ast
    import types

    from pyspark.sql.functions import rand

    source = next(venv.glob("lib/python*/site-packages/cc2dataset/main.py"))
    tree = ast.parse(source.read_text("utf-8"))
    found = [node for node in tree.body if isinstance(node, ast.FunctionDef)
             and node.name == "deduplicate_repartition_count"]
    module = ast.Module(body=found, type_ignores=[])
    quiet = types.SimpleNamespace(info=lambda *args, **kwargs: None)   # its loguru logger
    names = {"time": time, "rand": rand, "logger": quiet}
    exec(compile(module, str(source), "exec"), names)
    return names["deduplicate_repartition_count"]


def cc2dataset_input(spark, pool: Path) -> Path:
    """The pool as cc2dataset's extraction hands it to its dedup: (uid, url, alt,
    cc_filename, page_url), uid = md5(alt + url) as its extract_documents_from_wat makes
    it. Written once beside the pool (untimed: it is its extraction's output)."""
    from pyspark.sql import functions as F

    path = pool.parent / f"{pool.name}-cc2dataset"
    if not (path / "_done").exists():
        shutil.rmtree(path, ignore_errors=True)
        (spark.read.parquet(str(pool))
         .select(F.md5(F.concat("text", "url")).alias("uid"), "url",
                 F.col("text").alias("alt"), F.col("source_path").alias("cc_filename"),
                 "page_url")
         .write.parquet(str(path)))
        (path / "_done").write_text("ok")
    return path


def run_cc2dataset_dedup(spark, venv: Path, pool: Path, files: int, out: str):
    from types import SimpleNamespace

    dedup = cc2dataset_dedup_function(venv)
    source = cc2dataset_input(spark, pool)
    frame = spark.read.parquet(str(source))
    rows = frame.count()
    timed = time.monotonic()
    dedup(frame, out, files, spark)
    seconds = time.monotonic() - timed
    kept = spark.read.parquet(out).count()
    return SimpleNamespace(rows_in=rows, rows_out=kept, dropped={"duplicate": rows - kept},
                           seconds=seconds)


def floor_pass(spark, pool: str, out: str):
    """Read the pool and write it back unchanged with curate's own writer: the least any
    Spark stage over these rows costs (issue 18 holds dedup to >= 50% of its throughput)."""
    from types import SimpleNamespace

    from curate.stages import io

    rows = spark.read.parquet(pool).count()   # from the footers, as dedup's rows in
    io.spark_write(spark.read.parquet(pool), out)
    return SimpleNamespace(rows_in=rows, rows_out=rows, dropped={})


# ------------------------------------------------------------------------------ report

def mib(n: int) -> str:
    return f"{n / (1 << 20):,.0f}"


def checks(result: dict) -> list[tuple[str, bool]]:
    s, info = result["stages"], result["pool_info"]
    out = [("pool schema == schemas.PAIRS", result["pool_schema_is_pairs"]),
           (f"dedup rows out {s['dedup']['rows_out']:,} == distinct {info['distinct']:,}",
            s["dedup"]["rows_out"] == info["distinct"])]
    for name in STAGES:
        st = s[name]
        out.append((f"{name}: in {st['rows_in']:,} = out {st['rows_out']:,} + dropped "
                    f"{sum(st['dropped'].values()):,}",
                    st["rows_in"] == st["rows_out"] + sum(st["dropped"].values())))
    chain = [("match", "dedup"), ("count", "match"), ("sample", "match")]
    out += [(f"{b} rows in == {a} rows out", s[b]["rows_in"] == s[a]["rows_out"])
            for b, a in chain]
    return out


def print_size(result: dict) -> None:
    info, cores = result["pool_info"], result["cores"]
    t = info["texts"]
    print(f"\n== {result['rows']:,} rows: pool {result['pool']} ({info['files']} WAT files, "
          f"{info['bytes'] / 1e6:,.0f} MB, {info['bytes'] / result['rows']:.1f} B/row; "
          f"distinct {info['distinct']:,}, duplicates {info['duplicate_rate']:.1%}; "
          f"generated in {info['seconds']:.0f} s)")
    print(f"   texts: {t['occurrences']:,} occurrences ({t['distinct']:,} distinct), "
          f"{t['mean_chars']:.1f} chars mean, {t['median_chars']:.0f} median, "
          f"{t['alt_share']:.1%} alt; local[{cores}], driver {result['driver_memory']}, "
          f"{result['shuffle_partitions']} shuffle partitions")
    print(f"   {'stage':7s} {'rows in':>12s} {'rows out':>12s} {'s*core/1e6':>10s} "
          f"{'shufB/row':>9s} {'spill mem MiB':>13s} {'spill disk MiB':>14s} "
          f"{'JVM MiB':>8s} {'worker MiB':>10s} {'workers':>7s}")
    for name in (*STAGES, FLOOR, CC2DATASET):
        if name not in result["stages"]:
            continue
        st = result["stages"][name]
        print(f"   {name:7s} {st['rows_in']:12,d} {st['rows_out']:12,d} "
              f"{st['seconds'] * cores / st['rows_in'] * 1e6:10.2f} "
              f"{st['shuffleWriteBytes'] / st['rows_in']:9.1f} "
              f"{mib(st['memoryBytesSpilled']):>13s} {mib(st['diskBytesSpilled']):>14s} "
              f"{mib(st['jvm_peak']):>8s} {mib(st['worker_peak']):>10s} {st['workers']:7d}")
    dedup, floor = result["stages"]["dedup"], result["stages"][FLOOR]
    print(f"   dedup at {floor['seconds'] / dedup['seconds']:.2f} of the floor's throughput "
          f"(a plain read + write of the same rows; target >= 0.50)")
    if CC2DATASET in result["stages"]:
        theirs = result["stages"][CC2DATASET]
        print(f"   cc2dataset's dedup takes {theirs['seconds'] / dedup['seconds']:.2f}x "
              f"curate's on the same rows ({theirs['rows_out']:,} kept by its uid, "
              f"md5(alt + url); curate {dedup['rows_out']:,} by (image_uuid, text))")
    for label, ok in checks(result):
        print(f"   check: {label}: {'OK' if ok else 'WRONG'}")


def compare(small: dict, large: dict) -> list[dict]:
    print(f"\n== {small['rows']:,} rows against {large['rows']:,} rows")
    lines = []
    for name in STAGES:
        a, b = small["stages"][name], large["stages"][name]
        ratio = (b["seconds"] / b["rows_in"]) / (a["seconds"] / a["rows_in"])
        jvm, worker = b["jvm_peak"] - a["jvm_peak"], b["worker_peak"] - a["worker_peak"]
        ok = (abs(ratio - 1) <= COST_BAND, jvm < JVM_GROWTH, worker < WORKER_GROWTH)
        print(f"   {name:7s} cost/row large/small {ratio:5.2f} (+-{COST_BAND:.0%}) "
              f"{'PASS' if ok[0] else 'MISS'};  JVM peak {jvm / (1 << 20):+7.0f} MiB "
              f"(< {JVM_GROWTH >> 20}) {'PASS' if ok[1] else 'MISS'};  worker peak "
              f"{worker / (1 << 20):+6.0f} MiB (< {WORKER_GROWTH >> 20}) "
              f"{'PASS' if ok[2] else 'MISS'}")
        lines.append({"stage": name, "cost_ratio": ratio, "jvm_growth": jvm,
                      "worker_growth": worker, "cost_pass": ok[0], "jvm_pass": ok[1],
                      "worker_pass": ok[2]})
    return lines


def main() -> int:
    global OUT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="10000000,100000000",
                        help="comma-separated pool sizes, each run in a process of its own")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--driver-memory", default="2g")
    parser.add_argument("--partition-rows", type=int, default=2_000_000,
                        help="shuffle partitions = max(8, rows / this)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--out", type=Path, default=OUT,
                        help="pools, work directories and Spark's local dir go here")
    parser.add_argument("--cc2dataset-venv", type=Path, default=None,
                        help="also run cc2dataset's own dedup on each pool, from this venv "
                             "(bench/extract.py's peer venv, bench/out/venv-peer)")
    parser.add_argument("--cc2dataset-rows", type=int, default=10**12,
                        help="run cc2dataset's dedup only on pools of at most this many rows")
    parser.add_argument("--warmup-rows", type=int, default=WARMUP_ROWS,
                        help="each size first runs every step untimed on a pool of at most "
                             "this many rows (0: no warm-up; timings then carry the JVM's "
                             "first read, shuffle and write)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    OUT = args.out
    if args.child:
        args.child_out.write_text(json.dumps(run_size(args)))
        return 0
    sizes = sorted(int(r) for r in args.rows.split(","))
    wall = time.monotonic()
    free = shutil.disk_usage(OUT.parent if OUT.parent.exists() else ROOT).free
    need = sum(sizes) * 40 + sizes[-1] * 200   # pools ~35 B/row; dedup's shuffle ~150 B/row
    print(f"bench/scale.py: sizes {', '.join(f'{r:,}' for r in sizes)}; {free / 1e9:.0f} GB "
          f"free, ~{need / 1e9:.1f} GB needed (pools ~35 B/row, kept; the largest size's "
          f"shuffle files ~150 B/row and stage outputs ~50 B/row, removed after it)"
          + ("" if free > need else "  WARNING: the disk may fill"))
    OUT.mkdir(parents=True, exist_ok=True)
    results = []
    for rows in sizes:
        out = OUT / f"result-{rows}.json"
        out.unlink(missing_ok=True)
        started = time.monotonic()
        subprocess.run([sys.executable, __file__, "--child", str(rows), "--child-out", str(out),
                        "--cores", str(args.cores), "--driver-memory", args.driver_memory,
                        "--partition-rows", str(args.partition_rows), "--seed", str(args.seed),
                        "--warmup-rows", str(args.warmup_rows), "--out", str(OUT)]
                       + (["--cc2dataset-venv", str(args.cc2dataset_venv),
                           "--cc2dataset-rows", str(args.cc2dataset_rows)]
                          if args.cc2dataset_venv else []),
                       check=True, env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"})
        results.append(json.loads(out.read_text()))
        results[-1]["child_seconds"] = time.monotonic() - started
        print_size(results[-1])
    comparison = compare(results[0], results[-1]) if len(results) > 1 else []
    ok = all(ok for r in results for _, ok in checks(r))
    print(f"\ncorrectness: {'OK' if ok else 'WRONG'}; {time.monotonic() - wall:.0f} s wall")
    if args.json:
        args.json.write_text(json.dumps({"sizes": results, "comparison": comparison,
                                         "checks_ok": ok}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
