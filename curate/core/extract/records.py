"""Pairs rows from one WARC / ARC / WAT file, gzip or plain: the extract core.

The file is opened with `curate.sources.streams.open_input` (local, S3, HTTPS). Records
come from one of two readers (`curate.core.extract.readers`): fastwarc when it is
installed (`curate.core.extract.fast`, WARC files that look sound) and warcio, the
reference, which reads everything else and takes over from fastwarc at the first
sign of damage, so both give the same rows, counters and errors. This module
decides which records are pages, turns pages into `schemas.PAIRS` rows, and keeps
per-file counters that add up (see FileReport). It never raises for bad input: a
damaged or unavailable file ends with an error entry, and the rows yielded before
the damage stand.
"""
from __future__ import annotations

import collections
import time
from typing import Iterable, Iterator

from curate.core.extract import fast
from curate.core.extract.html import ParseTimeout, PageBounds, parse_html, too_deep
from curate.core.extract.lazy import lazy_source
from curate.core.extract.options import PageOptions
from curate.core.extract.provenance import (crawl_from_fields, crawl_from_path, parse_warc_date,
                                       warc_fields)
from curate.core.extract.readers import (CannotRewind, InputStream, ReadFault, RecordView, WarcioFile,
                                    fault_reason)
from curate.core.extract.text import PageImages, clean_text
from curate.core.extract.wat import (HTML_METADATA_MARK, IMAGE_LINK_MARK, wat_page, wat_text,
                                warcinfo_fields)
from curate.schemas import PAIRS, TEXT_SOURCES
from curate.sources.redact import redact, redact_text
from curate.sources.streams import InputUnavailable, open_input

# Rows are plain tuples for speed; this pins their order to the schema's.
_ROW_COLUMNS = ("image_uuid", "url", "text", "text_source", "page_url", "source_path",
                "source_offset", "crawl", "fetch_time", "lang")
assert tuple(PAIRS.names) == _ROW_COLUMNS, "update the row tuples in _page_rows and _wat_rows"

_CHUNK = 64 * 1024
# A warcinfo block is read up to this much for its isPartOf / description.
_WARCINFO_LIMIT = 1024 * 1024
_HTML_TYPES = ("text/html", "application/xhtml+xml")
# What the start of an untyped payload must look like to be parsed as HTML.
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<meta", b"<title", b"<!--")
_GZIP_MAGIC = b"\x1f\x8b"
_UNKNOWN = object()
# Readers: None = fastwarc when installed, else warcio.
READERS = ("fast", "warcio")


class FileReport:
    """Counters and errors of one input file.

    Counters add up: `records` = `records_used` + Σ `records_skipped:<reason>`;
    `texts_found` = `pairs` + Σ `texts_dropped:<reason>`; exactly one of
    `files_read` / `files_failed` is 1. Skip reasons: `warcinfo`, `request`,
    `revisit`, `not_response`, `not_html`, `too_large` (payload over
    max_page_bytes), `too_deep` (tags nested deeper than max_depth),
    `parse_error`, `parse_timeout` (over page_time_limit: also an error of the
    file, which is read on), `too_large_record` (a Content-Length over
    max_record_bytes: it ends the file),
    `not_wat_html_metadata` (a WAT record of no HTML page), `no_image_links` (a WAT
    record of an HTML page without any IMG@/src link: its JSON is not parsed),
    `corrupt` / `truncated` (the record that ended the file). Drop reasons:
    `no_src`, `non_http_url`, `empty_text`, `text_too_long` (over max_text_chars),
    `too_many_images` (the texts of a page's images after its first max_images). Besides: `images` counts img elements
    and `IMG@/src` links; `images_lazy` those whose URL came from data-src/srcset
    (PageOptions.lazy_images); `records_misaligned` records warcio had to
    resynchronise after (a wrong Content-Length it could read past).
    """

    def __init__(self) -> None:
        self.counters: collections.Counter = collections.Counter()
        # (byte offset of the record or None, reason): a failed file's failure is the
        # last one; those before it are records skipped by a guard (note), the file read on.
        self.errors: list[tuple[int | None, str]] = []

    def fail(self, offset: int | None, reason: str) -> None:
        self.counters["files_failed"] += 1
        self.errors.append((offset, redact_text(reason)))   # a reason may quote a URL

    def note(self, offset: int | None, reason: str) -> None:
        """An error of one record that does not end the file (the time guard fired)."""
        self.errors.append((offset, reason))


class _Fault(Exception):
    """A record the file cannot be read past: its reading stops there."""

    def __init__(self, offset: int | None, reason: str, skip: str) -> None:
        super().__init__(reason)
        self.offset, self.reason, self.skip = offset, reason, skip


