"""A whole crawl's cost: core-hours per stage, curate's five beside cc2dataset's extraction
and dedup, from figures measured on this machine.

    .venv/bin/python bench/crawl.py --scale-json bench/out/scale/figures.json
    .venv/bin/python bench/crawl.py --rows 10000000      # runs bench/scale.py itself

Measured here, in this run:
- extract: curate's core (iter_file_pairs) and cc2dataset's `process_wat` [peer venv] on
  bench/extract.py's CommonCrawl-layout WAT, CPU seconds of one process, best of --repeat
  (the two taking turns run by run);
  scaled by the gzipped bytes to a crawl of --wat-files files of --wat-mb MB each;
- dedup, match, count, sample: wall seconds x cores per row from bench/scale.py's largest
  pool (its JSON, or a run of it started here with --rows), and cc2dataset's own dedup
  (its deduplicate_repartition_count) on the same pool; scaled by rows: cc2dataset's pairs
  are --wat-files x --pairs-per-wat, curate's that many times the ratio of the two pair
  counts on the WAT (curate keeps title texts too), and each later stage's rows in follow
  the pool's own ratios (dedup keeps 20%, as cc2dataset's 40B -> 8B; match keeps what the
  metadata matches).

Assumed (flags, printed with their sources):
- --wat-files 90,000: the WAT files of one crawl (recent crawls list ~90,000 in
  wat.paths.gz: 100 segments of ~900 files);
- --pairs-per-wat 300,000: cc2dataset's issue 5 (40B image-text pairs from 130k WAT files);
- --wat-mb 374: CommonCrawl's published table for CC-MAIN-2016-40 (WAT: 30,374 files,
  10.35 TiB), the last crawl announcement here that lists WAT bytes;
- --extract-file-ms: Spark's per-file cost of the extract stage over its core (task,
  commit, footers), from bench/files.py; 0 leaves it out.
Core-seconds of a Spark stage are wall seconds x cores of local mode: idle cores count.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import extract as extract_bench  # noqa: E402  (bench/extract.py)

LATER = ("match", "count", "sample")


def extract_figures(out: Path, records: int, repeat: int) -> dict:
    """CPU seconds per gzipped MB of curate's core and of cc2dataset's process_wat."""
    extract_bench.REPEAT = repeat
    wat, info = extract_bench.wat_corpus(out, records)
    megabytes = wat.stat().st_size / 1e6
    venv = out / "venv-peer"
    down = extract_bench.ensure_peer_venv(venv)
    if down:
        raise SystemExit(f"cc2dataset's venv: {down}")
    # taking turns run by run, as bench/extract.py's lines (the machine's speed drifts)
    both = extract_bench.timed_in_turn({
        "curate": (extract_bench.curate_core, wat),
        "cc2dataset": (extract_bench.run_peer, venv, "cc2dataset", wat)})
    ours, theirs = both["curate"], both["cc2dataset"]
    for name, result in (("curate", ours), ("cc2dataset", theirs)):
        if "error" in result:
            raise SystemExit(f"{name} on {wat}: {result['error']}")
    return {"wat": str(wat), "mb": megabytes, "pages": info["pages"],
            "curate": {"cpu": ours["cpu"], "runs": ours["runs"], "pairs": ours["pairs"]},
            "cc2dataset": {"cpu": theirs["cpu"], "runs": theirs["runs"],
                           "pairs": theirs["pairs"]}}


def scale_figures(args) -> dict:
    if args.scale_json:
        return json.loads(args.scale_json.read_text())
    out = args.out / "crawl-scale.json"
    subprocess.run([sys.executable, str(HERE / "scale.py"), "--rows", str(args.rows),
                    "--cc2dataset-venv", str(args.out / "venv-peer"), "--json", str(out)],
                   check=True)
    return json.loads(out.read_text())


def largest_with(scale: dict, stage: str) -> dict:
    """The largest pool size whose figures hold `stage`."""
    sizes = [s for s in scale["sizes"] if stage in s["stages"]]
    if not sizes:
        raise SystemExit(f"the scale figures have no {stage!r} line (cc2dataset's: run "
                         f"bench/scale.py with --cc2dataset-venv)")
    return max(sizes, key=lambda s: s["rows"])


def crawl_table(extract: dict, scale: dict, args) -> list[dict]:
    stages = largest_with(scale, "dedup")["stages"]

    def per_row(stage):   # core-seconds per row in, at the largest size that ran it
        size = largest_with(scale, stage)
        figures = size["stages"][stage]
        return figures["seconds"] * size["cores"] / figures["rows_in"]

    crawl_mb = args.wat_files * args.wat_mb
    their_pairs = args.wat_files * args.pairs_per_wat
    # curate keeps more pairs per page than cc2dataset (title texts too, blank alts not):
    # its later stages get the crawl's pairs in the ratio both gave on the same WAT.
    pairs = their_pairs * extract["curate"]["pairs"] / extract["cc2dataset"]["pairs"]
    rows = {"dedup": pairs}
    rows["match"] = pairs * stages["dedup"]["rows_out"] / stages["dedup"]["rows_in"]
    for stage in ("count", "sample"):
        rows[stage] = rows["match"] * stages[stage]["rows_in"] / stages["match"]["rows_in"]
    ours_extract = extract["curate"]["cpu"] / extract["mb"] * crawl_mb \
        + args.wat_files * args.extract_file_ms / 1000
    lines = [{"stage": "extract", "units": f"{args.wat_files:,} WAT ({crawl_mb / 1e6:,.1f} TB)",
              "ours": ours_extract,
              "theirs": extract["cc2dataset"]["cpu"] / extract["mb"] * crawl_mb},
             {"stage": "dedup", "units": f"{pairs / 1e9:,.1f}B pairs "
                                         f"(cc2dataset {their_pairs / 1e9:,.1f}B)",
              "ours": per_row("dedup") * pairs,
              "theirs": per_row("cc2dataset dedup") * their_pairs}]
    lines += [{"stage": stage, "units": f"{rows[stage] / 1e9:,.2f}B rows",
               "ours": per_row(stage) * rows[stage], "theirs": None} for stage in LATER]
    return lines


def print_table(lines: list[dict], extract: dict, scale: dict, args) -> dict:
    largest = max(scale["sizes"], key=lambda s: s["rows"])
    print(f"extract: {extract['wat']} ({extract['mb']:.1f} MB gz, {extract['pages']:,} pages); "
          f"curate {extract['curate']['cpu']:.2f} CPU-s ({extract['curate']['pairs']:,} pairs), "
          f"cc2dataset process_wat {extract['cc2dataset']['cpu']:.2f} CPU-s "
          f"({extract['cc2dataset']['pairs']:,} pairs), best of {args.repeat}")
    theirs = largest_with(scale, "cc2dataset dedup")
    print(f"later stages: bench/scale.py at {largest['rows']:,} rows, local[{largest['cores']}], "
          f"driver {largest['driver_memory']}; cc2dataset's dedup at {theirs['rows']:,} rows")
    print(f"crawl: {args.wat_files:,} WAT files x {args.wat_mb:,.0f} MB, "
          f"{args.pairs_per_wat:,} pairs per WAT; extract's Spark cost per file "
          f"{args.extract_file_ms:.0f} ms\n")
    print("| stage | one crawl | curate core-hours | cc2dataset core-hours |")
    print("|---|---|---:|---:|")
    for line in lines:
        theirs = "-" if line["theirs"] is None else f"{line['theirs'] / 3600:,.0f}"
        print(f"| {line['stage']} | {line['units']} | {line['ours'] / 3600:,.0f} | {theirs} |")
    ours = sum(line["ours"] for line in lines)
    extraction = lines[0]["theirs"]
    theirs = sum(line["theirs"] for line in lines if line["theirs"] is not None)
    print(f"| **total** | | **{ours / 3600:,.0f}** | **{theirs / 3600:,.0f}** "
          f"(extraction alone {extraction / 3600:,.0f}) |")
    verdict = "PASS" if ours <= extraction else "MISS"
    print(f"\ncurate's five stages / cc2dataset's extraction alone: {ours / extraction:.2f} "
          f"(target <= 1.00) {verdict}")
    return {"lines": lines, "ours": ours, "cc2dataset_extraction": extraction,
            "cc2dataset_total": theirs, "pass": ours <= extraction}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale-json", type=Path, help="bench/scale.py --json output "
                        "(run with --cc2dataset-venv); without it, --rows runs it here")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--wat-records", type=int, default=60_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--wat-files", type=int, default=90_000)
    parser.add_argument("--wat-mb", type=float, default=374.0)
    parser.add_argument("--pairs-per-wat", type=int, default=300_000)
    parser.add_argument("--extract-file-ms", type=float, default=0.0)
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    extract = extract_figures(args.out, args.wat_records, args.repeat)
    scale = scale_figures(args)
    result = print_table(crawl_table(extract, scale, args), extract, scale, args)
    if args.json:
        args.json.write_text(json.dumps({"extract": extract, **result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
