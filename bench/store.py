"""Object-store benchmark: the same `curate run` on local disk and on an S3-compatible
store, in one run.

Corpus: bench/pipeline.py's WARC corpus (`--copies`, `--files`). Store: moto's S3 server
on 127.0.0.1 in this process (the one S3 this machine can run: a Python server, far
slower than S3 itself and sharing the machine's cores with Spark, so the figures bound
what curate's own object-store path costs from above). Each run is `curate run` in a
process of its own, as a user starts it, with hadoop-aws on Spark's classpath in both.
The local run reads the corpus from disk and writes to disk; the S3 run reads the same
files as s3:// keys and writes every stage output to s3a://. The input upload is not
timed.

Printed: per stage, the seconds each run's stage report gives and their ratio, the wall
time of each whole command, and what the S3 run asked of the store (requests by method).

    .venv/bin/python bench/store.py --copies 8 --files 8
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

BUCKET = "bench"
STAGE_LINE = re.compile(r"^(extract|dedup|match|count|sample): .*\(([\d.]+) s\) -> ")


def hadoop_aws() -> str:
    import pyspark
    (jar,) = (Path(pyspark.__file__).parent / "jars").glob("hadoop-client-api-*.jar")
    return "org.apache.hadoop:hadoop-aws:" + jar.stem.removeprefix("hadoop-client-api-")


def curate_run(inputs: list[str], output: str, cores: int, endpoint: str | None,
               log: Path) -> tuple[float, dict[str, float]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
               AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
               NO_PROXY="127.0.0.1", CURATE_LOG=str(log))
    args = [sys.executable, "-m", "curate.cli", "run", *inputs, "-o", output,
            "--master", f"local[{cores}]", "--conf", f"spark.jars.packages={hadoop_aws()}"]
    if endpoint:
        args += ["--s3-endpoint-url", endpoint]
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"curate run failed ({done.returncode}): {done.stderr[-2000:]}")
    stages = {m.group(1): float(m.group(2)) for m in map(STAGE_LINE.match,
                                                         done.stdout.splitlines()) if m}
    return wall, stages


def main() -> None:
    from conftest_servers import put_files
    from pipeline import build_corpus
    from servers import MotoS3, S3Front

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "store")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    paths = build_corpus(args.out / "corpus", args.copies, args.files)
    size = sum(p.stat().st_size for p in paths)
    print(f"corpus: {len(paths)} files, {size / 1e6:.1f} MB gz; local[{args.cores}]")

    local_wall, local = curate_run([str(p) for p in paths], str(args.out / "work"),
                                   args.cores, None, args.out / "local.log")
    with MotoS3() as moto, S3Front(moto.url) as front:
        put_files(moto.url, BUCKET, {f"in/{p.name}": p for p in paths})
        front.reset()   # count only the run's requests, through a counting front
        s3_wall, s3 = curate_run([f"s3://{BUCKET}/in/"], f"s3a://{BUCKET}/work", args.cores,
                                 front.url, args.out / "s3.log")
        methods = Counter(seen.method for seen in front.requests())

    print(f"\n{'stage':8s} {'local s':>8s} {'S3 s':>8s} {'S3 / local':>11s}")
    for stage in ("extract", "dedup", "match", "count", "sample"):
        print(f"{stage:8s} {local[stage]:8.2f} {s3[stage]:8.2f} {s3[stage] / local[stage]:10.2f}x")
    print(f"{'stages':8s} {sum(local.values()):8.2f} {sum(s3.values()):8.2f} "
          f"{sum(s3.values()) / sum(local.values()):10.2f}x")
    print(f"{'command':8s} {local_wall:8.2f} {s3_wall:8.2f} {s3_wall / local_wall:10.2f}x"
          "   (wall, JVM start and hadoop-aws resolution included)")
    print("S3 requests of the run: " + ", ".join(f"{m} {n}" for m, n in methods.most_common()))


if __name__ == "__main__":
    sys.exit(main())
