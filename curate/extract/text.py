"""Small pure functions shared by the HTML and WAT extractors (ALGORITHM.md §1)."""
from __future__ import annotations

import hashlib
from urllib.parse import urljoin, urlsplit

_HTTP_SCHEMES = ("http", "https")


def clean_text(s: str) -> str:
    """Newlines and carriage returns become spaces, then strip: exactly §1, nothing more.

    Tabs and inner runs of spaces are kept: §1 changes only \n and \r, and the
    later stages (dedup, matching) must see the text exactly as §1 defines it.
    """
    return s.replace("\n", " ").replace("\r", " ").strip()


def image_uuid(url: str) -> str:
    """The 96-bit image id of §1: tabs and spaces are removed before hashing."""
    key = url.replace("\t", "").replace(" ", "")
    return hashlib.sha224(key.encode("utf-8")).hexdigest()[:24]


def resolve_image_url(src: str, base: str | None) -> str | None:
    """The absolute http(s) URL of an `<img src>`, or None when there is none.

    `base` is the page's `<base href>` (already absolute) or the page URL.
    """
    src = src.strip()
    if not src:
        return None
    try:
        url = urljoin(base or "", src)
        # urljoin keeps data:, javascript:, relative results (no usable base) as
        # they are; only a fetchable http(s) URL with a host is an image URL.
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket in the host
        return None
    if parts.scheme not in _HTTP_SCHEMES or not parts.netloc:
        return None
    return url
