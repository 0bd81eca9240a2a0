"""The extract stage on Spark over every real archive in ../shared/data: the same rows as the
pure core, damaged files recorded in pairs/__curate__/errors, and the run goes on."""
from __future__ import annotations

import pandas as pd
import pytest

from curate.core.extract.records import FileReport, iter_file_pairs
from curate.sources.inputs import resolve_inputs
from curate.stages.extract import run_extract
from curate.options import ExtractOptions
from curate.stages.io import ERRORS_DIR, read_report

FOLDERS = ["commoncrawl", "webarchives", "edgecases"]


@pytest.fixture(scope="module")
def extracted(spark, data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("extract") / "pairs"
    # Named explicitly, so files without an archive suffix are read too (and fail).
    paths = sorted(str(p) for folder in FOLDERS for p in (data_dir / folder).iterdir())
    report = run_extract(spark, paths, str(out), ExtractOptions(max_failed_fraction=1.0))
    return paths, out, report


def core_results(paths):
    rows, failed = [], {}
    for path in paths:
        report = FileReport()
        rows.extend(iter_file_pairs(path, report))
        if report.errors:
            failed[path] = report.errors
    return rows, failed


def test_rows_equal_the_pure_core_on_every_file(extracted):
    paths, out, report = extracted
    rows, _failed = core_results(paths)
    got = pd.read_parquet(out)
    key = ["source_path", "image_uuid", "text", "text_source"]
    expected = pd.DataFrame(rows, columns=got.columns)
    assert len(got) == len(expected) == report.rows_out > 1000
    assert sorted(map(tuple, got[key].values.tolist())) == \
        sorted(map(tuple, expected[key].values.tolist()))


def test_damaged_files_are_recorded_and_the_rest_goes_on(extracted):
    paths, out, report = extracted
    _rows, failed = core_results(paths)
    errors = pd.read_parquet(out / ERRORS_DIR)
    assert set(errors.path) == set(failed) and len(failed) >= 5
    assert (errors.stage == "extract").all() and errors.reason.str.len().gt(0).all()
    assert any(r.startswith("truncated gzip stream") for r in errors.reason)
    assert report.details["files_failed"] == len(failed)
    assert report.details["files_read"] + report.details["files_failed"] == len(paths)


def test_report_adds_up_and_is_written(extracted):
    _paths, out, report = extracted
    stored = read_report(str(out))
    assert stored.rows_in == stored.rows_out + sum(stored.dropped.values())
    assert stored.rows_out == report.rows_out
    assert stored.details["records"] == stored.details["records_used"] + sum(
        stored.details["records_skipped"].values())


def test_directories_and_globs_expand_to_archives_only(data_dir):
    listed = resolve_inputs([str(data_dir / "commoncrawl")], ExtractOptions())
    assert all(p.endswith((".warc", ".wat", ".warc.gz", ".wat.gz")) for p in listed)
    # WET files (plain text) and the licence are not archives of pages.
    assert [p.rsplit("/", 1)[1][-20:] for p in listed] == [
        "-8.ec2.internal.warc", "c2.internal.warc.wat", "20-34-sample.warc.gz",
        "22-whirlwind.warc.gz", "hirlwind.warc.wat.gz"]
    globbed = resolve_inputs([str(data_dir / "commoncrawl" / "*.warc.gz")], ExtractOptions())
    assert [p.rsplit("/", 1)[1] for p in globbed] == [
        "CC-MAIN-2020-34-sample.warc.gz", "CC-MAIN-2024-22-whirlwind.warc.gz"]


def test_cli_exits_1_past_the_failed_fraction_and_keeps_the_output(spark, data_dir, tmp_path,
                                                                    capsys):
    from curate.cli import main

    out = tmp_path / "pairs"
    with pytest.raises(SystemExit) as done:
        main(["extract", str(data_dir / "edgecases"), "-o", str(out)])
    captured = capsys.readouterr()
    err, printed = captured.err.strip().splitlines(), captured.out.splitlines()
    assert done.value.code == 1
    assert err[-1].startswith("curate: failed: ") and "input files failed" in err[-1]
    details = read_report(str(out)).details
    assert details["files_failed"] > 0
    # The terminal names the failed files and why (the first few, then how many more),
    # and the one-line failure names the first of them.
    errors = pd.read_parquet(out / ERRORS_DIR).sort_values("path").drop_duplicates("path")
    shown = details["failed_files"]
    assert [f["path"] for f in shown] == errors.path.tolist()[:5]
    assert [f["reason"] for f in shown] == errors.reason.tolist()[:5]
    for failure in shown:
        assert f"  {failure['path']}: {failure['reason']}" in printed
    more = details["files_failed"] - len(shown)
    assert printed[-1] == (f"  {'and ' + str(more) + ' more; ' if more else ''}"
                           f"all are in {out}/__curate__/errors")
    assert f"first {shown[0]['path']}: {shown[0]['reason']}" in err[-1]


def test_failures_allowed():
    from curate.stages.extract import failures_allowed

    assert [failures_allowed(n, 0.01) for n in (1, 2, 12, 99, 100, 250)] == [0, 1, 1, 1, 1, 2]
    assert [failures_allowed(n, 0.5) for n in (1, 2, 3, 4)] == [0, 1, 1, 2]
    assert [failures_allowed(n, 0) for n in (1, 12, 1000)] == [0, 0, 0]
    assert [failures_allowed(n, 1) for n in (1, 12)] == [0, 11]


def test_one_broken_file_among_few_is_reported_not_fatal(spark, data_dir, tmp_path, capsys):
    """At the 1% default, one broken file among three goes on (exit 0), named on the
    terminal with its reason; two of three stop the run."""
    from curate.cli import main

    good = sorted(str(p) for p in (data_dir / "commoncrawl").glob("*.warc.gz"))
    broken = str(data_dir / "edgecases" / "example-wrong-chunks.warc.gz")
    with pytest.raises(SystemExit) as done:
        main(["extract", *good, broken, "-o", str(tmp_path / "pairs")])
    printed = capsys.readouterr().out.splitlines()
    assert done.value.code == 0
    (failure,) = read_report(str(tmp_path / "pairs")).details["failed_files"]
    assert failure["path"] == broken and f"  {broken}: {failure['reason']}" in printed
    with pytest.raises(SystemExit) as done:
        main(["extract", good[0], broken, str(data_dir / "edgecases" / "bad.arc"),
              "-o", str(tmp_path / "pairs2")])
    assert done.value.code == 1
    assert "2 of 3 input files failed (--max-failed-fraction 0.01 allows 1)" in \
        capsys.readouterr().err
