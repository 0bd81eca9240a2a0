"""`curate run` end to end on the bundled CommonCrawl sample, through the CLI entry point,
in this test run's SparkSession; then the single-stage commands on its outputs."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from contextlib import redirect_stderr
from io import StringIO

import numpy as np
import pandas as pd
import pytest

from curate import schemas
from curate.core import lid
from cli_helpers import assert_verified, run_cli
from curate.core.matching import Matcher
from curate.core.metadata import load_metadata
from curate.core.sampling import keep_probabilities
from curate.core.reference import keep_pair, text_draw
from curate.stages.io import REPORT_FILE, read_report

STAGES = [("extract", "pairs"), ("dedup", "dedup"), ("match", "matched"), ("count", "counts"),
          ("sample", "curated")]


@pytest.fixture(scope="module")
def run_stderr(spark, tmp_path_factory):
    """The work directory of `curate run` and what it wrote on stderr."""
    work = tmp_path_factory.mktemp("work")
    with redirect_stderr(StringIO()) as err:
        assert run_cli("run", "-o", str(work)) == 0
    return work, err.getvalue()


@pytest.fixture(scope="module")
def workdir(run_stderr):
    return run_stderr[0]


def read(workdir, name) -> pd.DataFrame:
    return pd.read_parquet(workdir / name)


def test_curate_verify_passes_on_the_run(workdir, capsys):
    assert_verified(workdir)
    capsys.readouterr()
    assert run_cli("verify", str(workdir)) == 0
    assert [line.split()[:2] for line in capsys.readouterr().out.splitlines()] == [
        [name, "ok"] for name in ("complete", "inputs", "dedup", "match", "counts",
                                  "curated", "lineage", "stray")]


def test_every_stage_output_exists_with_its_schema(workdir):
    for (_stage, name), schema in zip(STAGES, [schemas.PAIRS, schemas.DEDUP, schemas.MATCHED,
                                               schemas.COUNTS, schemas.CURATED]):
        assert list(read(workdir, name).columns) == schema.names
        assert (workdir / name / REPORT_FILE).is_file()
    assert sorted(os.listdir(workdir)) == sorted(name for _s, name in STAGES)


def test_row_counts_add_up_across_stages(workdir):
    reports = {stage: read_report(str(workdir / name)) for stage, name in STAGES}
    sizes = {name: len(read(workdir, name)) for _s, name in STAGES}
    for report in reports.values():
        assert report.rows_in == report.rows_out + sum(report.dropped.values())
    assert reports["extract"].rows_out == sizes["pairs"] > 0
    assert reports["dedup"].rows_in == sizes["pairs"]
    assert reports["dedup"].rows_out == sizes["dedup"] == reports["match"].rows_in
    assert reports["dedup"].details["ranges"] == "from image_uuid's hex (no sampling)"
    assert reports["match"].rows_out == sizes["matched"] == reports["count"].rows_in
    assert reports["sample"].rows_in == sizes["matched"]
    assert reports["sample"].rows_out == sizes["curated"]
    assert reports["extract"].details["files"] == 2
    assert reports["extract"].details["files_failed"] == 0


def test_each_stage_ends_with_a_progress_line_of_its_tasks_and_rows(run_stderr):
    """No terminal, stages shorter than the 30 s interval: each stage's last progress line
    has every task done, ETA 0:00 and, where its tasks count them, its rows out."""
    workdir, err = run_stderr
    last = {}
    for line in err.splitlines():
        stage, _, rest = line.partition(": ")
        if re.match(r"\d+/\d+ tasks", rest):
            last[stage] = rest
    assert list(last) == [stage for stage, _name in STAGES]
    for stage, name in STAGES:
        done, total = map(int, re.match(r"(\d+)/(\d+) tasks, ", last[stage]).groups())
        assert done == total > 0 and last[stage].endswith(" elapsed, ETA 0:00"), last[stage]
        rows = re.search(r", ([\d,]+) rows \(", last[stage])
        if stage == "dedup":   # Spark's own writer: tasks only
            assert rows is None
        else:
            assert int(rows.group(1).replace(",", "")) == \
                read_report(str(workdir / name)).rows_out, stage
    assert "2/2 files" in last["extract"]


def test_dedup_keeps_each_distinct_image_text_once(workdir):
    pairs, dedup = read(workdir, "pairs"), read(workdir, "dedup")
    distinct = pairs.drop_duplicates(["image_uuid", "text"])
    assert len(dedup) == len(distinct) < len(pairs)   # the WARC and WAT share pages
    assert not dedup.duplicated(["image_uuid", "text"]).any()
    assert set(zip(dedup.image_uuid, dedup.text)) == set(zip(distinct.image_uuid, distinct.text))


def image_ranges(directory) -> list[tuple[str, str]]:
    """(first, last) image_uuid of each non-empty Parquet file, each asserted sorted."""
    ranges = []
    for file in sorted(directory.glob("*.parquet")):
        uuids = pd.read_parquet(file, columns=["image_uuid"]).image_uuid.tolist()
        assert uuids == sorted(uuids), file
        if uuids:
            ranges.append((uuids[0], uuids[-1]))
    return sorted(ranges)


def test_dedup_and_match_write_sorted_disjoint_image_ranges(spark, workdir, tmp_path):
    """dedup's files hold disjoint image_uuid ranges, each file sorted, and match keeps
    that, file by file: so sample picks one text per image in whole files, no shuffle.
    Again with the shuffle's 8 partitions kept apart (AQE makes one of this small input),
    so there are several files, and match writes one file of each."""
    from curate.stages.sample import files_hold_disjoint_images

    key = "spark.sql.adaptive.coalescePartitions.enabled"
    spark.conf.set(key, "false")
    try:
        assert run_cli("dedup", str(workdir / "pairs"), "-o", str(tmp_path / "dedup")) == 0
        assert run_cli("match", str(tmp_path / "dedup"), "-o", str(tmp_path / "matched")) == 0
    finally:
        spark.conf.unset(key)
    for work in (workdir, tmp_path):
        for name in ("dedup", "matched"):
            ranges = image_ranges(work / name)
            assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:])), (work, name)
            assert files_hold_disjoint_images(str(work / name))
    dedup, matched = image_ranges(tmp_path / "dedup"), image_ranges(tmp_path / "matched")
    assert len(dedup) == len(matched) == 8
    assert all(d[0] <= m[0] <= m[1] <= d[1] for d, m in zip(dedup, matched))
    # (the default recipe, metaclip1, samples per pair: --unit image picks texts)
    assert run_cli("sample", str(workdir / "matched"), "--counts", str(workdir / "counts"),
                   "-o", str(tmp_path / "curated"), "--unit", "image") == 0
    summary = json.loads((tmp_path / "curated" / "__curate__/summary.json").read_text())
    assert summary["image_pick"] == "sorted_files"


def test_matched_and_counts_equal_the_pure_matcher(workdir):
    """The default run is MetaCLIP v1: texts identified as English, v1 keys."""
    matcher = Matcher(load_metadata(None).entries, "v1")
    dedup, matched = read(workdir, "dedup"), read(workdir, "matched")
    english = [lid.metadata_language(code, {"en"}) == "en"
               for code in lid.identify(dedup.text.tolist())]
    expected = {(u, t): matcher.match(t) for u, t, en in
                zip(dedup.image_uuid, dedup.text, english) if en}
    n_english = len(expected)
    expected = {k: v for k, v in expected.items() if v}
    assert (matched.lang == "en").all()
    report = read_report(str(workdir / "matched"))
    assert report.dropped["no_match:en"] == n_english - len(expected)
    assert sum(v for k, v in report.dropped.items() if k.startswith("no_metadata:")) == \
        len(dedup) - n_english > 0
    got = {(u, t): list(ids) for u, t, ids in
           zip(matched.image_uuid, matched.text, matched.matched_entry_ids)}
    assert got == expected
    counts = read(workdir, "counts").sort_values("entry_id")
    entries = load_metadata(None).entries
    assert len(counts) == len(entries) and (counts.lang == "en").all()
    assert counts.entry.tolist() == list(entries)
    flat = [e for ids in expected.values() for e in ids]
    assert counts["count"].tolist() == np.bincount(flat, minlength=len(entries)).tolist()
    summary = json.loads((workdir / "counts" / "__curate__/summary.json").read_text())["languages"]["en"]
    assert summary["matched_texts"] == len(expected)
    assert summary["texts"] == n_english
    assert summary["total_matches"] == len(flat)


def test_sample_stage_follows_the_rule_for_a_small_t(workdir):
    matched = read(workdir, "matched")
    # With the default t every entry of this small sample is tail: every matched pair is
    # kept (unit "pair", the default recipe metaclip1's); each image has one matched text.
    assert len(read(workdir, "curated")) == len(matched) == matched.image_uuid.nunique()
    counts = read(workdir, "counts").sort_values("entry_id")["count"].to_numpy()
    p = keep_probabilities(counts, 5)
    rows = list(zip(matched.image_uuid, matched.text, matched.matched_entry_ids))
    drawn = {}
    for u, t, ids in rows:
        if u not in drawn or text_draw(3, u, t) < text_draw(3, u, drawn[u][0]):
            drawn[u] = (t, list(ids))
    expected = {
        "pair": {(u, t) for u, t, ids in rows if keep_pair(3, u, t, list(ids), p)},
        "image": {(u, t) for u, (t, ids) in drawn.items() if keep_pair(3, u, t, ids, p)},
    }
    for unit, want in expected.items():
        out = workdir.parent / f"curated_t5_{unit}"
        assert run_cli("sample", str(workdir / "matched"), "--counts", str(workdir / "counts"),
                       "-o", str(out), "--t", "5", "--seed", "3", "--unit", unit) == 0
        curated = pd.read_parquet(out)
        assert set(zip(curated.image_uuid, curated.text)) == want
        assert 0 < len(want) < len(rows)


def test_sample_of_unsorted_input_shuffles_to_the_same_rows(workdir, tmp_path, capsys):
    """The matched rows in no order by image_uuid (two files that both span the whole
    range): --unit image groups the texts by a shuffle instead, says so, and keeps the
    very rows of the run's sample (each image has one matched text, all of them tail)."""
    matched = read(workdir, "matched").sample(frac=1.0, random_state=1)
    unsorted = tmp_path / "matched"
    unsorted.mkdir()
    for k, part in enumerate((matched.iloc[::2], matched.iloc[1::2])):
        part.to_parquet(unsorted / f"part-{k}.parquet", index=False)
    # The run's matched rows laid out anew: its report comes along, so its counts apply.
    (unsorted / "__curate__").mkdir()
    (unsorted / REPORT_FILE).write_bytes((workdir / "matched" / REPORT_FILE).read_bytes())
    capsys.readouterr()
    assert run_cli("sample", str(unsorted), "--counts", str(workdir / "counts"),
                   "-o", str(tmp_path / "curated"), "--unit", "image") == 0
    assert "grouped each image's texts by a shuffle" in capsys.readouterr().out
    summary = json.loads((tmp_path / "curated" / "__curate__/summary.json").read_text())
    assert summary["image_pick"] == "shuffle"
    got, want = pd.read_parquet(tmp_path / "curated"), read(workdir, "curated")
    assert set(zip(got.image_uuid, got.text)) == set(zip(want.image_uuid, want.text))


