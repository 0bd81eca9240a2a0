"""Planning benchmark: what the driver does for a whole crawl before (and after) Spark runs
the tasks, at 100,000 input files. Prints figures; asserts nothing.

    .venv/bin/python bench/plan.py                       # the working tree's code
    .venv/bin/python bench/plan.py --compare be3c4f4     # ... and the code at a git ref

A listing (built under --out on the first run, reused while it exists): a `wat.paths.gz`
of --paths CommonCrawl-shaped keys (--segments segments of CC-MAIN-2024-22, each file's
name with its own crawl timestamps and number, as CommonCrawl's), served over HTTP on
127.0.0.1 by tests/servers.py's DataServer, and joined to https://data.commoncrawl.org/.

1. Planning, the steps `curate extract <listing URL> -o DIR` runs on the driver before
   Spark runs a task, each timed (wall seconds, best of --repeat) with the code as it is:
   - read_listing            fetch the listing over HTTP, gunzip, split, join to the base
   - resolve_inputs          all of input resolution: read_listing again, de-duplication,
                             --sample-fraction / --limit selection (the flags given here)
   - select F=0.5 limit=N/4  the selection alone on the whole list, for information
   - check_output            api.extract's check of the output against every input path
   - task_order              the deterministic shuffle of the paths
   - job                     extract._read_files with a recording stand-in for Spark: the
                             function given to mapInArrow (and what it broadcasts), pickled
                             as pyspark pickles a task's command (cloudpickle)
   - inputs.txt              listing_text of the paths and its write beside the output
   Then peak RSS of the process (getrusage; a high-water mark: before and after the
   planning), and tracemalloc's peak for each step in a second pass (traced, so slower).
   The task closure: its pickled bytes, which every task unpickles before it starts
   (pyspark broadcasts a command larger than spark.broadcast.UDFCompressionThreshold,
   1 MiB, so the bytes travel once per executor, but each task's Python worker still
   unpickles the whole command, 100,000 times in a crawl); what the job broadcasts
   itself, unpickled once per Python worker; and the seconds of each unpickling.
2. sample's footer check (sample.files_hold_disjoint_images) on --footer-files small
   Parquet files (1,000 rows each, disjoint sorted image_uuid ranges, as match writes
   them; built under --out once): serial against the thread counts of --threads, with
   the decision of each run. --latency-ms adds a sleep to every footer read (as a round
   trip to an object store would) for a second series on --latency-files files.
3. Other per-file work on the driver, for information (working tree only): task_files.commit
   of --footer-files files written as tasks leave them (local renames), the 100,000 task
   result rows of an extract held on the driver (memory, and the seconds of the report
   built from them), and check_output with 100,000 local input paths.

With --compare REF the steps of 1 and 2 also run on the package at REF (extracted with
git archive under --out, imported first through PYTHONPATH), each version in its own
process so their peak RSS are their own. Wall seconds on a shared machine vary by tens of
percent from run to run; bytes, counts and traced memory do not.
"""
from __future__ import annotations

import argparse
import gc
import gzip
import json
import os
import pickle
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE_URL = "https://data.commoncrawl.org/"
CRAWL = "CC-MAIN-2024-22"


# ------------------------------------------------------------------------- the inputs

