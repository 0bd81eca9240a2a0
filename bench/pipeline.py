"""Pipeline benchmark: every stage beside a floor measured in the same run.

Corpus: a gzipped WARC built from the 181 real news pages in ../shared/data/html (3,808
<img>), replicated under varied hosts (`--copies`) and split over `--files` files.

Printed, per core:
- extract core (pure Python, one process, CPU seconds): pages/s, pairs/s, MB/s compressed
  and uncompressed, beside the floor of only reading every record's payload with warcio;
- the extract stage on Spark over that corpus (wall seconds x cores), committing all files
  at once and in `--groups` groups (the resumable commit), taking turns `--repeat` times;
- dedup, match, count and sample on Spark over a pool of `--rows` pairs whose texts are the
  real captions and alt texts (1 row in 5 repeats an earlier (image, text), so dedup has work),
  each beside a Spark pass that reads the same input and writes it back unchanged.

    .venv/bin/python bench/pipeline.py --copies 8 --files 4 --rows 2000000
    .venv/bin/python bench/pipeline.py --copies 16 --files 64 --extract-only --groups 8
"""
from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "html"


def build_corpus(out: Path, copies: int, files: int) -> list[Path]:
    truth = json.loads((DATA / "ground-truth.json").read_text("utf-8"))
    pages = [(truth[f.name[:-len(".html.gz")]]["url"], gzip.open(f).read())
             for f in sorted((DATA / "html").glob("*.html.gz"))]
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"bench-{i:02d}.warc.gz" for i in range(files)]
    streams = [open(p, "wb") for p in paths]
    writers = [WARCWriter(s, gzip=True) for s in streams]
    n = 0
    for copy in range(copies):
        for url, html in pages:
            parts = urlsplit(url)
            page_url = urlunsplit(parts._replace(netloc=f"c{copy}.{parts.netloc}"))
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                                  ("Content-Length", str(len(html)))],
                                       protocol="HTTP/1.1")
            record = writers[n % files].create_warc_record(
                page_url, "response", payload=io.BytesIO(html), http_headers=headers)
            writers[n % files].write_record(record)
            n += 1
    for s in streams:
        s.close()
    return paths


def floor_read(path: Path) -> tuple[int, int]:
    """Read every record's payload, parse nothing: what any extractor must pay."""
    records = payload = 0
    with open(path, "rb") as f:
        for record in ArchiveIterator(f):
            payload += len(record.content_stream().read())
            records += 1
    return records, payload


def bench_extract_core(paths: list[Path]) -> None:
    from curate.core.extract.records import FileReport, iter_file_pairs

    compressed = sum(p.stat().st_size for p in paths)
    started = time.process_time()
    records = payload = 0
    for p in paths:
        r, b = floor_read(p)
        records, payload = records + r, payload + b
    floor_cpu = time.process_time() - started

    started = time.process_time()
    pairs = pages = 0
    for p in paths:
        report = FileReport()
        pairs += sum(1 for _ in iter_file_pairs(str(p), report))
        pages += report.counters["records_used"]
    ours_cpu = time.process_time() - started
    print(f"corpus: {len(paths)} files, {records} records, {compressed / 1e6:.1f} MB gz, "
          f"{payload / 1e6:.1f} MB payload")
    print(f"{'extract core (1 core, CPU s)':40s} {'pages/s':>9s} {'pairs/s':>9s} "
          f"{'MB/s gz':>8s} {'MB/s raw':>9s}")
    print(f"{'  floor: warcio read payloads':40s} {records / floor_cpu:9.0f} {'-':>9s} "
          f"{compressed / 1e6 / floor_cpu:8.2f} {payload / 1e6 / floor_cpu:9.2f}")
    print(f"{'  curate: iter_file_pairs':40s} {pages / ours_cpu:9.0f} {pairs / ours_cpu:9.0f} "
          f"{compressed / 1e6 / ours_cpu:8.2f} {payload / 1e6 / ours_cpu:9.2f}")
    print(f"  ratio curate / floor (time): {ours_cpu / floor_cpu:.2f}x")


