"""The image links of one WAT `metadata` record (ALGORITHM.md §1).

A WAT record's payload is CommonCrawl's pre-parsed JSON of one WARC record:
`Envelope → Payload-Metadata → HTTP-Response-Metadata → HTML-Metadata`, whose
`Links` hold `{"path": "IMG@/src", "url": ..., "alt": ..., "title": ...}`.

Most WAT records (requests, metadata, pages without images) hold no image link:
`has_image_links` tells them by their bytes, so their JSON is never parsed. The
JSON is parsed with orjson when it is installed (an optional speed-up) and with
the stdlib otherwise; where orjson refuses a document the stdlib accepts (NaN,
integers over 64 bits, lone surrogates), the stdlib decides, so the result does
not depend on what is installed.
"""
from __future__ import annotations

import html
import json
import re
from itertools import compress, repeat
from operator import eq
from typing import Any
from urllib.parse import urljoin

try:
    import orjson
except ImportError:  # the optional extra is not installed
    orjson = None

_HTML_METADATA = ("Envelope", "Payload-Metadata", "HTTP-Response-Metadata", "HTML-Metadata")
# WAT link keys -> the attribute names the HTML extractor uses (`data-image-title`
# never appears in WAT).
_LINK_KEYS = (("url", "src"), ("alt", "alt"), ("title", "title"))
# JSON text can only hold these as the key / value CommonCrawl writes (a `"` inside
# a string is escaped), so their absence proves there is nothing to parse for.
IMAGE_LINK_MARK = b'"IMG@/src"'
HTML_METADATA_MARK = b'"HTML-Metadata"'
# json.loads joins escaped surrogate pairs; any surrogate left stands alone.
_SURROGATE = re.compile("[\ud800-\udfff]")


def has_image_links(payload: bytes) -> bool:
    return IMAGE_LINK_MARK in payload


def loads(payload: bytes) -> Any:
    """JSON, as the stdlib reads it (orjson first when installed). Raises ValueError."""
    if orjson is not None:
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            pass
    return _sanitize(json.loads(payload))


def _sanitize(value: Any) -> Any:
    """Strings with lone surrogates (valid JSON escapes, not valid UTF-8) get U+FFFD."""
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return _SURROGATE.sub("\ufffd", value)
        return value
    if isinstance(value, dict):
        return {_sanitize(k): _sanitize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_sanitize(v) for v in value]
    return value


def _get(doc: Any, *keys: str) -> Any:
    """doc[k1][k2]... or None when a level is missing or not an object."""
    for key in keys:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def wat_text(value: Any) -> str | None:
    # CommonCrawl's WAT writer stored attribute values with their character
    # references undecoded until 2019 (commoncrawl/ia-web-commons#14: `&amp;`
    # in URLs, `&quot;` in alts; the CC-MAIN-2014-35 WAT here shows it in its
    # hrefs). Decoding makes old WATs agree with the HTML parser; on newer,
    # already decoded WATs it changes only text that literally shows an entity.
    if isinstance(value, str):
        return html.unescape(value) if "&" in value else value
    return None


def warcinfo_fields(payload: bytes) -> dict[str, str] | None:
    """The WARC-Info-Metadata (the WARC's warcinfo fields) of a WAT record, if it has them."""
    try:
        doc = loads(payload)
    except ValueError:
        return None
    fields = _get(doc, "Envelope", "Payload-Metadata", "WARC-Info-Metadata")
    if not isinstance(fields, dict):
        return None
    return {k: v for k, v in fields.items() if isinstance(v, str)}


def wat_page(payload: bytes) -> tuple[str | None, str | None, list[dict]] | None:
    """(page URL, base URL or None, image links) of a WAT record, None when it has no
    HTML-Metadata. The links are the record's own `IMG@/src` objects (values not yet
    unescaped: `image_fields` does that). Raises ValueError when the payload is not JSON.
    """
    doc = loads(payload)
    meta = _get(doc, *_HTML_METADATA)
    if not isinstance(meta, dict):
        return None
    page_url = _get(doc, "Envelope", "WARC-Header-Metadata", "WARC-Target-URI")
    if not isinstance(page_url, str):  # a WARC header, not HTML: never unescaped
        page_url = None
    base = wat_text(_get(meta, "Head", "Base"))
    if base is not None:
        try:
            base = urljoin(page_url or "", base.strip())
        except ValueError:
            base = None
    links = meta.get("Links")
    if type(links) is not list:
        return page_url, base, []
    try:   # the links are objects (CommonCrawl's writer): `link.get("path") == "IMG@/src"`
        # for each, in C (a page has hundreds of links, mostly not images) ...
        paths = map(dict.get, links, repeat("path"))
        return page_url, base, list(compress(links, map(eq, paths, repeat("IMG@/src"))))
    except TypeError:   # ... or not (dict.get of a non-dict): skip what is not one
        return page_url, base, [link for link in links
                                if type(link) is dict and link.get("path") == "IMG@/src"]


def image_fields(link: dict) -> tuple[str | None, str | None, str | None]:
    """(src, alt, title) of an image link: strings with character references decoded, or None."""
    src, alt, title = link.get("url"), link.get("alt"), link.get("title")
    return (wat_text(src) if type(src) is str else None,
            wat_text(alt) if type(alt) is str else None,
            wat_text(title) if type(title) is str else None)


def parse_wat(payload: bytes) -> tuple[str | None, str | None, list[dict[str, str]]] | None:
    """(page URL, base URL or None, images) of a WAT record, None when it has no HTML-Metadata.

    Images use the HTML extractor's shape: dicts with `src` and the text
    attributes present. Raises ValueError when the payload is not JSON.
    """
    page = wat_page(payload)
    if page is None:
        return None
    page_url, base, links = page
    images = []
    for link in links:
        img = {}
        for (_, attr), value in zip(_LINK_KEYS, image_fields(link)):
            if value is not None:
                img[attr] = value
        images.append(img)
    return page_url, base, images