class _Item:
    """A record read and classified, not yet counted: its page is parsed in _finish."""

    __slots__ = ("offset", "kind", "payload", "page_url", "date", "content_type")

    def __init__(self, offset, kind, payload, page_url, date, content_type):
        self.offset, self.kind, self.payload = offset, kind, payload
        self.page_url, self.date, self.content_type = page_url, date, content_type


def iter_file_pairs(path: str, report: FileReport,
                    options: PageOptions = PageOptions(), *,
                    reader: str | None = None) -> Iterator[tuple]:
    """Yield PAIRS rows (tuples in schemas.PAIRS column order, lang=None) from one
    WARC / ARC / WAT file, gzip or plain, named as open_input takes it.

    Never raises for bad or missing input: records the error in report and
    stops reading that file, keeping every row yielded before the fault.
    `reader` forces "fast" (fastwarc) or "warcio"; the default takes fastwarc
    when it is installed. Both give the same rows, counters and errors.
    """
    if reader not in (None, *READERS):
        raise ValueError(f"reader must be one of {READERS}, not {reader!r}")
    if reader == "fast" and not fast.AVAILABLE:
        raise ValueError("reader='fast' needs fastwarc installed")
    try:
        raw = open_input(path)
    except InputUnavailable as e:
        report.fail(None, e.reason)
        return
    stream = InputStream(raw)
    try:
        # Rows name the file redacted (no credentials or URL tokens); it was opened as given.
        yield from _File(redact(path), report, options, stream).rows(
            reader != "warcio" and fast.AVAILABLE)
    finally:
        try:
            stream.close()
        except Exception:
            pass