def bench_spark_extract(spark, paths: list[Path], work: Path, cores: int,
                        groups: int, repeat: int) -> None:
    """The extract stage committing all files at once (one group) and in `groups` groups
    (one Spark job and commit each, what makes a killed run resumable), taking turns
    `repeat` times; the best wall time of each counts."""
    from curate import api
    from curate.options import ExtractOptions

    compressed = sum(p.stat().st_size for p in paths)
    every = {"one group": len(paths), f"{groups} groups": max(1, -(-len(paths) // groups))}
    best: dict[str, float] = {}
    for turn in range(repeat):
        for label, commit_every in every.items():
            out = work / "pairs"
            shutil.rmtree(out, ignore_errors=True)
            started = time.monotonic()
            report = api.extract([str(p) for p in paths], str(out),
                                 ExtractOptions(commit_every=commit_every), session=spark)
            seconds = time.monotonic() - started
            best[label] = min(best.get(label, seconds), seconds)
            print(f"  extract, {label:10s} turn {turn}: {seconds:6.2f} s wall")
    pages = report.details["records_used"]
    print(f"\nSpark local[{cores}] extract ({len(paths)} files), best of {repeat}:")
    for label, seconds in best.items():
        print(f"  {label:12s} {pages / (seconds * cores):7.0f} pages/s/core, "
              f"{report.rows_out / (seconds * cores):7.0f} pairs/s/core, "
              f"{compressed / 1e6 / (seconds * cores):5.2f} MB/s/core gz ({seconds:.2f} s)")
    one, many = best.values()
    print(f"  committing in groups costs {many / one - 1:+.1%} of the time of one group")


def build_pool(spark, work: Path, n_rows: int) -> str:
    """A pairs table of n_rows real texts (captions + the corpus' alt texts)."""
    import csv

    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate import schemas

    with open(DATA.parent / "captions" / "Validation_GCC-1.1.0-Validation.tsv",
              encoding="utf-8", newline="") as f:
        texts = [row[0] for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    texts += pq.read_table(work / "pairs", columns=["text"])["text"].to_pylist()
    out = work / "pool"
    out.mkdir(parents=True, exist_ok=True)
    chunk = 250_000
    for start in range(0, n_rows, chunk):
        ids = range(start, min(n_rows, start + chunk))
        # Every fifth row repeats the (image, text) of the row four before it.
        source = [i - 4 if i % 5 == 4 else i for i in ids]
        images = [f"{j:024x}" for j in source]
        columns = {name: [None] * len(ids) for name in schemas.PAIRS.names}
        columns.update(image_uuid=images, url=[f"http://img.example/{u}.jpg" for u in images],
                       text=[texts[j % len(texts)] for j in source], text_source=["alt"] * len(ids),
                       source_path=["bench"] * len(ids))
        pq.write_table(pa.table(columns, schema=schemas.PAIRS), out / f"part-{start:09d}.parquet")
    return str(out)


def bench_spark_stages(spark, pool: str, work: Path, cores: int) -> None:
    from curate import api

    d = {name: str(work / name) for name in ("dedup", "matched", "counts", "curated")}
    steps = [
        ("dedup", pool, lambda: api.dedup(pool, d["dedup"], session=spark)),
        ("match", d["dedup"], lambda: api.match(d["dedup"], d["matched"], session=spark)),
        ("count", d["matched"], lambda: api.count(d["matched"], d["counts"], session=spark)),
        ("sample", d["matched"], lambda: api.sample(d["matched"], d["curated"], session=spark,
                                                    counts=d["counts"])),
    ]
    print(f"\nSpark local[{cores}], per core    rows in   stage rows/s   floor rows/s   "
          f"stage/floor time")
    for stage, source, step in steps:
        started = time.monotonic()
        report = step()
        seconds = time.monotonic() - started
        floor_seconds = _floor_pass(spark, source, str(work / f"floor-{stage}"))
        print(f"  {stage:8s} {report.rows_in:>24d} {report.rows_in / (seconds * cores):14.0f} "
              f"{report.rows_in / (floor_seconds * cores):14.0f} "
              f"{seconds / floor_seconds:17.2f}x")


def _floor_pass(spark, source: str, out: str) -> float:
    """Read a stage's input and write it back unchanged: the cost of any Spark stage."""
    started = time.monotonic()
    spark.read.parquet(source).write.mode("overwrite").parquet(out)
    return time.monotonic() - started


def main() -> None:
    from curate.stages.session import get_spark

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--groups", type=int, default=8,
                        help="extract is also timed committing in this many groups")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--extract-only", action="store_true")
    args = parser.parse_args()
    paths = build_corpus(args.out / "corpus", args.copies, args.files)
    bench_extract_core(paths)
    work = args.out / "work"
    shutil.rmtree(work, ignore_errors=True)
    spark = get_spark(f"local[{args.cores}]")
    spark.range(1000).count()   # start the JVM before any clock runs
    bench_spark_extract(spark, paths, work, args.cores, args.groups, args.repeat)
    if args.extract_only:
        return
    bench_spark_stages(spark, build_pool(spark, work, args.rows), work, args.cores)


if __name__ == "__main__":
    sys.exit(main())
