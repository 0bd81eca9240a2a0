"""Cluster benchmark: the whole pipeline on a two-worker standalone cluster (one core each,
scripts/cluster.py, the environment shipped as scripts/package.py's archive) beside the
same `curate run` in local[2], on the same input, in one run; then the cluster run with a
worker SIGKILLed once the dedup stage's tasks write, and once sample's.

Input: bench/pipeline.py's WARC corpus (`--copies`, `--files`). Printed: wall seconds of
each whole command (spark-submit or curate, JVM start included), the seconds of each stage
from its report, and the lost-worker runs' time against the undisturbed cluster run.

    .venv/bin/python bench/cluster.py --copies 8 --files 8
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
STAGE_LINE = re.compile(r"^(extract|dedup|match|count|sample): .*\(([\d.]+) s\) -> ")


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def command(cluster_url: str | None, archive: Path, inputs: list[str], out: Path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")}
    env.update(PATH=f"{Path(sys.executable).parent}:{env['PATH']}", SPARK_LOCAL_IP="127.0.0.1",
               CURATE_LOG=str(out.parent / f"{out.name}.log"))
    if cluster_url is None:
        return [sys.executable, "-m", "curate.cli", "run", *inputs, "-o", str(out),
                "--master", "local[2]", "-q"], env
    return ["spark-submit", "--master", cluster_url, "--archives", f"{archive}#env",
            "--conf", "spark.pyspark.python=./env/bin/python",
            "--conf", f"spark.pyspark.driver.python={sys.executable}",
            "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1",
            str(ROOT / "jobs" / "run.py"), *inputs, "-o", str(out), "-q"], env


def timed(args_env, kill=None) -> tuple[float, dict[str, float]]:
    """Run; with kill=(cluster, directory glob), SIGKILL worker 0 once that glob matches."""
    args, env = args_env
    started = time.monotonic()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, env=env)
    if kill is not None:
        cluster, pattern, root = kill
        while not list(root.glob(pattern)) and process.poll() is None:
            time.sleep(0.02)
        cluster.kill_worker(0)
    out, _ = process.communicate()
    wall = time.monotonic() - started
    if process.returncode != 0:
        raise SystemExit(f"{args[0]} failed ({process.returncode})")
    return wall, {m.group(1): float(m.group(2)) for m in map(STAGE_LINE.match,
                                                             out.splitlines()) if m}


def main() -> None:
    from pipeline import build_corpus

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "cluster")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    paths = [str(p) for p in build_corpus(args.out / "corpus", args.copies, args.files)]
    started = time.monotonic()
    archive = _script("package").build(args.out / "curate-env.tar.gz", None, args.out)
    print(f"archive: {archive.stat().st_size / 1e6:.1f} MB, built in "
          f"{time.monotonic() - started:.0f} s")
    runs = {}
    with _script("cluster").StandaloneCluster(args.out / "cluster") as cluster:
        runs["local[2]"] = timed(command(None, archive, paths, args.out / "local"))
        runs["cluster"] = timed(command(cluster.url, archive, paths, args.out / "cluster-run"))
        for stage, name, writing in (("dedup", "dedup", "_temporary"),
                                     ("sample", "curated", "_attempts")):
            out = args.out / f"lost-{stage}"
            out.mkdir()
            runs[f"cluster, worker lost in {stage}"] = timed(
                command(cluster.url, archive, paths, out / "work"),
                kill=(cluster, f"{name}.incomplete-*/{writing}", out / "work"))
            cluster.restart_worker(0)
    print(f"\n{'run':32s} {'wall s':>7s}  " + "  ".join(f"{s:>7s}" for s in
                                                       ("extract", "dedup", "match", "count",
                                                        "sample")))
    for label, (wall, stages) in runs.items():
        print(f"{label:32s} {wall:7.1f}  " + "  ".join(f"{stages.get(s, 0):7.1f}" for s in
                                                     ("extract", "dedup", "match", "count",
                                                      "sample")))
    base = runs["cluster"][0]
    for label, (wall, _stages) in runs.items():
        print(f"{label:32s} {wall / base:5.2f}x the undisturbed cluster run")


if __name__ == "__main__":
    sys.exit(main())
