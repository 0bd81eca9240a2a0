"""Extraction that survives its driver: `curate extract` killed (SIGKILL of its whole
process group: the driver, the JVM and the Python workers) after some groups of input
files were committed, then the same command again. The inputs are served over HTTP on
loopback, so the server's log shows which files the second run read."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pyarrow.parquet as pq

from cli_helpers import assert_verified, run_cli
from curate.stages.extract import GROUPS_DIR
from curate.stages.io import REPORT_FILE, read_report

FILES = ["commoncrawl/CC-MAIN-2020-34-sample.warc.gz",
         "commoncrawl/CC-MAIN-2024-22-whirlwind.warc.gz",
         "webarchives/IAH-urls-wget.warc.gz", "webarchives/clipped.warc.gz",
         "webarchives/clueweb-quirk.warc.gz", "webarchives/sample-0000.warc.gz",
         "webarchives/sample-0001.warc.gz", "webarchives/iana.warc.gz"]


def files_of(output) -> dict[str, pd.DataFrame]:
    return {p.name: pq.read_table(p).to_pandas() for p in sorted(output.glob("*.parquet"))}


def test_a_killed_extract_goes_on_where_it_stopped(spark, data_server, tmp_path):
    urls = [f"{data_server.url}/{name}" for name in FILES]
    out = tmp_path / "pairs"
    groups = tmp_path / "pairs.incomplete" / GROUPS_DIR
    killed = subprocess.Popen(
        [sys.executable, "-m", "curate.cli", "extract", *urls, "-o", str(out),
         "--commit-every", "1", "--master", "local[1]"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "CURATE_LOG": str(tmp_path / "killed.log")})
    try:
        deadline = time.monotonic() + 600
        while len(list(groups.glob("*.json"))) < 3:
            assert killed.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait()
    committed = len(list(groups.glob("*.json")))
    assert 3 <= committed < len(FILES) and not out.exists()

    before = len(data_server.requests())
    assert run_cli("extract", *urls, "-o", str(out), "--commit-every", "1") == 0
    report = read_report(str(out))
    assert report.details["files_resumed"] == committed
    read_again = {seen.path.lstrip("/") for seen in data_server.requests()[before:]}
    assert len(read_again) == len(FILES) - committed   # the committed files were not read

    whole = tmp_path / "whole"
    assert run_cli("extract", *urls, "-o", str(whole), "--commit-every", "3") == 0
    first, second = files_of(out), files_of(whole)
    assert list(first) == list(second) and len(first) >= 6
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name])
    assert read_report(str(whole)).details["files_resumed"] == 0
    assert report.rows_out == read_report(str(whole)).rows_out > 0
    assert not (tmp_path / "pairs.incomplete").exists()


def test_run_resume_after_a_kill_during_match_keeps_extract_and_dedup(spark, tmp_path,
                                                                      capsys):
    """`curate run` killed once dedup is complete (while match starts), then `curate run
    --resume`: extract and dedup are kept (their reports' ids unchanged), match, count and
    sample run, and the curated rows equal an uninterrupted run's."""
    work = tmp_path / "work"
    killed = subprocess.Popen(
        [sys.executable, "-m", "curate.cli", "run", "-o", str(work), "--master", "local[1]"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "CURATE_LOG": str(tmp_path / "killed.log")})
    try:
        deadline = time.monotonic() + 600
        while not (work / "dedup" / REPORT_FILE).exists():
            assert killed.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait()
    assert not (work / "matched" / REPORT_FILE).exists()
    kept = {name: read_report(str(work / name)).id for name in ("pairs", "dedup")}

    capsys.readouterr()
    assert run_cli("run", "-o", str(work), "--resume") == 0
    printed = capsys.readouterr().out
    assert "extract: kept from an earlier run" in printed
    assert "dedup: kept from an earlier run" in printed
    assert "match: kept" not in printed and "sample: kept" not in printed
    assert {name: read_report(str(work / name)).id for name in kept} == kept
    assert read_report(str(work / "matched")).made_from == {"dedup": kept["dedup"]}
    assert_verified(work)   # kept and new outputs make one coherent run

    whole = tmp_path / "whole"
    assert run_cli("run", "-o", str(whole)) == 0
    key = ["image_uuid", "text"]
    got, want = (pd.read_parquet(w / "curated").sort_values(key, ignore_index=True)
                 for w in (work, whole))
    pd.testing.assert_frame_equal(got, want)
    # and once more: nothing left to do
    capsys.readouterr()
    assert run_cli("run", "-o", str(work), "--resume") == 0
    assert capsys.readouterr().out.count("kept from an earlier run") == 5
    assert_verified(work)
