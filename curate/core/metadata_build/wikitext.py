"""Wikipedia text for the unigram and bigram statistics: the lines of a file.

A file is either a MediaWiki XML dump (``pages-articles``, its first bytes ``<?xml`` or
``<mediawiki``), read as a stream with the standard library's ``iterparse`` (never held
whole; ``.bz2`` and ``.gz`` are decompressed on the fly), or plain UTF-8 text (bytes that are
not UTF-8 become U+FFFD, which no token holds). Plain text is taken line by line; a dump
gives the lines of the plain text of each article: main namespace (``<ns>0</ns>``) pages that
are not redirects, their latest ``<text>`` reduced from wiki markup by :func:`markup_to_text`.

The markup reduction is deliberately simple (regular expressions, no template expansion):

1. comments, ``<ref>`` footnotes, and the contents of ``<math>``, ``<code>``, ``<pre>``,
   ``<syntaxhighlight>``, ``<source>``, ``<score>``, ``<timeline>``, ``<gallery>``,
   ``<nowiki>`` are removed;
2. templates ``{{...}}`` (infoboxes, citations, ...) and tables ``{|...|}`` are removed,
   innermost first, so nested ones go too;
3. internal links ``[[target|label]]`` become their label (``[[target]]`` the target; a
   trailing ``s`` as in ``[[cat]]s`` stays attached); a link whose target starts with a
   prefix and a colon followed by a non-space character (``File:``, ``Category:``,
   ``de:``, ``Datei:``...) is a namespace, category or interlanguage link and is removed
   with its caption; ``[[2001: A Space Odyssey]]`` is an article and stays;
4. external links ``[http://... label]`` become their label; bare URLs are removed;
5. bold/italic quotes (``''``, ``'''``), heading marks (``== Heading ==``), list and indent
   marks at line starts (``*``, ``#``, ``:``, ``;``), rules (``----``) and behaviour
   switches (``__TOC__``) are removed; other HTML tags are removed, keeping their text;
6. HTML entities (``&nbsp;``, ``&amp;``...) are decoded.
"""
from __future__ import annotations

import html
import io
import re
import xml.etree.ElementTree as ET
from collections import Counter
from typing import BinaryIO, Iterator

from curate.core.metadata_build.streams import open_decompressed
from curate.core.metadata_build.tokens import count_line

__all__ = ["markup_to_text", "iter_dump_articles", "iter_lines", "count_file"]

_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_REF = re.compile(r"<ref\b[^>]*/>|<ref\b[^>]*>.*?</ref\s*>", re.S | re.I)
_DROPPED_ELEMENTS = re.compile(
    r"<(math|code|pre|syntaxhighlight|source|score|timeline|gallery|nowiki)\b[^>]*>"
    r".*?</\1\s*>", re.S | re.I)
_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_TABLE = re.compile(r"\{\|(?:(?!\{\||\|\}).)*\|\}", re.S)
_LINK = re.compile(r"\[\[([^\[\]]*)\]\]")
_NAMESPACED = re.compile(r"\s*:?[^\s:|\[\]][^:|\[\]]*?:\S")
_EXTERNAL_LINK = re.compile(r"\[(?:https?:|ftp:)?//[^\s\]]*\s*([^\]]*)\]", re.I)
_BARE_URL = re.compile(r"\b(?:https?|ftp)://\S+", re.I)
_QUOTES = re.compile(r"'{2,}")
_HEADING = re.compile(r"^(=+)\s*(.*?)\s*\1\s*$", re.M)
_LINE_MARKS = re.compile(r"^[*#:;]+[ \t]*", re.M)
_RULE = re.compile(r"^-{4,}[ \t]*", re.M)
_SWITCH = re.compile(r"__[A-Z]+__")
_TAG = re.compile(r"</?[A-Za-z][^>\n]*>")
_MAX_PASSES = 50   # nesting depth of templates, tables or links that is undone


def _repeat(pattern: re.Pattern, replacement, text: str) -> str:
    for _ in range(_MAX_PASSES):
        text, n = pattern.subn(replacement, text)
        if not n:
            break
    return text


