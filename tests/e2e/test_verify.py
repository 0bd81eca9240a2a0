"""`curate verify` on a real work directory of the bundled sample (one `curate run`), then on
copies of it broken one way each: exactly the checks that must fail do, with their numbers.
Then the lineage refusals of count and sample, and the shared-output probe and commit
check, on the same run's outputs."""
from __future__ import annotations

import json
import re
import shutil
import socket

import pyarrow.parquet as pq
import pytest

from cli_helpers import VERIFY_CHECKS, run_cli
from curate import api
from curate.stages import task_files
from curate.stages.io import REPORT_FILE, SUMMARY_FILE, WRITING_FILE, read_report


@pytest.fixture(scope="module")
def workdir(spark, tmp_path_factory):
    work = tmp_path_factory.mktemp("verify") / "work"
    assert run_cli("run", "-o", str(work), "-q") == 0
    return work


@pytest.fixture
def broken(workdir, tmp_path):
    """A copy of the run's work directory, to break."""
    copy = tmp_path / "work"
    shutil.copytree(workdir, copy)
    return copy


def reasons(work) -> dict[str, str]:
    return {check.name: check.reason for check in api.verify(str(work)).checks}


def failed(work) -> dict[str, str]:
    result = api.verify(str(work))
    assert [check.name for check in result.checks] == VERIFY_CHECKS
    return {check.name: check.reason for check in result.checks if not check.ok}


def test_a_whole_run_passes_every_check_with_its_numbers(workdir, capsys):
    result = api.verify(str(workdir))
    assert result.ok and failed(workdir) == {}
    said = reasons(workdir)
    assert said["complete"] == ("5 outputs with their reports; rows in the files as reported: "
                                "pairs 865, dedup 860, matched 852, counts 265748, curated 852")
    assert said["inputs"] == "2 inputs: 2 sources of rows, 0 read without rows, 0 in errors"
    assert said["dedup"] == "pairs 865 = dedup 860 + duplicates 5"
    assert said["match"] == ("dedup 860 = matched 852 + unmatched 8 (no_match:en 7, "
                             "no_metadata:ru 1)")
    assert said["counts"] == ("951 matches over 265748 entries (1 language(s)) = a recount of "
                              "matched; summary and entry_counts agree")
    assert said["curated"] == "curated 852 <= matched 852; every curated row is a matched row"
    capsys.readouterr()
    assert run_cli("verify", str(workdir)) == 0
    assert capsys.readouterr().out.splitlines() == result.lines()
    assert run_cli("verify", str(workdir), "--json") == 0
    assert json.loads(capsys.readouterr().out) == result.to_json()


def _rewrite(path, change) -> None:
    """A Parquet file replaced by `change(table)`, same name and schema."""
    table = pq.read_table(path)
    pq.write_table(change(table).cast(table.schema), path)


def _set(table, column: str, row: int, value):
    values = table[column].to_pylist()
    values[row] = value
    return table.set_column(table.schema.get_field_index(column), column,
                            [values])


def _edit_report(path, change) -> None:
    report = json.loads(path.read_text("utf-8"))
    change(report)
    path.write_text(json.dumps(report), "utf-8")


def test_a_deleted_pairs_file(broken):
    """One of the two input files' pairs (extract writes one file per input) gone: the
    files hold fewer rows than extract reported, an input has neither rows nor an error
    though extract read it with rows, and pairs no longer equals dedup + duplicates."""
    gone = broken / "pairs" / "part-00001-0000.parquet"
    rows = pq.ParquetFile(gone).metadata.num_rows
    gone.unlink()
    assert failed(broken) == {
        "complete": f"rows out by the report are not the rows in the files: pairs: report "
                    f"865, files {865 - rows}",
        "inputs": "2 inputs listed: 1 sources of rows, 1 without rows, 0 in errors; the "
                  "report says 2 files: 2 read (0 without rows), 0 failed",
        "dedup": f"pairs {865 - rows} rows (dedup read 865) != dedup 860 + duplicates 5"}


def test_an_input_neither_read_nor_in_errors(broken):
    inputs = broken / "pairs" / "__curate__" / "inputs.txt"
    inputs.write_text(inputs.read_text("utf-8") + "/crawl/lost.warc.gz\n", "utf-8")
    assert failed(broken) == {
        "inputs": "3 inputs listed: 2 sources of rows, 1 without rows, 0 in errors; the "
                  "report says 2 files: 2 read (0 without rows), 0 failed"}


