"""Wikimedia hourly pageview files -> Wikipedia titles by views (ALGORITHM.md §3).

Format (https://dumps.wikimedia.org/other/pageviews/, ``pageviews-YYYYMMDD-HH0000.gz``): one
line per page and hour, four fields separated by single spaces::

    domain_code page_title count_views total_response_size
    en Main_Page 42 0

* ``domain_code``: the lines of language L's Wikipedia are kept: ``L`` (desktop) and ``L.m``
  (mobile); other languages and other projects (``L.b`` Wikibooks, ``L.d`` Wiktionary ...)
  are skipped.
* ``page_title`` is taken as written (not percent-decoded); ``_`` becomes a space; titles
  containing ``:`` (other namespaces: ``Special:``, ``File:``, ``Talk:`` ..., and the few
  articles with a colon) are dropped, as MetaCLIP does; an empty title is dropped.
* ``count_views`` is summed per title over every line, hour and file; ``total_response_size``
  is ignored. Lines that do not have four fields, an integer count, or UTF-8 bytes are
  counted as malformed and skipped; blank lines are skipped.

A title is kept when its total is >= ``min_views`` (MetaCLIP: 70 over 26 sampled days).
Files may be gzipped, bzip2ed or plain.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Iterator

from curate.core.metadata_build.streams import open_decompressed

__all__ = ["wikipedia_domains", "parse_line", "count_file", "select_titles", "pageview_titles"]

MALFORMED = "malformed"


def wikipedia_domains(lang: str) -> frozenset[bytes]:
    """The domain codes of language `lang`'s Wikipedia, desktop and mobile."""
    return frozenset({lang.encode("ascii"), f"{lang}.m".encode("ascii")})


def parse_line(line: bytes, domains: frozenset[bytes]) -> tuple[str, int] | str | None:
    """(title, views) of a line of one of `domains`; None for a line of another domain or a
    dropped title; MALFORMED for a line not in the format."""
    fields = line.rstrip(b"\r\n").split(b" ")
    if len(fields) != 4:
        return MALFORMED
    domain, title, views, _size = fields
    if domain not in domains:
        return None
    try:
        n = int(views)
        text = title.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return MALFORMED
    if n < 0:
        return MALFORMED
    if ":" in text:
        return None
    text = text.replace("_", " ")
    if not text:
        return None
    return text, n


def count_file(path: str, lang: str, flush_at: int = 1_000_000
               ) -> Iterator[tuple[Counter, Counter]]:
    """Partial (views per title, counters) of one file, a new pair whenever the titles held
    pass `flush_at` and once at the end; adding them up gives the file's totals. The
    counters: "files", "lines", "lines_kept", "lines_other_domain", "lines_dropped_title",
    "lines_malformed"."""
    domains = wikipedia_domains(lang)
    views: Counter = Counter()
    counters: Counter = Counter(files=1)
    with open_decompressed(path) as stream:
        for line in stream:
            if not line.strip():
                continue
            counters["lines"] += 1
            parsed = parse_line(line, domains)
            if parsed is None:
                if line.split(b" ", 1)[0] in domains:
                    counters["lines_dropped_title"] += 1
                else:
                    counters["lines_other_domain"] += 1
            elif isinstance(parsed, str):   # MALFORMED
                counters["lines_malformed"] += 1
            else:
                views[parsed[0]] += parsed[1]
                counters["lines_kept"] += 1
                if len(views) >= flush_at:
                    yield views, counters
                    views, counters = Counter(), Counter()
    yield views, counters


def select_titles(totals: Iterable[tuple[str, int]], min_views: int) -> list[tuple[str, int]]:
    """(title, views) with views >= min_views, by views descending, then title."""
    kept = [(t, int(v)) for t, v in totals if v >= min_views]
    kept.sort(key=lambda tv: (-tv[1], tv[0]))
    return kept


def pageview_titles(paths: list[str], lang: str, min_views: int
                    ) -> tuple[list[tuple[str, int]], dict[str, int]]:
    """The pure core: (kept titles by views, counters) of pageview files."""
    totals: Counter = Counter()
    counters: Counter = Counter()
    for path in paths:
        for views, seen in count_file(path, lang):
            totals.update(views)
            counters.update(seen)
    counters["distinct_titles"] = len(totals)
    return select_titles(totals.items(), min_views), dict(sorted(counters.items()))