def _link_text(m: re.Match) -> str:
    inner = m.group(1)
    if _NAMESPACED.match(inner):
        return ""
    return inner.rsplit("|", 1)[-1] if "|" in inner else inner


def markup_to_text(markup: str) -> str:
    """Plain text of an article's wiki markup (the module docstring gives the steps)."""
    text = _COMMENT.sub("", markup)
    text = _REF.sub("", text)
    text = _DROPPED_ELEMENTS.sub("", text)
    for _ in range(_MAX_PASSES):   # tables inside templates and templates inside tables
        text, templates = _TEMPLATE.subn("", text)
        text, tables = _TABLE.subn("", text)
        if not templates and not tables:
            break
    text = _repeat(_LINK, _link_text, text)
    text = _EXTERNAL_LINK.sub(r"\1", text)
    text = _BARE_URL.sub("", text)
    text = _QUOTES.sub("", text)
    text = _HEADING.sub(r"\2", text)
    text = _LINE_MARKS.sub("", text)
    text = _RULE.sub("", text)
    text = _SWITCH.sub("", text)
    text = _TAG.sub("", text)
    return html.unescape(text)


def iter_dump_articles(stream: BinaryIO, counters: Counter | None = None
                       ) -> Iterator[tuple[str, str]]:
    """(title, wiki markup) of each main-namespace, non-redirect page of a dump stream.
    Memory stays bounded: each page's elements are dropped once it has been read."""
    counters = Counter() if counters is None else counters
    context = ET.iterparse(stream, events=("start", "end"))
    _, root = next(context)
    ns = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    page_tag = ns + "page"
    for event, elem in context:
        if event != "end" or elem.tag != page_tag:
            continue
        counters["pages"] += 1
        if elem.findtext(ns + "ns", "0").strip() != "0":
            counters["pages_other_namespace"] += 1
        elif elem.find(ns + "redirect") is not None:
            counters["pages_redirect"] += 1
        else:
            revision = elem.find(ns + "revision")
            text = revision.findtext(ns + "text", "") if revision is not None else ""
            counters["articles"] += 1
            yield elem.findtext(ns + "title", ""), text
        root.clear()   # the page and everything before it


def _is_dump(head: bytes) -> bool:
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith((b"<?xml", b"<mediawiki"))


def iter_lines(path: str, counters: Counter | None = None) -> Iterator[str]:
    """The text lines (without line breaks) of a dump or plain text file."""
    counters = Counter() if counters is None else counters
    with open_decompressed(path) as stream:
        if _is_dump(stream.peek(64)[:64]):
            counters["dumps"] += 1
            for _title, markup in iter_dump_articles(stream, counters):
                yield from markup_to_text(markup).split("\n")
        else:
            counters["text_files"] += 1
            # Universal newlines: \r\n and \r end a line too.
            text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline=None)
            for line in text:
                yield line[:-1] if line.endswith("\n") else line


def count_file(path: str, flush_at: int = 1_000_000
               ) -> Iterator[tuple[Counter, Counter, Counter]]:
    """Partial counts of one file: (unigrams, bigrams, counters), a new triple whenever the
    distinct unigrams and bigrams held pass `flush_at` and once at the end, so a task's
    memory stays bounded; adding the partials up gives the file's counts. The counters
    hold "tokens", "lines", "files" and what :func:`iter_lines` counted."""
    unigrams: Counter = Counter()
    bigrams: Counter = Counter()
    counters: Counter = Counter(files=1)   # the file's so far; each triple holds its share
    reported: Counter = Counter()
    for line in iter_lines(path, counters):
        counters["lines"] += 1
        counters["tokens"] += count_line(line, unigrams, bigrams)
        if len(unigrams) + len(bigrams) >= flush_at:
            yield unigrams, bigrams, counters - reported
            reported = counters.copy()
            unigrams, bigrams = Counter(), Counter()
    yield unigrams, bigrams, counters - reported
