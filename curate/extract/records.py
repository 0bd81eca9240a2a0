"""Pairs rows from one local WARC / ARC / WAT file, gzip or plain: the extract core.

warcio's ArchiveIterator does the container work (multi-member gzip, plain
files, ARC records converted to WARC ones). This module decides which records
are pages, turns pages into `schemas.PAIRS` rows, and keeps per-file counters
that add up (see FileReport). It never raises for bad input: a damaged file
ends with an error entry, and the rows yielded before the damage stand.
"""
from __future__ import annotations

import collections
import os
from typing import Iterator

from warcio.archiveiterator import ArchiveIterator

from curate.extract.html import parse_html
from curate.extract.text import clean_text, image_uuid, resolve_image_url
from curate.extract.wat import parse_wat
from curate.schemas import PAIRS, TEXT_SOURCES

# Rows are plain tuples for speed; this pins their order to the schema's.
_ROW_COLUMNS = ("image_uuid", "url", "text", "text_source", "page_url", "source_path", "lang")
assert tuple(PAIRS.names) == _ROW_COLUMNS, "update the row tuple in _page_rows"

# Larger payloads are skipped: real HTML pages are far smaller, and a payload is
# held in memory whole while it is parsed.
PAYLOAD_LIMIT = 10 * 1024 * 1024
_CHUNK = 64 * 1024
_HTML_TYPES = ("text/html", "application/xhtml+xml")
# What the start of an untyped payload must look like to be parsed as HTML.
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<meta", b"<title", b"<!--")
# Record types skipped under their own name; other non-page types are `not_response`.
_NAMED_SKIPS = ("warcinfo", "request", "revisit")


class FileReport:
    """Counters and errors of one input file.

    Counters add up: `records` = `records_used` + Σ `records_skipped:<reason>`;
    `texts_found` = `pairs` + Σ `texts_dropped:<reason>`; exactly one of
    `files_read` / `files_failed` is 1. `images` counts img elements and
    `IMG@/src` links; `records_misaligned` counts records warcio had to
    resynchronise after (a wrong Content-Length it could read past).
    """

    def __init__(self) -> None:
        self.counters: collections.Counter = collections.Counter()
        # (byte offset of the failing record or None, reason)
        self.errors: list[tuple[int | None, str]] = []

    def fail(self, offset: int | None, reason: str) -> None:
        self.counters["files_failed"] += 1
        self.errors.append((offset, reason))


def iter_file_pairs(path: str, report: FileReport) -> Iterator[tuple]:
    """Yield PAIRS rows (tuples in schemas.PAIRS column order, lang=None,
    source_path=path) from one local WARC / ARC / WAT file, gzip or plain.

    Never raises for bad or missing input: records the error in report and
    stops reading that file, keeping every row yielded before the fault.
    """
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        report.fail(None, "missing file")
        return
    except OSError as e:
        report.fail(None, f"unreadable file: {type(e).__name__}: {e.strerror or e}")
        return
    with fh:
        if os.fstat(fh.fileno()).st_size == 0:
            # Not an archive of zero records: a failed copy or download, most likely.
            report.fail(None, "empty file")
            return
        iterator = _CheckedIterator(fh, arc2warc=True)
        try:
            yield from _file_rows(path, iterator, report)
        finally:
            if iterator.err_count:
                report.counters["records_misaligned"] += iterator.err_count


class _CheckedIterator(ArchiveIterator):
    """An ArchiveIterator that notices a gzip stream cut between or inside record headers.

    warcio ends the iteration quietly when the last gzip member stops early
    (it takes the cut for the end of the file); the member's decompressor,
    checked just before warcio drops it, tells the two apart.
    """

    gzip_cut = False

    def close(self) -> None:
        decompressor = self.reader.decompressor if self.reader is not None else None
        if decompressor is not None and not decompressor.eof:
            self.gzip_cut = True
        super().close()


class _Fault(Exception):
    """A record the file cannot be read past: its reading stops there."""

    def __init__(self, offset: int | None, reason: str, skip: str) -> None:
        super().__init__(reason)
        self.offset, self.reason, self.skip = offset, reason, skip


def _file_rows(path: str, iterator: _CheckedIterator, report: FileReport) -> Iterator[tuple]:
    counters = report.counters
    records = iter(iterator)
    while True:
        try:
            record = next(records)
        except StopIteration:
            break
        except Exception as e:  # warcio could not parse the next record's headers
            report.fail(_offset(iterator), _fault_reason(e))
            return
        counters["records"] += 1
        try:
            page = _record_page(record, iterator, counters)
        except _Fault as fault:
            counters[f"records_skipped:{fault.skip}"] += 1
            report.fail(fault.offset, fault.reason)
            return
        if page is not None:
            page_url, base, images = page
            yield from _page_rows(images, base or page_url, page_url, path, counters)
    if iterator.gzip_cut:
        report.fail(_offset(iterator), "truncated gzip stream: the file ends inside a gzip member")
        return
    counters["files_read"] += 1


