"""The `<base href>` and the `<img>` elements of one HTML page (ALGORITHM.md §1).

Two parts:

- Charset: the byte-order mark, then the HTTP header, then `<meta charset>` /
  `http-equiv`, then strict UTF-8, then detection (charset-normalizer) on bytes
  that are not UTF-8 (`charset_of`, `decode_html`).
- Parsing: `scan_html` builds the page's HTML5 tree with lexbor (selectolax), a
  C parser about 8x faster than the stdlib `html.parser` that finds the same
  `<img>` and `<base>` attributes on the 181 real pages of the tests, and takes
  the first `<base href>` and every `<img>`'s source and text attributes.
"""
from __future__ import annotations

import codecs
import re
import time
from typing import NamedTuple
from urllib.parse import urljoin

from charset_normalizer import from_bytes
from selectolax.lexbor import LexborHTMLParser

from curate.schemas import TEXT_SOURCES

# The attributes kept from an <img>: its sources (see curate.core.extract.lazy) and the texts of §1.
IMG_SOURCES = ("src", "data-src", "srcset", "data-srcset")
IMG_ATTRS = IMG_SOURCES + TEXT_SOURCES
_IMG_ATTR_SET = frozenset(IMG_ATTRS)


class ParseTimeout(Exception):
    """The page took longer than its time limit to parse."""


class PageBounds(NamedTuple):
    """Structure bounds of one page (PageOptions'): the <img> elements used."""
    max_images: int


class Images(list):
    """The attribute dicts of a page's first max_images <img> elements; `extra_images`
    and `extra_texts` count the elements past them and their text attributes."""
    extra_images = 0
    extra_texts = 0


# --- nesting depth, counted on the bytes -------------------------------------------
#
# lexbor builds the tree in time quadratic in its depth (each start tag looks down the
# stack of open elements: 100,000 nested <div> take 25-120 s), so a page is measured
# before it is parsed. The count follows the HTML tree builder where it matters for
# depth: elements that hold nothing (void) or that their next sibling closes (p, li,
# td, ...) are not counted; an end tag closes up to the open element of its name and
# is ignored when none is open (a stray end tag cannot lower the count); `a`, `nobr`,
# `button` and `form` never nest in themselves; `<x/>` closes only inside svg / math;
# the contents of script, style and the other raw-text elements, and comments, are not
# markup. It is linear: each counted element is pushed and popped once.
_TAG = re.compile(rb"<(?:(!--)|(/?)([A-Za-z][^\t\n\f\r />]*)([^>]*)>)")
_NOT_COUNTED = frozenset(b"""area base basefont bgsound br col embed frame hr image img
    input keygen link meta param source track wbr p li dt dd option optgroup tr td th
    rb rt rp rtc thead tbody tfoot colgroup caption""".split())
_ONCE = frozenset((b"a", b"nobr", b"button", b"form"))
_FOREIGN = (b"svg", b"math")
_RAW_TEXT = {name: re.compile(rb"</" + name + rb"[\t\n\f\r />]", re.I) for name in
             (b"script", b"style", b"textarea", b"title", b"xmp", b"iframe", b"noembed",
              b"noframes", b"noscript")}


def too_deep(payload: bytes, max_depth: int) -> bool:
    """Whether the page's elements nest deeper than max_depth (see above)."""
    # The depth counted is at most the number of start tags: most pages (every one of the
    # 181 real news pages in the tests, at the default) are decided by this bound alone.
    if payload.count(b"<") - payload.count(b"</") - payload.count(b"<!") <= max_depth:
        return False
    stack: list[bytes] = []
    open_count: dict[bytes, int] = {}
    pos = 0
    while True:
        for match in _TAG.finditer(payload, pos):
            comment, close, name, rest = match.groups()
            if comment:
                end = payload.find(b"-->", match.start() + 4)
                if end < 0:
                    return False        # the rest of the page is a comment
                pos = end + 3
                break
            name = name.lower()
            if name in _NOT_COUNTED:
                continue
            if close:
                if open_count.get(name):
                    while True:
                        top = stack.pop()
                        open_count[top] -= 1
                        if top == name:
                            break
                continue
            if rest.endswith(b"/") and (open_count.get(b"svg") or open_count.get(b"math")
                                        or name in _FOREIGN):
                continue                # self-closing in foreign content
            if name in _ONCE and open_count.get(name):
                continue
            raw_end = _RAW_TEXT.get(name)
            if raw_end is not None:
                end = raw_end.search(payload, match.end())
                if end is None:
                    return False        # the rest of the page is its text
                pos = end.start()
                break
            stack.append(name)
            open_count[name] = open_count.get(name, 0) + 1
            if len(stack) > max_depth:
                return True
        else:
            return False


# --- charset -------------------------------------------------------------------

