"""Per-file overhead of extract: `curate extract` of --files small real files on a
two-worker standalone cluster (one core each, scripts/cluster.py; the environment shipped
as scripts/package.py's archive, submitted as bench/cluster.py submits), beside Spark's
floor of the same shape on the same cluster: a plain PySpark job, one task per file, each
task reading all of its file's bytes and writing one small Parquet file (one row: the
file's name and size), as each extract task writes its pairs to a Parquet file of its own.

Input (built under --out/files on the first run, reused while it exists): --files copies
of the CC-MAIN-2014-35 WAT of /work/shared/data/commoncrawl (18.5 KB, uncompressed), and
a `wat.paths.gz` listing of --listing-lines keys under --out/files whose first --files
lines are those copies (the other keys name no file). curate reads the whole listing on
the driver and keeps its first --files lines (`--limit`, as for a crawl's listing); the
floor is given the same --files paths.

Printed, for each run: the seconds of the Spark work (curate: the extract stage's own
seconds from its report, which cover its jobs, the commit of each group and the footer
check; the floor: from parallelize to the end of collect, timed in its driver, after an
untimed tiny job of one task per executor as curate's output check runs before its
stage's clock starts: the executors' first tasks unpack the archive), the wall
seconds of the whole spark-submit (JVM, SparkContext, executors and the archive's
unpacking included), seconds per file, curate's overhead over the floor in ms a file and
the ratio; and the task command each pickles (what every task unpickles before it runs).
On a shared machine one run's seconds vary by tens of percent: --repeat N runs both N
times, taking turns, and counts the best.

    .venv/bin/python bench/files.py                                # 1,000 files
    .venv/bin/python bench/files.py --files 50 --listing-lines 1000   # a quick check
"""
from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = Path("/work/shared/data/commoncrawl/"
              "CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2.internal.warc.wat")
FLOOR_LINE = "floor-result: "


# ------------------------------------------------------------------------- the inputs

def copy_name(index: int) -> str:
    return f"CC-MAIN-20140820021334-{index:05d}-copy.warc.wat"


def build_inputs(out: Path, n_files: int, n_lines: int) -> tuple[Path, Path, list[str]]:
    """(the files' directory, the listing, the n_files paths in listing order)."""
    if n_lines < n_files:
        raise SystemExit(f"--listing-lines {n_lines} < --files {n_files}")
    directory = out / "files"
    directory.mkdir(parents=True, exist_ok=True)
    size = SOURCE.stat().st_size
    paths = []
    for i in range(n_files):
        target = directory / copy_name(i)
        if not target.exists() or target.stat().st_size != size:
            shutil.copyfile(SOURCE, target)
        paths.append(str(target))
    listing = out / f"wat-{n_files}-of-{n_lines}.paths.gz"
    if not listing.exists():
        keys = [copy_name(i) for i in range(n_files)]
        keys += [f"absent/{copy_name(i)}" for i in range(n_files, n_lines)]
        tmp = listing.with_suffix(".tmp")
        tmp.write_bytes(gzip.compress("".join(k + "\n" for k in keys).encode()))
        tmp.rename(listing)
    return directory, listing, paths


# ----------------------------------------------------------------------- the floor job

def floor_task(output: str):
    """The function each floor task runs on its partition of (index, path) pairs."""
    def read_and_write(pairs):
        import pyarrow as pa
        import pyarrow.parquet as pq

        for index, path in pairs:
            size = 0
            with open(path, "rb") as fh:
                while piece := fh.read(1 << 20):
                    size += len(piece)
            pq.write_table(pa.table({"path": [path], "bytes": [size]}),
                           f"{output}/part-{index:05d}.parquet", compression="zstd")
            yield index, size
    return read_and_write


def floor_job(paths_file: Path, output: Path) -> None:
    """Run under spark-submit: one task per path, then a JSON line with the seconds."""
    from pyspark.sql import SparkSession

    paths = paths_file.read_text().splitlines()
    spark = SparkSession.builder.appName("bench-files-floor").getOrCreate()
    output.mkdir(parents=True, exist_ok=True)
    # Untimed, as curate's check that the driver sees what executors write (a tiny job of
    # one task per registered executor, before the stage's clock starts): the executors'
    # first tasks fetch and unpack the environment archive.
    context = spark.sparkContext
    tasks = max(1, context._jsc.sc().getExecutorMemoryStatus().size() - 1)
    context.parallelize(range(tasks), tasks).map(lambda i: i).collect()
    started = time.monotonic()
    rows = context.parallelize(list(enumerate(paths)), numSlices=len(paths)) \
        .mapPartitions(floor_task(str(output))).collect()
    seconds = time.monotonic() - started
    spark.stop()
    if len(rows) != len(paths) or len(list(output.glob("part-*.parquet"))) != len(paths):
        raise SystemExit(f"floor: {len(rows)} results for {len(paths)} files")
    print(FLOOR_LINE + json.dumps({"seconds": seconds, "files": len(rows),
                                   "bytes": sum(size for _, size in rows)}))


# ------------------------------------------------------------------------ the commands

def submit_prefix(cluster_module, url: str, archive: Path, out: Path):
    """spark-submit's arguments up to the application, and its environment: those of
    bench/cluster.py's command (the archive as ./env, the driver's Python, loopback)."""
    args, env = cluster_module.command(url, archive, [], out)
    return args[:args.index(str(ROOT / "jobs" / "run.py"))], env


def run(args: list[str], env: dict) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    wall = time.monotonic() - started
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"{' '.join(args[-8:])} failed ({done.returncode})")
    return wall, done.stdout