class _File:
    """The reading of one file: its provenance and the per-record steps."""

    def __init__(self, path: str, report: FileReport, options: PageOptions,
                 stream: InputStream) -> None:
        self.path, self.report, self.options, self.stream = path, report, options, stream
        self.counters = report.counters
        self.path_crawl = crawl_from_path(path)
        self.crawl = self.path_crawl
        self._date_text: str | None = None
        self._date = None

    def rows(self, use_fast: bool) -> Iterator[tuple]:
        report, stream = self.report, self.stream
        try:
            head = stream.read(8)
        except InputUnavailable as e:
            report.fail(0, e.reason)
            return
        if not head:
            # Not an archive of zero records: a failed copy or download, most likely.
            report.fail(None, "empty file")
            return
        start = 0
        gzipped = head.startswith(_GZIP_MAGIC)
        if use_fast and (head.startswith(b"WARC/") or gzipped and self._gzip_of_warc()):
            stream.rewind(0)
            try:
                for item in fast.fast_items(stream, gzipped, self.read_item,
                                            self.options.max_header_bytes):
                    yield from self.finish(item)
            except fast.HandOff as handoff:
                start = handoff.offset
        yield from self._warcio_rows(start)

    def _gzip_of_warc(self) -> bool:
        """Whether the gzip file starts with a WARC record: fastwarc looks for a record
        start through anything else (all of a gzip bomb); warcio refuses it at once."""
        self.stream.rewind(0)
        try:
            return fast.gzip_starts_with(self.stream, b"WARC/")
        except InputUnavailable:
            return False   # warcio meets the failure again and records it

    def _warcio_rows(self, start: int) -> Iterator[tuple]:
        report, counters = self.report, self.counters
        records = WarcioFile(self.stream, start, self.options.max_header_bytes)
        try:
            for view in records:
                try:
                    item = self.read_item(view)
                except _Fault as fault:
                    counters["records"] += 1
                    counters[f"records_skipped:{fault.skip}"] += 1
                    report.fail(fault.offset, fault.reason)
                    return
                yield from self.finish(item)
        except InputUnavailable as e:
            report.fail(records.position, e.reason)
            return
        except ReadFault as fault:
            report.fail(fault.offset, fault.reason)
            return
        except CannotRewind as e:
            report.fail(e.args[0], "cannot re-read the input from this record: it does not seek "
                                   "and the record is larger than the bytes kept")
            return
        finally:
            if records.misaligned:
                counters["records_misaligned"] += records.misaligned
        counters["files_read"] += 1

    # --- per record -----------------------------------------------------------------

    def read_item(self, view: RecordView) -> _Item:
        """Classify a record and read the payload it needs; _Fault when it ends the file."""
        length = view.length
        if length is None or not length.strip().isdigit():
            # warcio reads such a record as empty and carries on, but where the next
            # record starts is then a guess (a text file "parses" as ARC records).
            raise _Fault(view.offset, f"corrupt record: invalid length {length!r}", "corrupt")
        if int(length) > self.options.max_record_bytes:
            # Skipping it would mean reading (decompressing) all of it: the file ends here.
            raise _Fault(view.offset, f"record too large: Content-Length {int(length)} over "
                                      f"max_record_bytes ({self.options.max_record_bytes})",
                         "too_large_record")
        try:
            kind, payload, content_type = self._take_payload(view)
            missing = view.drain()
        except InputUnavailable:
            raise
        except Exception as e:
            if self.stream.failure is not None:
                raise self.stream.failure from None
            raise _Fault(view.offset, fault_reason(e), "corrupt") from e
        if missing:
            # The file (or its gzip member) ends inside this record: its page may be
            # cut mid-attribute, so none of its rows are kept.
            raise _Fault(view.offset, view.truncation_reason(missing), "truncated")
        return _Item(view.offset, kind, payload, view.target_uri, view.date, content_type)

    def _take_payload(self, view: RecordView) -> tuple[str, bytes | None, str | None]:
        """(kind, payload, HTTP content type): kind "html", "wat" or "warcinfo" with the
        payload, or a skip reason and None."""
        rec_type = view.rec_type
        limit = self.options.max_page_bytes
        if rec_type == "response":
            headers = view.http_headers
            content_type = headers.get_header("Content-Type") if headers else None
            media = _media_type(content_type)
            if media is not None and media not in _HTML_TYPES:
                return "not_html", None, None
            payload = _read_limited(view.content_stream(), limit)
            if payload is None:
                return "too_large", None, None
            if media is None and not _looks_like_html(payload):
                return "not_html", None, None
            return "html", payload, content_type
        if rec_type == "metadata":
            # WAT records are recognised by content, not by file name.
            if _media_type(view.content_type) != "application/json":
                return "not_wat_html_metadata", None, None
            payload = _read_limited(view.content_stream(), limit)
            return ("too_large", None, None) if payload is None else ("wat", payload, None)
        if rec_type == "warcinfo":
            return "warcinfo", _read_limited(view.content_stream(), _WARCINFO_LIMIT) or b"", None
        if rec_type in ("request", "revisit"):
            return rec_type, None, None
        return "not_response", None, None

    def finish(self, item: _Item) -> Iterable[tuple]:
        """Count a record; return the rows of its page (a function, not a generator:
        one generator level less per row)."""
        counters = self.counters
        counters["records"] += 1
        kind, payload = item.kind, item.payload
        if kind == "html":
            options = self.options
            if too_deep(payload, options.max_depth):
                counters["records_skipped:too_deep"] += 1
                return ()
            deadline = time.monotonic() + options.page_time_limit
            try:
                base, images = parse_html(payload, item.page_url, item.content_type, deadline,
                                          PageBounds(options.max_images))
            except ParseTimeout:
                # The bounds above make this rare; when it fires the rows differ from an
                # unhurried run's, so the file says so in its errors.
                counters["records_skipped:parse_timeout"] += 1
                self.report.note(item.offset, f"page skipped: parse took over "
                                              f"page_time_limit ({options.page_time_limit:g} s)")
                return ()
            except Exception:  # one unparsable page must not cost the rest of the file
                counters["records_skipped:parse_error"] += 1
                return ()
            page_url = item.page_url
        elif kind == "wat":
            # (from the end: the last image link sits nearer the end than the first to the start)
            if payload.rfind(IMAGE_LINK_MARK) < 0:
                if HTML_METADATA_MARK in payload:
                    counters["records_skipped:no_image_links"] += 1
                else:
                    if self.path_crawl is None and b'"WARC-Info-Metadata"' in payload:
                        fields = warcinfo_fields(payload)
                        if fields is not None:
                            self.crawl = crawl_from_fields(fields) or self.crawl
                    counters["records_skipped:not_wat_html_metadata"] += 1
                return ()
            try:
                page = wat_page(payload)
            except Exception:
                counters["records_skipped:parse_error"] += 1
                return ()
            if page is None:  # JSON, but not the WAT record of an HTML page
                counters["records_skipped:not_wat_html_metadata"] += 1
                return ()
            page_url, base, links = page
            counters["records_used"] += 1
            if len(links) > self.options.max_images:
                self._drop_extra_links(links[self.options.max_images:])
                links = links[:self.options.max_images]
            return self._wat_rows(links, base or page_url, page_url, item) if links else ()
        else:
            if kind == "warcinfo" and self.path_crawl is None and payload:
                self.crawl = crawl_from_fields(warc_fields(payload)) or self.crawl
            counters[f"records_skipped:{kind}"] += 1
            return ()
        counters["records_used"] += 1
        if images.extra_images:
            counters["images"] += images.extra_images
            counters["texts_found"] += images.extra_texts
            counters["texts_dropped:too_many_images"] += images.extra_texts
        return self._page_rows(images, base or page_url, page_url, item) if images else ()

    def _drop_extra_links(self, links: list[tuple]) -> None:
        """Count the WAT image links past max_images as found and dropped."""
        texts = sum((alt is not None) + (title is not None) for _src, alt, title in links)
        self.counters["images"] += len(links)
        self.counters["texts_found"] += texts
        if texts:
            self.counters["texts_dropped:too_many_images"] += texts

    def _wat_rows(self, links: list[tuple], base: str | None, page_url: str | None,
                  item: _Item) -> list[tuple]:
        """_page_rows for WAT image links ((src, alt, title) tuples; never lazy): the
        same rows and counters, without building an attribute dict per image first (WAT
        records carry tens of image links each, so this loop is the WAT path's own
        cost). A list, not a generator: one generator level less per row."""
        counters = self.counters
        images = PageImages(base)
        resolve, known = images.resolve_new, images.known
        path, offset, crawl = self.path, item.offset, self.crawl
        fetch_time = self._fetch_time(item.date)
        rows: list[tuple] = []
        add = rows.append
        found = empty = no_src = non_http = too_long = 0
        max_chars = self.options.max_text_chars
        for src, alt, title in links:
            if alt is None:
                if title is None:
                    continue
                texts = 1
            else:
                texts = 1 if title is None else 2
            found += texts
            if src is None:
                src = ""
            elif "&" in src:
                src = wat_text(src)
            head = known(src, _UNKNOWN)   # (uuid, url), None, or not seen yet on this page
            if head is _UNKNOWN:
                head = resolve(src)
            if head is None:
                if src.strip():
                    non_http += texts
                else:
                    no_src += texts
                continue
            uuid, url = head
            for text, source in ((alt, "alt"), (title, "title")):
                if text is None:
                    continue
                text = clean_text(wat_text(text) if "&" in text else text)
                if not text:
                    empty += 1
                elif len(text) > max_chars:
                    too_long += 1
                else:
                    add((uuid, url, text, source, page_url, path, offset, crawl, fetch_time,
                         None))
        counters["images"] += len(links)
        counters["texts_found"] += found
        for key, value in (("pairs", len(rows)), ("texts_dropped:empty_text", empty),
                           ("texts_dropped:no_src", no_src),
                           ("texts_dropped:non_http_url", non_http),
                           ("texts_dropped:text_too_long", too_long)):
            if value:
                counters[key] += value
        return rows

    def _fetch_time(self, date: str | None):
        if date != self._date_text:
            self._date_text, self._date = date, parse_warc_date(date)
        return self._date

    def _page_rows(self, images: list[dict[str, str]], base: str | None, page_url: str | None,
                   item: _Item) -> Iterator[tuple]:
        """One row per (image, text attribute) with a usable URL and a non-empty text."""
        counters = self.counters
        resolve = PageImages(base).resolve
        lazy = self.options.lazy_images
        tail = (page_url, self.path, item.offset, self.crawl, self._fetch_time(item.date), None)
        found = pairs = lazy_used = empty = no_src = non_http = too_long = 0
        max_chars = self.options.max_text_chars
        for img in images:
            texts = [(source, img[source]) for source in TEXT_SOURCES if source in img]
            if not texts:
                continue
            found += len(texts)
            src = img.get("src", "")
            if lazy:
                lazy_src = lazy_source(img)
                if lazy_src is not None:
                    src = lazy_src
                    lazy_used += 1
            resolved = resolve(src)
            if resolved is None:
                if src.strip():
                    non_http += len(texts)
                else:
                    no_src += len(texts)
                continue
            for source, raw in texts:
                text = clean_text(raw)
                if not text:
                    empty += 1
                    continue
                if len(text) > max_chars:
                    too_long += 1
                    continue
                pairs += 1
                yield resolved + (text, source) + tail
        counters["images"] += len(images)
        counters["texts_found"] += found
        for key, value in (("pairs", pairs), ("images_lazy", lazy_used),
                           ("texts_dropped:empty_text", empty), ("texts_dropped:no_src", no_src),
                           ("texts_dropped:non_http_url", non_http),
                           ("texts_dropped:text_too_long", too_long)):
            if value:
                counters[key] += value


def _media_type(content_type: str | None) -> str | None:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media or None


def _looks_like_html(payload: bytes) -> bool:
    start = payload[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith(_HTML_STARTS)


def _read_limited(stream, limit: int) -> bytes | None:
    """The whole stream, or None when it holds more than limit bytes: at most limit + 1
    bytes are read (memory stays bounded; the caller drains the rest)."""
    if type(stream) is fast.Block:   # its length is known: one read (or none)
        return stream.read_limited(limit)
    chunks, size = [], 0
    while size <= limit:
        chunk = stream.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        return None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
