"""The `<base href>` and the `<img>` elements of one HTML page (ALGORITHM.md §1).

Uses the stdlib `html.parser`: a real tokenizer, so quoting, comments, scripts
and character references in attribute values are handled as browsers do,
without a native dependency on the Spark executors.
"""
from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser
from urllib.parse import urljoin

from curate.schemas import TEXT_SOURCES

# The attributes kept from an <img>: its source and the texts of §1.
IMG_ATTRS = ("src",) + TEXT_SOURCES

# A <meta charset> must sit in the first 1024 bytes by the HTML standard; real
# pages are sloppier, so look a little further.
_META_SCAN_BYTES = 4096
# Matches both `<meta charset="x">` and `<meta http-equiv=... content="...; charset=x">`.
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([^\s;"']+)""", re.I)

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


def charset_of(payload: bytes, content_type: str | None) -> str:
    """The codec to decode a page with: HTTP header, then <meta>, then utf-8."""
    header = _HEADER_CHARSET.search(content_type or "")
    codec = _codec(header.group(1)) if header else None
    if codec is None:
        meta = _META_CHARSET.search(payload[:_META_SCAN_BYTES])
        codec = _codec(meta.group(1).decode("ascii")) if meta else None
    return codec or "utf-8"


def decode_html(payload: bytes, content_type: str | None = None) -> str:
    """Page bytes as text; undecodable bytes become U+FFFD rather than failing."""
    return payload.decode(charset_of(payload, content_type), errors="replace")


class _PageParser(HTMLParser):
    """Collects the first `<base href>` and the wanted attributes of every `<img>`."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base_href: str | None = None
        self.images: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            img: dict[str, str] = {}
            for name, value in attrs:
                # Browsers use the first of duplicated attributes; a bare
                # attribute (`<img alt>`) has the empty string as its value.
                if name in IMG_ATTRS and name not in img:
                    img[name] = value or ""
            self.images.append(img)
        elif tag == "base" and self.base_href is None:
            for name, value in attrs:
                if name == "href" and value is not None:
                    self.base_href = value
                    break


def parse_html(payload: bytes, page_url: str | None,
               content_type: str | None = None) -> tuple[str | None, list[dict[str, str]]]:
    """(base URL or None, images) of one page.

    The base is the first `<base href>` resolved against `page_url`. Each image
    is a dict holding those of `src`, `alt`, `title`, `data-image-title` that
    the element has. Image URLs are left unresolved: a malformed page can put
    its `<base>` after some images, so they are resolved once the page is read.
    """
    parser = _PageParser()
    parser.feed(decode_html(payload, content_type))
    parser.close()
    base = None
    if parser.base_href is not None:
        try:
            base = urljoin(page_url or "", parser.base_href.strip())
        except ValueError:  # an unparsable href: browsers ignore such a base too
            base = None
    return base, parser.images