@pytest.mark.parametrize("stage, field, value, check, reason", [
    ("dedup", "dropped", {"duplicate": 4}, "dedup",
     "pairs 865 rows (dedup read 865) != dedup 860 + duplicates 4"),
    ("matched", "dropped", {"no_match:en": 6, "no_metadata:ru": 1}, "match",
     "dedup 860 rows (match read 860) != matched 852 + unmatched 7"),
])
def test_a_changed_drop_count(broken, stage, field, value, check, reason):
    _edit_report(broken / stage / REPORT_FILE, lambda r: r.update({field: value}))
    assert failed(broken) == {check: reason}


def test_matched_rows_per_language_that_the_rows_do_not_hold(broken):
    _edit_report(broken / "matched" / REPORT_FILE,
                 lambda r: r["details"].update(matched_by_language={"en": 851, "de": 1}))
    assert failed(broken) == {"match": "matched rows per language: the report says de 1, "
                                       "en 851, the rows hold en 852"}


def test_a_changed_count(broken):
    (path,) = (broken / "counts").glob("*.parquet")
    counts = pq.read_table(path)
    row = next(i for i, n in enumerate(counts["count"].to_pylist()) if n > 0)
    entry, n = counts["entry_id"][row].as_py(), counts["count"][row].as_py()
    _rewrite(path, lambda table: _set(table, "count", row, n + 1))
    assert failed(broken) == {"counts": f"1 en count(s) differ from a recount of matched "
                                        f"(entry {entry}: {n + 1} stored, {n} recounted)"}


def test_a_summary_that_is_not_the_recount(broken):
    _edit_report(broken / "counts" / SUMMARY_FILE,
                 lambda s: s["languages"]["en"].update(total_matches=950))
    assert failed(broken) == {"counts": "summary.json says en: 852 texts, 950 matches; the "
                                        "recount 852, 951"}


@pytest.mark.parametrize("column, value", [("text", "a text no matched row has"),
                                           ("matched_entry_ids", [0])])
def test_a_curated_row_that_is_not_a_matched_row(broken, column, value):
    (path,) = (broken / "curated").glob("*.parquet")
    first = pq.read_table(path).slice(0, 1).to_pylist()[0]
    _rewrite(path, lambda table: _set(table, column, 0, value))
    text = value if column == "text" else first["text"]
    assert failed(broken) == {"curated": f"1 curated row(s) are not matched rows with the "
                                         f"same ids (first: image_uuid {first['image_uuid']}, "
                                         f"text {text[:60]!r})"}


def test_a_report_made_from_another_output(broken):
    matched_id = read_report(str(broken / "matched")).id
    _edit_report(broken / "counts" / REPORT_FILE,
                 lambda r: r.update(made_from={"match": "0" * 32}))
    assert failed(broken) == {"lineage": f"counts was made from match output {'0' * 32}, but "
                                         f"matched is {matched_id}"}


def test_a_missing_report(broken):
    (broken / "counts" / REPORT_FILE).unlink()
    assert failed(broken) == {"complete": "counts has no report (__curate__/stage.json)",
                              "lineage": "counts has no report (__curate__/stage.json)"}


@pytest.mark.parametrize("leftover", ["dedup/_temporary/0", "matched/_attempts/3-1",
                                      "matched.incomplete-0123456789ab",
                                      "curated/" + WRITING_FILE])
def test_a_leftover_of_an_unfinished_write(broken, leftover):
    path = broken / leftover
    if leftover.endswith(".json"):
        path.write_text("{}", "utf-8")
    else:
        path.mkdir(parents=True)
    shown = leftover.split("/0")[0].split("/3-1")[0]
    assert failed(broken) == {"stray": f"1 left by an unfinished write: {shown}"}


def test_what_is_not_a_work_directory_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "notes").mkdir()
    for path, message in ((tmp_path / "missing", "no such work directory"),
                          (tmp_path / "notes", "not a work directory of curate run")):
        capsys.readouterr()
        assert run_cli("verify", str(path)) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and err.startswith("curate: error: ")


def test_verify_exits_1_naming_the_failed_check(broken, capsys):
    (broken / "dedup" / "_temporary").mkdir()
    capsys.readouterr()
    assert run_cli("verify", str(broken)) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ["ok"] * 7 + ["FAILED"]
    assert lines[-1] == "stray     FAILED  1 left by an unfinished write: dedup/_temporary"


# ---------------------------------------------------------------- lineage (count, sample)