def build_listing(out: Path, n_paths: int, n_segments: int, seed: int = 22) -> Path:
    """A wat.paths.gz of n_paths keys over n_segments segments, named as CommonCrawl's:
    crawl-data/CC-MAIN-2024-22/segments/<segment>/wat/CC-MAIN-<start>-<end>-<number>.warc.wat.gz"""
    path = out / f"wat-{n_paths}-{n_segments}.paths.gz"
    if path.exists():
        return path
    rng = random.Random(seed)
    per_segment = -(-n_paths // n_segments)
    lines = []
    for s in range(n_segments):
        segment = f"{1715971057216 + s * 7_000_000 + rng.randrange(1_000_000)}.{rng.randrange(100):02d}"
        for f in range(per_segment):
            number = s * per_segment + f
            if number >= n_paths:
                break
            day, hour = 17 + rng.randrange(14), rng.randrange(24)
            minute, second = rng.randrange(60), rng.randrange(60)
            start = f"202405{day:02d}{hour:02d}{minute:02d}{second:02d}"
            end = f"202405{day + (hour + 3) // 24:02d}{(hour + 3) % 24:02d}{minute:02d}{second:02d}"
            lines.append(f"crawl-data/{CRAWL}/segments/{segment}/wat/"
                         f"CC-MAIN-{start}-{end}-{number:05d}.warc.wat.gz\n")
    out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(gzip.compress("".join(lines).encode()))
    tmp.rename(path)
    return path


def build_footer_pool(out: Path, n_files: int, rows: int = 1000) -> Path:
    """n_files Parquet files of `rows` rows (image_uuid sorted, disjoint ranges per file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pool = out / f"footers-{n_files}"
    if (pool / "_done").exists():
        return pool
    pool.mkdir(parents=True, exist_ok=True)
    for i in range(n_files):
        uuids = [f"{i:06d}{j:06d}" + "0" * 52 for j in range(rows)]
        table = pa.table({"image_uuid": uuids, "text": [f"text {j}" for j in range(rows)]})
        pq.write_table(table, pool / f"part-{i:05d}-0000.parquet", compression="zstd")
    (pool / "_done").write_text("")
    return pool


# --------------------------------------------------------------- a stand-in for Spark

class RecordingSpark:
    """Enough of a SparkSession for extract._read_files: records the function given to
    mapInArrow and what is broadcast; collects nothing (no task runs)."""

    def __init__(self):
        self.function = None
        self.broadcasts = []
        self.sparkContext = self

    def range(self, *args):
        return self

    def mapInArrow(self, function, schema):
        self.function = function
        return self

    def collect(self):
        return []

    def broadcast(self, value):
        handle = _Broadcast(value)
        self.broadcasts.append(handle)
        return handle


class _Broadcast:
    """Pickles as pyspark's Broadcast does: to _from_id(its id), looked up in the
    registry of the process that unpickles it."""

    _next_id = 10_000

    def __init__(self, value):
        from pyspark.core.broadcast import _broadcastRegistry

        _Broadcast._next_id += 1
        self.id, self.value = _Broadcast._next_id, value
        _broadcastRegistry[self.id] = self

    def __reduce__(self):
        from pyspark.core.broadcast import _from_id
        return _from_id, (self.id,)

    def unpersist(self, blocking=False):
        pass


def task_command(function) -> bytes:
    """The task's command as pyspark pickles it (core.rdd._prepare_for_python_RDD)."""
    from pyspark.serializers import CloudPickleSerializer
    return CloudPickleSerializer().dumps((function, None, None, None))


# --------------------------------------------------------------------- the measures

def best_of(repeat: int, fn):
    """(least wall seconds over `repeat` runs, the last result)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux


def planning(url: str, out: Path, args) -> dict:
    """Section 1 in this process, with the `curate` that imports first."""
    import curate
    from curate import schemas
    from curate.options import config_path, resolve_extract
    from curate.sources import listing
    from curate.sources.inputs import resolve_inputs
    from curate.stages import extract, io, task_files

    options = resolve_extract(config_path(None), input_base_url=BASE_URL,
                              sample_fraction=args.sample_fraction, limit=args.limit)
    output = str(out / "pairs-never-written")
    inputs_file = tempfile.NamedTemporaryFile(dir=out, suffix=".txt", delete=False).name
    files = task_files.TaskFiles(output, schemas.PAIRS, None, "zstd")
    state: dict = {}

    def read():
        return listing.read_listing(url, BASE_URL)

    def resolve():
        state["paths"] = resolve_inputs([url], options)
        return state["paths"]

    def select():
        return listing.select(state["paths"], limit=len(state["paths"]) // 4,
                              sample_fraction=0.5, seed=options.seed)

    def check():
        io.check_output(output, "extract", [url, *state["paths"]])

    def order():
        state["ordered"] = listing.task_order(state["paths"], options.seed)

    def job():
        spark = RecordingSpark()
        ordered = state["ordered"]
        import inspect
        if "start" in inspect.signature(extract._read_files).parameters:
            # since the resumable groups: the group's range is given
            extract._read_files(spark, ordered, 0, len(ordered), files, options)
        else:   # a --compare REF from before them
            extract._read_files(spark, ordered, files, options)
        state["command"] = task_command(spark.function)
        state["broadcasts"] = [pickle.dumps(b.value, pickle.HIGHEST_PROTOCOL)
                               for b in spark.broadcasts]

    def written_list():
        io.write_text(inputs_file, listing.listing_text(state["paths"]))

    steps = [("read_listing (fetch, gunzip, parse)", read),
             ("resolve_inputs (all of it)", resolve),
             ("select F=0.5 limit=N/4 (information)", select),
             ("check_output (every input path)", check),
             ("task_order", order),
             ("job: _read_files, task command pickled", job),
             ("inputs.txt: listing_text + write", written_list)]
    planned = ("resolve_inputs (all of it)", "check_output (every input path)", "task_order",
               "job: _read_files, task command pickled", "inputs.txt: listing_text + write")
    rss_before = rss_mb()
    seconds = {}
    for name, fn in steps:
        seconds[name], _ = best_of(args.repeat, fn)
    rss_after = rss_mb()
    traced = {}
    tracemalloc.start()
    for name, fn in steps:
        gc.collect()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        traced[name] = (tracemalloc.get_traced_memory()[1] - base) / 2 ** 20
    tracemalloc.stop()
    command = state["command"]
    per_task, _ = best_of(5, lambda: pickle.loads(command))
    per_worker = [best_of(3, lambda b=b: pickle.loads(b))[0] for b in state["broadcasts"]]
    os.unlink(inputs_file)
    return {"curate": os.path.dirname(curate.__file__), "paths": len(state["paths"]),
            "seconds": seconds, "planned": planned, "traced_mb": traced,
            "planning_seconds": sum(seconds[name] for name in planned),
            "rss_before_mb": rss_before, "rss_after_mb": rss_after,
            "command_bytes": len(command), "task_unpickle_s": per_task,
            "broadcast_bytes": [len(b) for b in state["broadcasts"]],
            "broadcast_unpickle_s": per_worker}


def footers(pool: Path, args, latency_pool: Path | None) -> dict:
    """Section 2 in this process: the decision and its seconds, serial and threaded."""
    import inspect

    from curate.stages import io, sample

    threaded = "threads" in inspect.signature(sample.files_hold_disjoint_images).parameters
    runs = {}

    def series(directory, label):
        if threaded:
            for threads in [1, *args.threads]:
                seconds, decision = best_of(args.repeat, lambda: sample.files_hold_disjoint_images(
                    str(directory), threads=threads))
                runs[f"{label} threads={threads}"] = (seconds, decision)
        else:
            seconds, decision = best_of(args.repeat, lambda: sample.files_hold_disjoint_images(
                str(directory)))
            runs[f"{label} serial"] = (seconds, decision)

    series(pool, f"{args.footer_files} files")
    if latency_pool is not None:
        original = io.parquet_metadata

        def slow(uri):
            time.sleep(args.latency_ms / 1000)
            return original(uri)

        io.parquet_metadata = slow
        try:
            series(latency_pool, f"{args.latency_files} files +{args.latency_ms:g} ms")
        finally:
            io.parquet_metadata = original
    return {"threaded": threaded, "runs": runs}


def other_work(pool: Path, args, out: Path) -> dict:
    """Section 3: commit, result rows, check_output with local paths (information)."""
    import shutil

    from pyspark.sql import Row

    from curate import schemas
    from curate.stages import extract, io, task_files

    found = {}
    # task_files.commit of footer_files files, laid out as the tasks leave them.
    directory = out / "commit"
    shutil.rmtree(directory, ignore_errors=True)
    results = []
    for i, source in enumerate(sorted(pool.glob("part-*.parquet"))):
        name = f"{task_files.ATTEMPTS_DIR}/{i}-0/part-{i:05d}-0000.parquet"
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        os.link(source, directory / name)
        results.append((i, [(name, 1000)]))
    started = time.perf_counter()
    task_files.commit(str(directory), results, schemas.PAIRS)
    found["commit"] = (len(results), time.perf_counter() - started)
    shutil.rmtree(directory, ignore_errors=True)

    # 100,000 extract result rows on the driver, as collect() returns them.
    n = args.paths
    counters = {"files_read": 1, "files_failed": 0, "records": 150_000, "records_used": 50_000,
                "images": 400_000, "pairs": 300_000, "texts_found": 310_000,
                "texts_dropped:empty": 5_000, "texts_dropped:too_long": 100,
                "texts_dropped:not_http": 4_900, "records_skipped:not_html": 100_000}
    tracemalloc.start()
    rows = [Row(partition=i, files=[f"{task_files.ATTEMPTS_DIR}/{i}-0/part-{i:05d}-0000.parquet"],
                file_rows=[300_000], counters=dict(counters),
                path=f"{BASE_URL}crawl-data/{CRAWL}/segments/x/wat/CC-MAIN-{i:05d}.warc.wat.gz",
                errors=[]) for i in range(n)]
    held = tracemalloc.get_traced_memory()[0] / 2 ** 20
    tracemalloc.stop()
    started = time.perf_counter()
    taken = task_files.TaskResults(rows)
    taken.files()
    extract.extract_report("out", taken, n, 300_000 * n)
    found["results"] = (n, held, time.perf_counter() - started)
    del rows, taken

    # check_output with local input paths: one realpath each.
    local = [f"/data/crawl-data/{CRAWL}/segments/x/wat/CC-MAIN-{i:05d}.warc.wat.gz"
             for i in range(n)]
    seconds, _ = best_of(args.repeat, lambda: io.check_output(
        str(out / "pairs-never-written"), "extract", local))
    found["check_local"] = (n, seconds)
    return found


# ------------------------------------------------------------------------ the driver

def worker(args) -> dict:
    """Sections 1 and 2 (3 unless --skip-other) in this process; a JSON-able dict."""
    sys.path.insert(0, str(ROOT / "tests"))
    from servers import DataServer

    out = args.out
    listing, pool, latency_pool = inputs(args)
    with DataServer(out) as server:
        url = f"{server.url}/{listing.name}"
        found = {"planning": planning(url, out, args),
                 "footers": footers(pool, args, latency_pool)}
    if not args.skip_other:
        found["other"] = other_work(pool, args, out)
    return found


def inputs(args) -> tuple[Path, Path, Path | None]:
    """The listing and the footer pools (built by the parent, before any measure)."""
    return (build_listing(args.out, args.paths, args.segments),
            build_footer_pool(args.out, args.footer_files),
            build_footer_pool(args.out, args.latency_files) if args.latency_ms else None)


def ref_package(ref: str, out: Path) -> Path:
    """The `curate` package at git ref `ref`, extracted under out/ref-<commit>."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", ref + "^{commit}"],
                            check=True, capture_output=True, text=True).stdout.strip()
    target = out / f"ref-{commit[:12]}"
    if not (target / "curate" / "__init__.py").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "curate"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def run_version(args, pythonpath: Path | None, skip_other: bool) -> dict:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    argv = [sys.executable, __file__, "--worker", *args.passed]
    if skip_other:
        argv.append("--skip-other")
    done = subprocess.run(argv, env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(versions: dict[str, dict], args) -> None:
    names = list(versions)
    first = versions[names[-1]]["planning"]
    print(f"listing: {args.paths:,} paths in {args.segments} segments, served on 127.0.0.1; "
          f"--sample-fraction {args.sample_fraction} --limit {args.limit}: "
          f"{first['paths']:,} input files")
    for name in names:
        print(f"  {name}: {versions[name]['planning']['curate']}")
    width = 40
    head = "".join(f"{n[:22]:>24s}" for n in names)
    print(f"\n1. planning, wall s (best of {args.repeat}) | traced MiB peak\n"
          f"{'':{width}s}{head}")
    for step in first["seconds"]:
        cells = "".join(f"{v['planning']['seconds'][step]:10.3f} | {v['planning']['traced_mb'][step]:9.1f}"
                        .rjust(24) for v in versions.values())
        print(f"  {step:{width - 2}s}{cells}")
    rows = [("planning total, s", lambda p: f"{p['planning_seconds']:.3f}"),
            ("peak RSS before planning, MiB", lambda p: f"{p['rss_before_mb']:.0f}"),
            ("peak RSS after planning, MiB", lambda p: f"{p['rss_after_mb']:.0f}"),
            ("task command pickled, bytes", lambda p: f"{p['command_bytes']:,}"),
            ("  unpickled by each task, s", lambda p: f"{p['task_unpickle_s']:.4f}"),
            (f"  x {first['paths']:,} tasks, CPU s", lambda p: f"{p['task_unpickle_s'] * p['paths']:.0f}"),
            ("broadcast by the job, bytes", lambda p: ", ".join(f"{b:,}" for b in p["broadcast_bytes"]) or "-"),
            ("  unpickled once per worker, s", lambda p: ", ".join(f"{s:.4f}" for s in p["broadcast_unpickle_s"]) or "-")]
    for label, cell in rows:
        print(f"  {label:{width - 2}s}" + "".join(cell(v["planning"]).rjust(24) for v in versions.values()))
    print(f"\n2. sample's footer check, wall s (best of {args.repeat}), decision")
    for name in names:
        for label, (seconds, decision) in versions[name]["footers"]["runs"].items():
            print(f"  {name[:22]:24s}{label:34s}{seconds:9.3f}  {decision}")
    other = versions[names[-1]].get("other")
    if other:
        n, seconds = other["commit"]
        print(f"\n3. other per-file driver work ({names[-1]})\n"
              f"  task_files.commit of {n:,} local files: {seconds:.2f} s "
              f"({seconds / n * 1e6:.0f} us a file; x {args.paths:,}: {seconds / n * args.paths:.0f} s)")
        n, held, seconds = other["results"]
        print(f"  {n:,} extract result rows held on the driver: {held:.0f} MiB traced; "
              f"files() + extract_report: {seconds:.2f} s")
        n, seconds = other["check_local"]
        print(f"  check_output with {n:,} local input paths: {seconds:.2f} s")
    print("\n(wall seconds on a shared 2-core machine vary by tens of percent between runs; "
          "bytes and traced MiB do not)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=100_000)
    parser.add_argument("--segments", type=int, default=100)
    parser.add_argument("--sample-fraction", type=float, default=None)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--footer-files", type=int, default=20_000)
    parser.add_argument("--threads", type=lambda s: [int(t) for t in s.split(",")],
                        default=[4, 16, 32])
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--latency-files", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compare", metavar="REF", default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "plan")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--skip-other", action="store_true", help=argparse.SUPPRESS)
    argv = sys.argv[1:]
    args = parser.parse_args(argv)
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.worker:
        print(json.dumps(worker(args)))
        return
    args.passed = [a for a in argv if a != "--compare" and a != args.compare]
    args.passed += ["--out", str(args.out)]
    inputs(args)
    versions = {}
    if args.compare:
        versions[args.compare] = run_version(args, ref_package(args.compare, args.out), True)
    versions["working tree"] = run_version(args, None, False)
    report(versions, args)


if __name__ == "__main__":
    sys.exit(main())