def test_curated_rows_carry_their_provenance(workdir):
    """Each curated row is a matched row, its page, crawl and fetch time included."""
    curated, matched = read(workdir, "curated"), read(workdir, "matched")
    columns = ["image_uuid", "text", "url", "page_url", "crawl", "fetch_time"]
    joined = curated[columns].merge(matched[columns], on=columns, how="left", indicator=True)
    assert (joined["_merge"] == "both").all() and len(joined) == len(curated) > 0
    assert curated["page_url"].notna().all() and curated["crawl"].notna().all()


def test_rerunning_a_stage_replaces_its_output(workdir):
    out = workdir.parent / "dedup_again"
    for _ in range(2):
        assert run_cli("dedup", str(workdir / "pairs"), "-o", str(out)) == 0
    again, first = pd.read_parquet(out), read(workdir, "dedup")
    key = ["image_uuid", "text"]
    assert len(again) == len(first)
    pd.testing.assert_frame_equal(again.sort_values(key).reset_index(drop=True),
                                  first.sort_values(key).reset_index(drop=True))
    assert not [p for p in os.listdir(workdir.parent) if ".incomplete-" in p
                or ".replaced-" in p]


def test_overwrite_replaces_a_foreign_directory_and_a_rerun_of_run_its_own(workdir, tmp_path,
                                                                          capsys):
    """--overwrite is the one way to replace a directory dedup did not write; `curate run`
    into its own earlier work directory replaces each stage's output (the guard sees
    their reports) and refuses a stage directory someone else filled."""
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert run_cli("dedup", str(workdir / "pairs"), "-o", str(foreign)) == 2
    assert (foreign / "notes.txt").exists()
    assert run_cli("dedup", str(workdir / "pairs"), "-o", str(foreign), "--overwrite") == 0
    assert not (foreign / "notes.txt").exists()
    assert len(pd.read_parquet(foreign)) == len(read(workdir, "dedup"))
    (workdir.parent / "w2").mkdir()
    (workdir.parent / "w2" / "curated").mkdir()
    (workdir.parent / "w2" / "curated" / "keep.txt").write_text("mine")
    capsys.readouterr()
    assert run_cli("run", "-o", str(workdir.parent / "w2")) == 2
    assert "w2/curated already holds 1 entry (keep.txt)" in capsys.readouterr().err
    assert sorted(os.listdir(workdir.parent / "w2")) == ["curated"]   # nothing was run


