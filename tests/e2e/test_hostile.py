"""`curate run` over the whole hostile corpus in one Spark run (issue 17): every file of
../shared/data/edgecases and webarchives (read where they are) and the generated files of
tests/hostile_corpus.py, reached through a glob that passes a directory symlink loop. Each
file gives its rows or a recorded error (path, stage, reason in pairs/__curate__/errors);
nothing crashes or hangs (a SIGALRM guard fails the test instead of letting it hang), and
`curate verify` passes on the work directory."""
from __future__ import annotations

import os
import signal
from contextlib import contextmanager

import pandas as pd
import pytest

from cli_helpers import run_cli
from curate.core.extract.records import FileReport, iter_file_pairs
from curate.sources.local import local_path
from curate.stages.io import ERRORS_DIR, INPUTS_FILE, read_report
from hostile_corpus import build

SHARED = ("edgecases", "webarchives")
GUARD_SECONDS = 300


@contextmanager
def no_hang(seconds: int):
    """Raise TimeoutError in the test when the block runs longer (pytest-timeout is not
    installed; a blocked py4j socket read is interrupted by the signal)."""
    def expired(_signum, _frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def hostile_run(spark, data_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    corpus = root / "corpus"
    expect = build(corpus)
    (corpus / "loop").mkdir()
    (corpus / "loop" / "up").symlink_to("..")      # corpus/loop/up/loop/up/... never ends
    shared = sorted(str(p) for folder in SHARED for p in (data_dir / folder).iterdir())
    work = root / "work"
    with no_hang(GUARD_SECONDS):   # the whole pipeline, so that curate verify can judge it
        status = run_cli("run", str(corpus / "**"), *shared, "-o", str(work),
                         "--max-failed-fraction", "1")
    return corpus, expect, shared, work / "pairs", status


def test_curate_verify_passes_on_the_hostile_run(hostile_run):
    """Every listed input is a source of rows, read without rows, or in errors; the books
    of every stage hold (curate verify, issue 17)."""
    out = hostile_run[3]
    assert run_cli("verify", str(out.parent)) == 0


def by_file(out) -> tuple[dict, dict]:
    rows = pd.read_parquet(out, columns=["source_path"]).source_path.value_counts().to_dict()
    errors = pd.read_parquet(out / ERRORS_DIR)
    assert (errors.stage == "extract").all()
    return rows, {path: list(group.reason) for path, group in errors.groupby("path")}


def test_the_run_ends_and_lists_every_file_once(hostile_run):
    corpus, expect, shared, out, status = hostile_run
    assert status == 0
    listed = (out / INPUTS_FILE).read_text("utf-8").splitlines()
    # The loop's second names of the same files are not listed; odd names are file:// URIs.
    generated = sorted(os.path.join(str(corpus), name) for name in expect)
    assert sorted(local_path(name) for name in listed) == sorted(generated + shared)
    assert sorted(n for n in listed if n.startswith("file://")) == [
        "file://" + str(corpus).replace(" ", "%20") + "/new%0Aline.warc.gz",
        "file://" + str(corpus).replace(" ", "%20") + "/not-utf8-%FF%FE.warc.gz"]


def test_every_generated_file_gives_its_rows_or_its_error(hostile_run):
    corpus, expect, _shared, out, _status = hostile_run
    rows, errors = by_file(out)
    listed = {local_path(n): n for n in (out / INPUTS_FILE).read_text("utf-8").splitlines()}
    for name, expectation in expect.items():
        recorded = listed[os.path.join(str(corpus), name)]
        assert rows.get(recorded, 0) == expectation["rows"], name
        if expectation["error"] is None:
            assert recorded not in errors, name
        else:
            (reason,) = errors[recorded]
            assert reason.startswith(expectation["error"]), name


def test_every_shared_file_gives_the_pure_cores_rows_and_errors(hostile_run):
    _corpus, _expect, shared, out, _status = hostile_run
    rows, errors = by_file(out)
    for path in shared:
        report = FileReport()
        expected_rows = sum(1 for _ in iter_file_pairs(path, report))
        assert rows.get(path, 0) == expected_rows, path
        assert errors.get(path, []) == [reason for _offset, reason in report.errors], path
    # The damaged ones (test_extract_core's FAILING): bad.arc, example-space-in-url.arc,
    # example-wrong-chunks.warc.gz, clipped.warc.gz.
    assert sorted(os.path.basename(p) for p in shared if p in errors) == [
        "bad.arc", "clipped.warc.gz", "example-space-in-url.arc", "example-wrong-chunks.warc.gz"]


def test_the_report_counts_what_the_bounds_dropped_and_skipped(hostile_run):
    _corpus, _expect, shared, out, _status = hostile_run
    report = read_report(str(out))
    assert report.dropped["too_many_images"] == 190_000 + 90_000
    assert "text_too_long" not in report.dropped   # the 1 MB alt is kept
    skipped = report.details["records_skipped"]
    assert skipped["too_deep"] == 1 and skipped["parse_error"] == 2   # the two WATs
    assert "parse_timeout" not in skipped
    assert report.rows_in == report.rows_out + sum(report.dropped.values())
    assert report.details["files_read"] + report.details["files_failed"] == \
        report.details["files"]


def test_a_fifo_named_explicitly_is_one_user_error_line(hostile_run, tmp_path, capsys):
    """Named on the command line, a FIFO is the user's mistake: refused before any work
    (found by a directory or glob, it is a recorded failed file, as above)."""
    corpus, *_rest = hostile_run
    capsys.readouterr()
    with no_hang(60):
        status = run_cli("extract", str(corpus / "fifo.warc.gz"), "-o", str(tmp_path / "p"))
    assert status == 2
    assert capsys.readouterr().err.splitlines() == [
        f"curate: error: {corpus / 'fifo.warc.gz'}: not a regular file (a FIFO): name a WARC, "
        f"WAT or ARC file or a directory of them"]
    assert not (tmp_path / "p").exists()