def run_curate(prefix, env, listing: Path, base: Path, n_files: int, out: Path):
    shutil.rmtree(out, ignore_errors=True)
    wall, stdout = run([*prefix, str(ROOT / "jobs" / "extract.py"), str(listing),
                        "--input-base-url", str(base), "--limit", str(n_files),
                        "-o", str(out), "-q"], env)
    report = json.loads((out / "__curate__" / "stage.json").read_text())
    details = report["details"]
    if details["files_read"] != n_files or details["files_failed"]:
        raise SystemExit(f"curate read {details['files_read']} of {n_files} files "
                         f"({details['files_failed']} failed)")
    return {"wall": wall, "seconds": report["seconds"], "rows": report["rows_out"],
            "group": details.get("commit_every"), "parquet": len(list(out.glob("*.parquet")))}


def run_floor(prefix, env, paths: list[str], out: Path):
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    paths_file = out.parent / f"{out.name}.txt"
    paths_file.write_text("".join(p + "\n" for p in paths))
    wall, stdout = run([*prefix, str(Path(__file__).resolve()), "--floor-job",
                        str(paths_file), str(out / "parts")], env)
    line = next(l for l in stdout.splitlines() if l.startswith(FLOOR_LINE))
    found = json.loads(line[len(FLOOR_LINE):])
    return {"wall": wall, "seconds": found["seconds"], "bytes": found["bytes"]}


# ---------------------------------------------------------------- task command sizes

def command_sizes(paths: list[str], group: int) -> dict[str, int]:
    """Pickled bytes of each job's task command (bench/plan.py's stand-in for Spark and
    its pickling) and what curate's job broadcasts for one group of `group` files."""
    import pickle

    sys.path.insert(0, str(ROOT / "bench"))
    from plan import RecordingSpark, task_command

    from curate import schemas
    from curate.options import config_path, resolve_extract
    from curate.sources.listing import task_order
    from curate.stages import extract, task_files

    options = resolve_extract(config_path(None))
    ordered = task_order(paths, options.seed)
    spark = RecordingSpark()
    files = task_files.TaskFiles("/nowhere", schemas.PAIRS, None, "zstd")
    extract._read_files(spark, ordered, 0, min(group, len(ordered)), files, options)
    return {"curate command": len(task_command(spark.function)),
            "curate broadcast (one group)": sum(len(pickle.dumps(b.value)) for b in
                                                spark.broadcasts),
            "floor command": len(task_command(floor_task("/nowhere")))}


# ------------------------------------------------------------------------ the driver

def main() -> None:
    if sys.argv[1:2] == ["--floor-job"]:
        floor_job(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--listing-lines", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--archive", type=Path, default=None,
                        help="an environment archive of scripts/package.py to ship "
                             "(default: build one under --out)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "files")
    args = parser.parse_args()
    out = args.out.resolve()
    sys.path.insert(0, str(ROOT / "bench"))
    import cluster as cluster_bench

    base, listing, paths = build_inputs(out, args.files, args.listing_lines)
    print(f"input: {args.files:,} copies of {SOURCE.name} ({SOURCE.stat().st_size:,} bytes) "
          f"under {base}; listing {listing.name}: {args.listing_lines:,} lines, curate "
          f"keeps the first {args.files:,} (--limit)")
    archive = args.archive
    if archive is None:
        started = time.monotonic()
        archive = cluster_bench._script("package").build(out / "curate-env.tar.gz", None, out)
        print(f"archive: {archive.stat().st_size / 1e6:.1f} MB, built in "
              f"{time.monotonic() - started:.0f} s")
    runs: dict[str, list[dict]] = {"curate extract": [], "floor": []}
    # Each application's executors unpack the archive in the workers' directories (~0.9 GB
    # a run): an earlier run's go first.
    shutil.rmtree(out / "cluster", ignore_errors=True)
    with cluster_bench._script("cluster").StandaloneCluster(out / "cluster") as cluster:
        prefix, env = submit_prefix(cluster_bench, cluster.url, archive, out / "run")
        for _ in range(args.repeat):
            runs["floor"].append(run_floor(prefix, env, paths, out / "floor-run"))
            runs["curate extract"].append(run_curate(prefix, env, listing, base, args.files,
                                                     out / "curate-run"))
    best = {name: min(found, key=lambda r: r["seconds"]) for name, found in runs.items()}
    group = best["curate extract"]["group"]
    n = args.files
    print(f"\ntwo workers, one core each; best of {args.repeat}; curate: "
          f"{best['curate extract']['rows']:,} pairs in {best['curate extract']['parquet']:,} "
          f"Parquet files, groups of {group} files ({-(-n // group)} extract job(s) after the "
          f"output check's); floor: one job "
          f"of {n:,} tasks, {best['floor']['bytes']:,} bytes read")
    print(f"{'run':16s} {'Spark work s':>12s} {'s/file':>8s} {'submit wall s':>14s} "
          f"{'s/file':>8s}")
    for name, found in best.items():
        print(f"{name:16s} {found['seconds']:12.1f} {found['seconds'] / n:8.3f} "
              f"{found['wall']:14.1f} {found['wall'] / n:8.3f}")
    c, f = best["curate extract"], best["floor"]
    print(f"curate over the floor: {(c['seconds'] - f['seconds']) / n * 1000:+.1f} ms a file "
          f"of Spark work ({c['seconds'] / f['seconds']:.2f}x), "
          f"{(c['wall'] - f['wall']) / n * 1000:+.1f} ms a file of submit wall time "
          f"({c['wall'] / f['wall']:.2f}x)")
    for label, size in command_sizes(paths, group).items():
        print(f"{label}: {size:,} bytes pickled")


if __name__ == "__main__":
    sys.exit(main())
