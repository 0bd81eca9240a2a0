"""Helpers shared by the extract-core test modules."""
from __future__ import annotations

from curate.core.extract.options import PageOptions
from curate.core.extract.records import FileReport, iter_file_pairs


def extract(path, options: PageOptions = PageOptions(), reader=None):
    """(rows, report) of one file through the extract core."""
    report = FileReport()
    rows = list(iter_file_pairs(str(path), report, options, reader=reader))
    return rows, report


def assert_counters_add_up(report: FileReport) -> None:
    c = report.counters
    skipped = sum(v for k, v in c.items() if k.startswith("records_skipped:"))
    dropped = sum(v for k, v in c.items() if k.startswith("texts_dropped:"))
    assert c["records"] == c["records_used"] + skipped
    assert c["texts_found"] == c["pairs"] + dropped
    assert c["files_read"] + c["files_failed"] == 1
    # A failed file has one error (the last); each page the time guard skipped has one.
    assert len(report.errors) == c["files_failed"] + c["records_skipped:parse_timeout"]
