"""A whole run over HTTP inputs named with credentials and signed-URL tokens, whose pages
and metadata are hostile: no secret is written or printed anywhere (rows, side files,
reports, the terminal, the log), and the report shows the hostile alts and entries as text.
The inputs are served by servers.DataServer on 127.0.0.1."""
from __future__ import annotations

import html
import uuid

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cli_helpers import assert_verified, run_cli
from conftest_servers import data_server  # noqa: F401 (fixture)
from curate.report import EXAMPLE_ENTRIES
from curate.sources.redact import redact
from curate.stages.io import ERRORS_DIR, INPUTS_FILE, log_path, read_report
from html_helpers import PAGE_ATTRIBUTES, PAGE_TAGS, Parsed

SECRETS = ["alice-7f3", "s3cr3t-pass-9q", "sig-abc-123", "AKIAEXAMPLE7", "tok-xyz-456"]
SIGNED = ("X-Amz-Signature=sig-abc-123&X-Amz-Credential=AKIAEXAMPLE7%2F20240101"
          "&X-Amz-Date=20240101T000000Z&token=tok-xyz-456")
# Entries with no character v1 spacing pads (, . ; : ? !), so texts can match them.
ENTRIES = ["<script>alert(1)</script>", '" onmouseover="alert(1)" x="',
           "' onmouseover='alert(1)' x='", "</textarea><img src=x onerror=alert(1)>",
           "</style><script>alert(1)</script>"]


def warc_record(uri: str, page: bytes) -> bytes:
    block = (f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {len(page)}"
             "\r\n\r\n").encode() + page
    head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {uri}\r\n"
            f"WARC-Date: 2024-01-01T00:00:00Z\r\nWARC-Record-ID: <urn:uuid:{uuid.uuid4()}>\r\n"
            f"Content-Type: application/http; msgtype=response\r\n"
            f"Content-Length: {len(block)}\r\n\r\n")
    return head.encode() + block + b"\r\n\r\n"


def hostile_warc(path) -> None:
    """Pages whose alts hold the entries (three images each, so that t = 1 drops some)."""
    records = []
    for e, entry in enumerate(ENTRIES):
        images = "".join(f'<img src="/{e}-{i}.jpg" alt="photo {i} {html.escape(entry)} here">'
                         for i in range(3))
        records.append(warc_record(f"http://pages.test/{e}",
                                   f"<!DOCTYPE html><html><body>{images}</body></html>".encode()))
    path.write_bytes(b"".join(records))


@pytest.fixture(scope="module")
def run(data_server, tmp_path_factory):
    """`curate run` over a signed URL with user:pass@ and a missing one, then `curate
    report`; what was printed, and the log's part of it."""
    tmp = tmp_path_factory.mktemp("security")
    hostile_warc(tmp / "hostile.warc")
    data_server.aliases["/hostile.warc"] = tmp / "hostile.warc"
    base = data_server.url.replace("http://", "http://alice-7f3:s3cr3t-pass-9q@")
    inputs = [f"{base}/hostile.warc?{SIGNED}", f"{base}/absent.warc.gz?{SIGNED}"]
    (tmp / "entries.txt").write_text("".join(e + "\n" for e in ENTRIES), "utf-8")
    work = tmp / "work"
    log = log_path()
    log_start = _size(log)
    with pytest.MonkeyPatch.context() as patch:
        import sys
        from io import StringIO
        out, err = StringIO(), StringIO()
        patch.setattr(sys, "stdout", out)
        patch.setattr(sys, "stderr", err)
        code = run_cli("run", *inputs, "-o", str(work), "--metadata", str(tmp / "entries.txt"),
                       "--assume-lang", "en", "--t", "1", "--max-failed-fraction", "1")
        report_code = run_cli("report", str(work))
    with open(log, "rb") as fh:
        fh.seek(log_start)
        logged = fh.read().decode("utf-8", "replace")
    return dict(code=code, report_code=report_code, work=work, inputs=inputs,
                printed=out.getvalue() + err.getvalue() + logged)


def _size(path) -> int:
    import os
    return os.path.getsize(path) if os.path.exists(path) else 0


def test_the_written_names_are_redacted(run, data_server):
    assert run["code"] == 0
    work = run["work"]
    read, missing = (redact(u) for u in run["inputs"])
    assert read == (f"{data_server.url.replace('http://', 'http://***@')}/hostile.warc?"
                    "X-Amz-Signature=***&X-Amz-Credential=***&X-Amz-Date=20240101T000000Z"
                    "&token=***")
    pairs = pd.read_parquet(work / "pairs")
    assert set(pairs.source_path) == {read} and len(pairs) == 3 * len(ENTRIES)
    assert set(pd.read_parquet(work / "dedup").source_path) == {read}
    assert (work / "pairs" / INPUTS_FILE).read_text("utf-8") == f"{read}\n{missing}\n"
    errors = pd.read_parquet(work / "pairs" / ERRORS_DIR)
    assert list(zip(errors.path, errors.reason)) == [(missing,
                                                      f"not found (HTTP 404): {missing}")]
    assert read_report(str(work / "pairs")).details["failed_files"] == [
        {"path": missing, "reason": f"not found (HTTP 404): {missing}"}]
    assert f"  {missing}: not found (HTTP 404): {missing}" in run["printed"]


def test_no_secret_is_written_or_printed_anywhere(run):
    """Every file of the work directory (Parquet read column by column, the rest as bytes),
    the terminal and the log."""
    found = []
    for path in sorted(p for p in run["work"].rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            text = " ".join(str(v) for c in table.columns
                            if pa.types.is_string(c.type) or pa.types.is_dictionary(c.type)
                            for v in c.to_pylist())
        else:
            text = path.read_bytes().decode("utf-8", "replace")
        found += [(str(path), s) for s in SECRETS if s in text]
    found += [("printed", s) for s in SECRETS if s in run["printed"]]
    assert found == []


def test_the_report_shows_hostile_alts_and_entries_as_text(run):
    assert run["report_code"] == 0
    page = Parsed((run["work"] / "report" / "index.html").read_text("utf-8"))
    tags = [tag for tag, _attrs in page.elements]
    assert set(tags) <= PAGE_TAGS and "script" not in tags
    assert all(set(attrs) <= PAGE_ATTRIBUTES for _tag, attrs in page.elements)
    entries = {attrs["data-value"] for tag, attrs in page.elements
               if attrs.get("data-key") == "entry"}
    assert entries == set(ENTRIES)   # the top entries table holds each, whole
    # the examples show texts of the most matched head entries, each text whole
    shown = {entry for entry in ENTRIES
             if any(f"photo {i} {entry} here" in page.texts for i in range(3))}
    assert len(shown) == EXAMPLE_ENTRIES


def test_curate_verify_holds_the_redacted_names_together(run):
    """inputs.txt, the rows' source_path and _errors all name the inputs redacted, the
    same way: every listed input is a source of rows or in errors."""
    assert run["code"] == 0
    assert_verified(run["work"])
