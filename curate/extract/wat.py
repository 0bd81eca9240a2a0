"""The image links of one WAT `metadata` record (ALGORITHM.md §1).

A WAT record's payload is CommonCrawl's pre-parsed JSON of one WARC record:
`Envelope → Payload-Metadata → HTTP-Response-Metadata → HTML-Metadata`, whose
`Links` hold `{"path": "IMG@/src", "url": ..., "alt": ..., "title": ...}`.
"""
from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import urljoin

_HTML_METADATA = ("Envelope", "Payload-Metadata", "HTTP-Response-Metadata", "HTML-Metadata")
# WAT link keys -> the attribute names the HTML extractor uses (`data-image-title`
# never appears in WAT).
_LINK_KEYS = (("url", "src"), ("alt", "alt"), ("title", "title"))


def _get(doc: Any, *keys: str) -> Any:
    """doc[k1][k2]... or None when a level is missing or not an object."""
    for key in keys:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def _text(value: Any) -> str | None:
    # CommonCrawl's WAT writer stored attribute values with their character
    # references undecoded until 2019 (commoncrawl/ia-web-commons#14: `&amp;`
    # in URLs, `&quot;` in alts; the CC-MAIN-2014-35 WAT here shows it in its
    # hrefs). Decoding makes old WATs agree with the HTML parser; on newer,
    # already decoded WATs it changes only text that literally shows an entity.
    return html.unescape(value) if isinstance(value, str) else None


def parse_wat(payload: bytes) -> tuple[str | None, str | None, list[dict[str, str]]] | None:
    """(page URL, base URL or None, images) of a WAT record, None when it has no HTML-Metadata.

    Images use the HTML extractor's shape: dicts with `src` and the text
    attributes present. Raises ValueError when the payload is not JSON.
    """
    doc = json.loads(payload)
    meta = _get(doc, *_HTML_METADATA)
    if not isinstance(meta, dict):
        return None
    page_url = _get(doc, "Envelope", "WARC-Header-Metadata", "WARC-Target-URI")
    if not isinstance(page_url, str):  # a WARC header, not HTML: never unescaped
        page_url = None
    base = _text(_get(meta, "Head", "Base"))
    if base is not None:
        try:
            base = urljoin(page_url or "", base.strip())
        except ValueError:
            base = None
    images = []
    links = meta.get("Links")
    for link in links if isinstance(links, list) else ():
        if isinstance(link, dict) and link.get("path") == "IMG@/src":
            img = {}
            for wat_key, attr in _LINK_KEYS:
                value = _text(link.get(wat_key))
                if value is not None:
                    img[attr] = value
            images.append(img)
    return page_url, base, images