def test_count_refuses_other_metadata_than_match_used(workdir, tmp_path, capsys):
    other = tmp_path / "other.txt"
    other.write_text("photo\ncat\n", "utf-8")
    code = run_cli("count", str(workdir / "matched"), "-o", str(tmp_path / "c"),
                   "--metadata", str(other))
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "is not the metadata" in err and "Traceback" not in err
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("args, message", [
    (["extract", "/nonexistent/crawl.warc.gz", "-o", "x"], "no such file"),
    (["dedup", "/nonexistent/pairs", "-o", "x"], "does not exist"),
    (["sample", ".", "--counts", ".", "-o", "x", "--t", "0"], "--t"),
    (["match", ".", "-o", "x", "--metadata", "/nonexistent.json"], "does not exist"),
    (["run", "-o", "x", "--bogus"], "No such option"),
    (["run", "-o", "x", "--conf", "novalue"], "KEY=VALUE"),
])
def test_user_errors_are_one_line_and_exit_2(args, message, tmp_path):
    done = subprocess.run([sys.executable, "-m", "curate.cli", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and message in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_every_command_has_help_with_an_example():
    for command in ["extract", "dedup", "match", "count", "sample", "run", "verify"]:
        done = subprocess.run([sys.executable, "-m", "curate.cli", command, "--help"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0
        assert f"Example:  curate {command}" in done.stdout


def test_jobs_take_the_same_options_as_the_cli():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for command in ["extract", "dedup", "match", "count", "sample", "run"]:
        job = subprocess.run([sys.executable, os.path.join(root, "jobs", f"{command}.py"),
                              "--help"], capture_output=True, text=True, timeout=60)
        cli = subprocess.run([sys.executable, "-m", "curate.cli", command, "--help"],
                             capture_output=True, text=True, timeout=60)
        assert job.returncode == cli.returncode == 0
        assert job.stdout == cli.stdout