def test_sample_refuses_the_counts_of_another_matched_output(workdir, tmp_path, capsys):
    """The same dedup matched again is another match output (another id): the run's counts
    were not made from it, and sample says which output each is."""
    other = tmp_path / "matched"
    assert run_cli("match", str(workdir / "dedup"), "-o", str(other), "-q") == 0
    capsys.readouterr()
    code = run_cli("sample", str(other), "--counts", str(workdir / "counts"), "-o",
                   str(tmp_path / "curated"), "-q")
    counted, made = read_report(str(workdir / "counts")).made_from["match"], \
        read_report(str(other)).id
    assert code == 2 and counted != made
    assert capsys.readouterr().err == (
        f"curate: error: --counts {workdir / 'counts'} counts the matched output {counted}, "
        f"not {other} ({made}); count this matched output first\n")
    assert not (tmp_path / "curated").exists()


@pytest.mark.parametrize("command", ["count", "sample"])
def test_a_matched_set_without_its_report_is_refused(workdir, tmp_path, capsys, command):
    matched = tmp_path / "matched"
    shutil.copytree(workdir / "matched", matched)
    (matched / REPORT_FILE).unlink()
    args = ["--counts", str(workdir / "counts")] if command == "sample" else []
    capsys.readouterr()
    assert run_cli(command, str(matched), *args, "-o", str(tmp_path / "out"), "-q") == 2
    assert capsys.readouterr().err == (
        f"curate: error: {matched} has no report ({REPORT_FILE}): {command} reads only an "
        f"output of match whose report says which output it is; run match to make it\n")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------- an output some executor cannot see

@pytest.mark.parametrize("stage", ["extract", "dedup", "match", "count", "sample"])
def test_an_output_an_executor_cannot_see_is_refused_before_any_work(
        workdir, tmp_path, monkeypatch, capsys, stage):
    """What is simulated: an executor whose output path is a disk of its own. The test
    switch (task_files.PRIVATE_DISK_SWITCH) makes partition 0's task, the probe's one task
    in local mode, write its marker under another directory; the driver does not find it
    beside the output and refuses, before any stage job runs."""
    monkeypatch.setenv(task_files.PRIVATE_DISK_SWITCH, str(tmp_path / "private"))
    out = tmp_path / "out"
    inputs = {"extract": [*api.bundled_sample()], "dedup": [str(workdir / "pairs")],
              "match": [str(workdir / "dedup")], "count": [str(workdir / "matched")],
              "sample": [str(workdir / "matched"), "--counts", str(workdir / "counts")]}
    capsys.readouterr()
    assert run_cli(stage, *inputs[stage], "-o", str(out), "-q") == 2
    assert capsys.readouterr().err == (
        f"curate: error: -o {out}: what the executors on {socket.gethostname()} write there "
        "is not visible to the driver; the output must be on storage every executor shares "
        "(a shared mount, HDFS or an object store)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["private"]   # no output, no probe
    assert [p.name.split("-")[0] for p in (tmp_path / "private").iterdir()] == ["probe"]


@pytest.mark.parametrize("stage", ["match", "sample"])
def test_files_an_executor_wrote_elsewhere_fail_the_commit(workdir, tmp_path, monkeypatch,
                                                           capsys, stage):
    """What is simulated: an executor that registered after the probe ran (dynamic
    allocation; the probe asks the executors there are), whose output path is its own disk.
    The probe is set aside for that (the one stand-in here), and the test switch sends
    partition 0's files elsewhere: the commit does not find them, the stage fails with one
    line (exit 1) and commits nothing."""
    monkeypatch.setattr(task_files, "check_shared_output", lambda spark, output: None)
    monkeypatch.setenv(task_files.PRIVATE_DISK_SWITCH, str(tmp_path / "private"))
    out = tmp_path / "out"
    inputs = {"match": [str(workdir / "dedup")],
              "sample": [str(workdir / "matched"), "--counts", str(workdir / "counts")]}
    capsys.readouterr()
    assert run_cli(stage, *inputs[stage], "-o", str(out), "-q") == 1
    err = capsys.readouterr().err
    assert re.fullmatch(
        rf"curate: failed: 1 of the \d+ files the tasks wrote are not in "
        rf"{re.escape(str(tmp_path))}/out\.incomplete-\w+ as the driver sees it \(first: "
        rf"_attempts/0-0/part-00000-0000\.parquet\): the output must be on storage every "
        rf"executor shares; nothing was committed\n", err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["private"]