# A <meta charset> must sit in the first 1024 bytes by the HTML standard; real
# pages are sloppier, so look a little further.
_META_SCAN_BYTES = 4096
# Matches both `<meta charset="x">` and `<meta http-equiv=... content="...; charset=x">`.
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([^\s;"']+)""", re.I)
# ("utf-16" reads the BOM and drops it; "utf-8" keeps U+FEFF as the first character,
# as the page was always decoded.)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
# Detection looks at this much of an undeclared, non-UTF-8 page (it samples anyway).
_DETECT_BYTES = 64 * 1024

# Browsers decode these labels with a superset (WHATWG Encoding standard): pages
# labelled latin-1 or gb2312 routinely contain cp1252 or GBK characters.
_SUPERSETS = {"iso8859-1": "cp1252", "ascii": "cp1252", "gb2312": "gb18030", "gbk": "gb18030"}


def _codec(label: str | None) -> str | None:
    """A Python text codec for a charset label, or None when Python has none."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().lower()).name
        name = _SUPERSETS.get(name, name)
        # Rejects bytes-to-bytes codecs such as base64 or zlib (not on b"": an
        # empty decode never looks the codec up).
        b"a".decode(name, "replace")
    except (LookupError, ValueError):
        return None
    return name


def declared_charset(payload: bytes, content_type: str | None) -> str | None:
    """The codec the page declares: byte-order mark, HTTP header, then <meta>; None if none."""
    for bom, name in _BOMS:
        if payload.startswith(bom):
            return name
    header = _HEADER_CHARSET.search(content_type or "")
    codec = _codec(header.group(1)) if header else None
    if codec is None:
        meta = _META_CHARSET.search(payload[:_META_SCAN_BYTES])
        codec = _codec(meta.group(1).decode("ascii")) if meta else None
    return codec


def detect_charset(payload: bytes) -> str | None:
    """The most likely codec of bytes that declare none and are not UTF-8 (charset-normalizer).

    Short or mostly-ASCII pages often fit several single-byte code pages equally
    well; among the candidates tied with the best, windows-1252 wins (the HTML
    standard's default for undeclared pages), then the code pages common on the web.
    """
    matches = list(from_bytes(payload[:_DETECT_BYTES], preemptive_behaviour=False))
    if not matches:
        return None
    best = matches[0]
    tied = [m for m in matches
            if m.chaos <= best.chaos + 0.01 and m.coherence >= best.coherence - 0.01]
    for preferred in _PREFERRED:
        for match in tied:
            if preferred in (_codec(name) for name in match.could_be_from_charset):
                return preferred
    return _codec(best.encoding)


# Tie-breaking order for detect_charset: the WHATWG default first, then the legacy
# encodings most common on the web.
_PREFERRED = ("cp1252", "cp1251", "cp1250", "iso8859-2", "cp1256", "cp1253", "cp1254",
              "cp1255", "cp1257", "cp1258", "koi8-r", "cp874", "euc_jp", "shift_jis", "cp932",
              "gb18030", "big5", "euc_kr", "cp949")


def charset_of(payload: bytes, content_type: str | None) -> str:
    """The codec to decode a page with: declared, else UTF-8 when the bytes are UTF-8,
    else detected, else UTF-8 (undecodable bytes then become U+FFFD)."""
    codec = declared_charset(payload, content_type)
    if codec is not None:
        return codec
    try:
        payload.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return detect_charset(payload) or "utf-8"


def decode_html(payload: bytes, content_type: str | None = None) -> str:
    """Page bytes as text; undecodable bytes become U+FFFD rather than failing."""
    codec = declared_charset(payload, content_type)
    if codec is None:
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            codec = detect_charset(payload) or "utf-8"
    return payload.decode(codec, errors="replace")


# --- parsing: HTML5, as browsers do ---------------------------------------------------


def scan_html(text: str, deadline: float | None = None,
              bounds: PageBounds | None = None) -> tuple[str | None, Images]:
    """(first `<base href>` or None, img attribute dicts, in document order) of a page:
    the first bounds.max_images of them (Images counts the rest).

    The page is parsed by lexbor (through selectolax), an HTML5 parser: tokenizing,
    entity decoding and tree building follow the HTML standard, so the elements found
    are those a browser builds. Its cost is linear in the page size (bounded by
    PageOptions.max_page_bytes) once the depth is bounded (too_deep, checked by the caller
    before); the deadline, a last guard, is checked once the tree is built and
    while images are collected, and ParseTimeout is raised past it.
    """
    tree = LexborHTMLParser(text)
    _check(deadline)
    base = tree.css_first("base[href]")
    images = Images()
    nodes = tree.css("img")
    kept = len(nodes) if bounds is None else min(len(nodes), bounds.max_images)
    for count, node in enumerate(nodes[:kept]):
        if count % 256 == 255:
            _check(deadline)
        attributes = node.attributes
        # A bare attribute (`<img alt>`) has the empty string as its value.
        images.append({name: attributes[name] or "" for name in IMG_ATTRS
                       if name in attributes})
    if kept < len(nodes):   # counted, so the report says how many texts were left
        images.extra_images = len(nodes) - kept
        for count, node in enumerate(nodes[kept:]):
            if count % 256 == 255:
                _check(deadline)
            attributes = node.attributes
            images.extra_texts += sum(name in attributes for name in TEXT_SOURCES)
    return (base.attributes["href"] if base is not None else None), images


def _check(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise ParseTimeout()


def _resolve_base(base_href: str | None, page_url: str | None) -> str | None:
    if base_href is None:
        return None
    try:
        return urljoin(page_url or "", base_href.strip())
    except ValueError:  # an unparsable href: browsers ignore such a base too
        return None


def parse_html(payload: bytes, page_url: str | None, content_type: str | None = None,
               deadline: float | None = None,
               bounds: PageBounds | None = None) -> tuple[str | None, Images]:
    """(base URL or None, images) of one page.

    The base is the first `<base href>` resolved against `page_url`. Each image
    is a dict holding those of IMG_ATTRS that the element has. Image URLs are
    left unresolved: a malformed page can put its `<base>` after some images, so
    they are resolved once the page is read. Raises ParseTimeout past `deadline`.
    """
    base_href, images = scan_html(decode_html(payload, content_type), deadline, bounds)
    return _resolve_base(base_href, page_url), images
