"""-o never destroys what the stage did not write (curate.stages.io.check_output): a
missing or empty directory, or an earlier output of the same stage, may be replaced;
anything else is refused with one line before Spark starts, and --overwrite is the way
past it; an output equal to, inside or holding an input is refused even then. Checked
through the CLI on outputs and inputs made here: nothing needs Spark, since every refusal
comes first (the replacements themselves are in tests/e2e/test_pipeline.py)."""
from __future__ import annotations

import json

import pytest

from cli_helpers import run_cli
from curate.errors import UserError
from curate.stages.io import REPORT_FILE, StageReport, check_output


def stage_output(path, stage: str):
    """A directory that looks like `stage`'s output: a Parquet file and its report."""
    path.mkdir(parents=True)
    (path / "part-0.parquet").write_bytes(b"PAR1")
    (path / REPORT_FILE).parent.mkdir(parents=True, exist_ok=True)
    (path / REPORT_FILE).write_text(StageReport(stage, str(path), 1, 1).to_json(), "utf-8")
    return path


def refused(capsys, *args) -> str:
    assert run_cli(*args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_a_project_folder_is_refused_and_kept(tmp_path, capsys, monkeypatch):
    pairs = stage_output(tmp_path / "work" / "pairs", "extract")
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.py").write_text("print('mine')\n")
    monkeypatch.chdir(project)
    err = refused(capsys, "dedup", str(pairs), "-o", ".")
    assert "already holds 1 entry (main.py), which dedup did not write" in err
    assert "--overwrite" in err
    assert (project / "main.py").read_text() == "print('mine')\n"
    err = refused(capsys, "dedup", str(pairs), "-o", "main.py")
    assert "is a file" in err and (project / "main.py").exists()
    assert sorted(p.name for p in project.iterdir()) == ["main.py"]


def test_another_stages_output_is_refused(tmp_path, capsys):
    pairs = stage_output(tmp_path / "pairs", "extract")
    matched = stage_output(tmp_path / "matched", "match")
    err = refused(capsys, "dedup", str(pairs), "-o", str(matched))
    assert "already holds the output of match, which dedup did not write" in err
    assert (matched / REPORT_FILE).exists()


@pytest.mark.parametrize("where", ["equal", "inside", "holding"])
def test_an_output_on_an_input_is_refused_even_with_overwrite(tmp_path, capsys, where):
    pairs = stage_output(tmp_path / "work" / "pairs", "extract")
    output = {"equal": pairs, "inside": pairs / "sub", "holding": tmp_path / "work"}[where]
    err = refused(capsys, "dedup", str(pairs), "-o", str(output), "--overwrite")
    assert {"equal": " is the input ", "inside": " is inside the input ",
            "holding": " holds the input "}[where] in err
    assert sorted(str(p.relative_to(pairs)) for p in pairs.rglob("*") if p.is_file()) == [
        "__curate__/stage.json", "part-0.parquet"]


def test_an_input_behind_a_symbolic_link_is_seen(tmp_path, capsys):
    pairs = stage_output(tmp_path / "pairs", "extract")
    (tmp_path / "link").symlink_to(pairs)
    err = refused(capsys, "dedup", str(pairs), "-o", str(tmp_path / "link"), "--overwrite")
    assert "is the input" in err


def test_extract_refuses_an_output_inside_an_input_directory(tmp_path, capsys, data_dir):
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    (crawl / "a.warc.gz").write_bytes((data_dir / "commoncrawl" / "CC-MAIN-2020-34-sample.warc.gz")
                                      .read_bytes())
    err = refused(capsys, "extract", str(crawl), "-o", str(crawl / "pairs"))
    assert "is inside the input" in err and not (crawl / "pairs").exists()


def test_what_may_be_replaced(tmp_path):
    check_output(str(tmp_path / "missing"), "dedup")
    (tmp_path / "empty").mkdir()
    check_output(str(tmp_path / "empty"), "dedup")
    check_output(str(stage_output(tmp_path / "earlier", "dedup")), "dedup")
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / REPORT_FILE).parent.mkdir(parents=True)
    (odd / REPORT_FILE).write_text("not json")      # a report that is not ours: refused
    with pytest.raises(UserError, match="already holds 1 entry"):
        check_output(str(odd), "dedup")
    check_output(str(odd), "dedup", overwrite=True)
    with pytest.raises(UserError, match="holds the input"):
        check_output(str(tmp_path), "dedup", [str(odd)], overwrite=True)
    check_output(str(tmp_path / "out"), "extract", ["s3://bucket/key.warc.gz",
                                                    "https://host/a.warc.gz"])


def test_the_metadata_builder_keeps_a_users_folder(tmp_path, capsys, data_dir):
    docs = tmp_path / "mydocs"
    docs.mkdir()
    (docs / "thesis.tex").write_text("\\section{Mine}\n")
    err = refused(capsys, "metadata", "build", "-o", str(docs), "--wordnet",
                  str(data_dir / "wordnet"))
    assert "which metadata_build did not write" in err
    assert sorted(p.name for p in docs.iterdir()) == ["thesis.tex"]
    err = refused(capsys, "metadata", "build", "-o", str(data_dir / "wordnet"),
                  "--wordnet", str(data_dir / "wordnet"), "--overwrite")
    assert "is the input" in err
    # an earlier build is replaced, and --overwrite replaces a foreign folder
    assert run_cli("metadata", "build", "-o", str(tmp_path / "meta"), "--wordnet",
                   str(data_dir / "wordnet")) == 0
    assert run_cli("metadata", "build", "-o", str(tmp_path / "meta"), "--wordnet",
                   str(data_dir / "wordnet")) == 0
    assert run_cli("metadata", "build", "-o", str(docs), "--wordnet",
                   str(data_dir / "wordnet"), "--overwrite") == 0
    assert not (docs / "thesis.tex").exists()
    assert json.loads((docs / REPORT_FILE).read_text())["stage"] == "metadata_build"


def test_ctrl_c_and_spark_errors_are_one_line(tmp_path, capsys, monkeypatch):
    """Ctrl-C during a stage: status 130 and one line; an error from Spark itself (a
    failed job, a lost JVM): status 1, one line, the trace in the log it names. (The
    stage is replaced by one that raises them: a real interrupt needs a terminal.)"""
    from curate import api

    pairs = stage_output(tmp_path / "pairs", "extract")
    log = tmp_path / "curate.log"
    monkeypatch.setenv("CURATE_LOG", str(log))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "dedup", interrupted)
    assert run_cli("dedup", str(pairs), "-o", str(tmp_path / "d")) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"curate: interrupted; no output was replaced (Spark's log: {log})"]

    SparkError = type("Py4JJavaError", (Exception,), {"__module__": "py4j.protocol"})

    def failed_job(*args, **kwargs):
        raise SparkError("An error occurred while calling o42.parquet.\n: java.io.IOException")

    monkeypatch.setattr(api, "dedup", failed_job)
    assert run_cli("dedup", str(pairs), "-o", str(tmp_path / "d")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"curate: failed: Spark: An error occurred while calling o42.parquet. "
                   f"(the trace: {log})"]
    assert "Traceback" in log.read_text() and "java.io.IOException" in log.read_text()


def test_unfinished_work_is_not_an_input(tmp_path):
    from curate.stages.io import require_stage_output

    for name in ("pairs.incomplete", "pairs.incomplete-0123abcd", "dedup.replaced-0123abcd"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "part-00000-0000.parquet").write_bytes(b"PAR1")
        with pytest.raises(UserError, match="unfinished work of a stage"):
            require_stage_output(str(tmp_path / name))
