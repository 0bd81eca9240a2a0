"""How a page is read: the parser's options (the extract stage's PageOptions).

Every bound here is a size or a structure bound (bytes, nesting depth, element count),
checked while reading, so one input gives the same rows on any machine under any load.
`page_time_limit` is the one clock: a last guard, whose firing is recorded as an error
of the file (never a silent difference in rows)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageOptions:
    # Also take data-src / the first srcset candidate when src is missing or a placeholder.
    lazy_images: bool = False
    # A page (HTTP payload) larger than this is skipped, never read into memory whole.
    max_page_bytes: int = 10 * 1024 * 1024
    # A page that takes longer than this to parse is skipped and recorded as an error: a
    # last guard (the bounds below decide first, the same way on every machine).
    page_time_limit: float = 10.0
    # A record's header block (WARC and HTTP headers, and the blank lines before them)
    # longer than this ends the file's reading with an error: a gzip bomb or a 3 GB
    # header line is refused after this many bytes, never read into memory.
    max_header_bytes: int = 1024 * 1024
    # A record declaring a Content-Length over this ends the file's reading with an
    # error, before any of its block is read (a page is at most max_page_bytes anyway).
    max_record_bytes: int = 1024 * 1024 * 1024
    # A page whose tags nest deeper than this (counted on its bytes before parsing) is
    # skipped: HTML tree building is quadratic in the depth. Browsers stop nesting at
    # about 512 levels (Blink); real pages stay far below.
    max_depth: int = 2048
    # The first this many <img> elements (WAT: IMG@/src links) of a page are used; the
    # texts of the rest are dropped as `too_many_images`.
    max_images: int = 10_000
    # A text (alt, title, data-image-title) longer than this many characters is dropped
    # as `text_too_long`. ALGORITHM.md §1: no length filters, so the default is the page
    # bound (a text of a page cannot be longer than it): it never drops a text; lower it to
    # keep absurd texts out of the rows.
    max_text_chars: int = 10 * 1024 * 1024