def _record_page(record, iterator: _CheckedIterator, counters: collections.Counter):
    """(page URL, base, images) of a page record, or None for a skipped record (counted).

    Raises _Fault when the record is damaged in a way that ends the file.
    """
    offset = _offset(iterator)
    length = record.rec_headers.get_header("Content-Length")
    if not _valid_length(length):
        # warcio reads such a record as empty and carries on, but where the next
        # record starts is then a guess (a text file "parses" as ARC records).
        raise _Fault(offset, f"corrupt record: invalid length {length!r}", "corrupt")
    try:
        kind, payload = _take_payload(record)
        missing = _drain(record)
    except Exception as e:
        raise _Fault(offset, _fault_reason(e), "corrupt") from e
    if missing:
        # The file (or its gzip member) ends inside this record: its page may be
        # cut mid-attribute, so none of its rows are kept.
        raise _Fault(offset, _truncation_reason(iterator, missing), "truncated")
    if payload is None:
        counters[f"records_skipped:{kind}"] += 1
        return None
    page_url = record.rec_headers.get_header("WARC-Target-URI")
    try:
        if kind == "html":
            headers = record.http_headers
            content_type = headers.get_header("Content-Type") if headers else None
            page = (page_url, *parse_html(payload, page_url, content_type))
        else:
            page = parse_wat(payload)
    except Exception:  # one unparsable page must not cost the rest of the file
        counters["records_skipped:parse_error"] += 1
        return None
    if page is None:  # JSON, but not the WAT record of an HTML page
        counters["records_skipped:not_wat_html_metadata"] += 1
        return None
    counters["records_used"] += 1
    return page


def _page_rows(images: list[dict[str, str]], base: str | None, page_url: str | None,
               path: str, counters: collections.Counter) -> Iterator[tuple]:
    """One row per (image, text attribute) with a usable URL and a non-empty text."""
    for img in images:
        counters["images"] += 1
        texts = [(source, img[source]) for source in TEXT_SOURCES if source in img]
        if not texts:
            continue
        counters["texts_found"] += len(texts)
        src = img.get("src", "")
        url = resolve_image_url(src, base)
        if url is None:
            reason = "no_src" if not src.strip() else "non_http_url"
            counters[f"texts_dropped:{reason}"] += len(texts)
            continue
        uuid = image_uuid(url)
        for source, raw in texts:
            text = clean_text(raw)
            if not text:
                counters["texts_dropped:empty_text"] += 1
                continue
            counters["pairs"] += 1
            yield (uuid, url, text, source, page_url, path, None)


def _take_payload(record) -> tuple[str, bytes | None]:
    """(kind, payload): kind "html" or "wat" with the payload, or a skip reason and None."""
    if record.rec_type == "response":
        headers = record.http_headers
        media = _media_type(headers.get_header("Content-Type") if headers else None)
        if media is not None and media not in _HTML_TYPES:
            return "not_html", None
        payload = _read_limited(record.content_stream())
        if payload is None:
            return "too_large", None
        if media is None and not _looks_like_html(payload):
            return "not_html", None
        return "html", payload
    if record.rec_type == "metadata":
        # WAT records are recognised by content, not by file name.
        if _media_type(record.content_type) != "application/json":
            return "not_wat_html_metadata", None
        payload = _read_limited(record.content_stream())
        return ("too_large", None) if payload is None else ("wat", payload)
    if record.rec_type in _NAMED_SKIPS:
        return record.rec_type, None
    return "not_response", None


def _valid_length(value: str | None) -> bool:
    return value is not None and value.strip().isdigit()


def _media_type(content_type: str | None) -> str | None:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media or None


def _looks_like_html(payload: bytes) -> bool:
    start = payload[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith(_HTML_STARTS)


def _read_limited(stream) -> bytes | None:
    """The whole stream, or None as soon as it exceeds PAYLOAD_LIMIT (memory stays bounded)."""
    chunks, size = [], 0
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > PAYLOAD_LIMIT:
            return None
        chunks.append(chunk)


def _drain(record) -> int:
    """Read the rest of a record; return how many bytes of its declared length never came.

    warcio silently returns a short record when the data ends early (a cut
    file, a cut or corrupt gzip member), so this is where truncation shows.
    """
    raw = record.raw_stream
    while raw.read(_CHUNK):
        pass
    # raw_stream is a LimitReader whenever the record declared a length.
    return getattr(raw, "limit", 0)


def _truncation_reason(iterator: ArchiveIterator, missing: int) -> str:
    reader = iterator.reader
    if reader is None or reader.decompressor is None:
        return f"truncated file: record {missing} bytes short of its length"
    if reader.rem_length() > 0:  # more gzip data follows: the member ended early
        return f"gzip member ends inside a record: {missing} bytes short"
    return f"truncated gzip stream: record {missing} bytes short of its length"


def _fault_reason(e: Exception) -> str:
    message = str(e).strip()
    if "non-chunked gzip" in message:
        return "non-chunked gzip: records share one gzip member"
    first_line = message.splitlines()[0] if message else ""
    return f"corrupt record: {type(e).__name__}: {first_line}"[:300]


def _offset(iterator: ArchiveIterator) -> int | None:
    # ArchiveIterator.offset holds the start of the record just parsed (or being
    # parsed); get_record_offset() would consume the record's payload first.
    offset = getattr(iterator, "offset", None)
    return offset if isinstance(offset, int) and offset >= 0 else None
