"""The image links of one WAT `metadata` record (ALGORITHM.md §1).

A WAT record's payload is CommonCrawl's pre-parsed JSON of one WARC record:
`Envelope → Payload-Metadata → HTTP-Response-Metadata → HTML-Metadata`, whose
`Links` hold `{"path": "IMG@/src", "url": ..., "alt": ..., "title": ...}`.

Most WAT records (requests, metadata, pages without images) hold no image link:
the reader tells them by `IMAGE_LINK_MARK` in their bytes, so their JSON is never parsed.

Where an object repeats a key, the first value wins, as HTML keeps the first of a
repeated attribute (so a WAT link reads like the `<img>` it was written from).
JSON is parsed with pysimdjson when it is installed (an optional speed-up: it parses
in C++ and builds Python objects only for what is looked at) and with the stdlib
otherwise; a document simdjson refuses (lone surrogates, NaN, integers over 64
bits, UTF-16) goes to the stdlib, so the result does not depend on what is installed.
"""
from __future__ import annotations

import html
import html.entities
import json
import re
from typing import Any
from urllib.parse import urljoin

try:
    import simdjson
except ImportError:  # the optional extra is not installed
    simdjson = None
try:
    # The C walk of a document simdjson has parsed (_watlinks.c): built with the package
    # where a C compiler is at hand, the Python walk of simdjson's objects otherwise.
    from curate.core.extract._watlinks import page as _walk_page
except ImportError:
    _walk_page = None

IMAGE_LINK = "IMG@/src"
# JSON text can only hold these as the key / value CommonCrawl writes (a `"` inside
# a string is escaped), so their absence proves there is nothing to parse for.
IMAGE_LINK_MARK = b'"IMG@/src"'
HTML_METADATA_MARK = b'"HTML-Metadata"'
# An escaped UTF-16 surrogate: json.loads may leave a lone one in a string.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")

# An image link: (src, alt, title), each a string (character references not yet
# decoded: wat_text does that) or None.
ImageLink = tuple




def _first_wins(pairs: list[tuple[str, Any]]) -> dict:
    return dict(reversed(pairs))


def loads(payload: bytes) -> Any:
    """JSON by the stdlib, the first of a repeated key winning. Raises ValueError."""
    doc = json.loads(payload, object_pairs_hook=_first_wins)
    return _sanitize(doc) if _SURROGATE_ESCAPE.search(payload) else doc


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


def wat_text(value: Any) -> str | None:
    # CommonCrawl's WAT writer stored attribute values with their character
    # references undecoded until 2019 (commoncrawl/ia-web-commons#14: `&amp;`
    # in URLs, `&quot;` in alts; the CC-MAIN-2014-35 WAT here shows it in its
    # hrefs). Decoding makes old WATs agree with the HTML parser; on newer,
    # already decoded WATs it changes only text that literally shows an entity.
    if isinstance(value, str):
        return _unescape(value) if "&" in value else value
    return None


# Where html.unescape can change a string: `&#`, or `&` followed by a name it knows with
# its `;`, or by a prefix it accepts without one (the legacy names: `&amp`, `&not`, ...;
# it tries the run's prefixes longest first). Anything else it leaves as it is, so a string
# with no match is returned untouched, skipping its slower search: URL query strings
# (`?width=111&height=62`) are the common case.
_NAMES_WITHOUT_SEMICOLON = sorted((name for name in html.entities.html5 if not name.endswith(";")),
                                  key=len, reverse=True)
_MAY_UNESCAPE = re.compile("&(?:#|" + "|".join(_NAMES_WITHOUT_SEMICOLON) + "|[A-Za-z0-9]+;)")


def _unescape(value: str) -> str:
    return html.unescape(value) if _MAY_UNESCAPE.search(value) else value


def warcinfo_fields(payload: bytes) -> dict[str, str] | None:
    """The WARC-Info-Metadata (the WARC's warcinfo fields) of a WAT record, if it has them."""
    try:
        doc = loads(payload)
    except (ValueError, RecursionError):
        return None
    fields = _Tree(dict, list).get(doc, "Envelope", "Payload-Metadata", "WARC-Info-Metadata")
    if not isinstance(fields, dict):
        return None
    return {k: v for k, v in fields.items() if isinstance(v, str)}


def wat_page(payload: bytes) -> tuple[str | None, str | None, list[ImageLink]] | None:
    """(page URL, base URL or None, image links) of a WAT record, None when it has no
    HTML-Metadata. Image links are (src, alt, title) tuples of the record's `IMG@/src`
    objects, in order. Raises ValueError when the payload is not JSON.
    """
    if simdjson is not None:
        page = _simdjson_page(payload)
        if page is not _REFUSED:
            return page
    return _STDLIB.page(loads(payload))




def _joined(page_url: str | None, base: str | None, links: list[ImageLink]):
    """raw_page's answer with the base made absolute (None when it cannot be)."""
    base = wat_text(base)
    if base is not None:
        try:
            base = urljoin(page_url or "", base.strip())
        except ValueError:
            base = None
    return page_url, base, links


class _Tree:
    """Walking a parsed WAT document whose objects / arrays are of the given types (the
    stdlib's dict / list, or simdjson's lazy Object / Array: both have .get)."""

    def __init__(self, object_type: type, array_type: type, path_key: str | bytes = "path"
                 ) -> None:
        self.object_type, self.array_type = object_type, array_type
        # the key "path" as the scan of every link asks for it (simdjson takes bytes as they
        # are and encodes a str first: a sixth of the scan's time)
        self.path_key = path_key

    def get(self, doc: Any, *keys: str) -> Any:
        """doc[k1][k2]... or None when a level is missing or not an object."""
        for key in keys:
            if type(doc) is not self.object_type:
                return None
            # (simdjson answers a missing key by an exception inside: its key list is faster)
            doc = doc.get(key) if key in doc.keys() else None
        return doc

    def present(self, doc: Any, *keys: str) -> Any:
        """get() for a path that is there in nearly every document."""
        return self.get(doc, *keys)

    def page(self, doc: Any) -> tuple[str | None, str | None, list[ImageLink]] | None:
        found = self.raw_page(doc)
        return None if found is None else _joined(*found)

    def raw_page(self, doc: Any) -> tuple[str | None, str | None, list[ImageLink]] | None:
        """(page URL, Head/Base as written, image links), None without HTML-Metadata."""
        meta = self.present(doc, "Envelope", "Payload-Metadata", "HTTP-Response-Metadata",
                            "HTML-Metadata")
        if type(meta) is not self.object_type:
            return None
        page_url = self.present(doc, "Envelope", "WARC-Header-Metadata", "WARC-Target-URI")
        if type(page_url) is not str:  # a WARC header, not HTML: never unescaped
            page_url = None
        base = self.get(meta, "Head", "Base")
        links = meta.get("Links")
        return (page_url, base if type(base) is str else None,
                self.image_links(links) if type(links) is self.array_type else [])

    def image_links(self, links) -> list[ImageLink]:
        image_link, path_key = self.image_link, self.path_key
        try:   # links are objects with a path (CommonCrawl's writer): the quick test ...
            return [image_link(link) for link in links if link[path_key] == IMAGE_LINK]
        except (KeyError, TypeError):   # ... or not: skip what is not one
            object_type = self.object_type
            return [image_link(link) for link in links
                    if type(link) is object_type and link.get("path") == IMAGE_LINK]

    def image_link(self, link) -> ImageLink:
        fields = link
        if self.object_type is not dict:
            # One dict of the fields (a missing key is slow to ask simdjson for); its
            # as_dict keeps the last of a repeated key, so then the first is put back.
            fields = link.as_dict()
            if len(fields) != len(link):
                fields = dict(reversed(list(link.items())))
        src, alt, title = fields.get("url"), fields.get("alt"), fields.get("title")
        return (src if type(src) is str else None, alt if type(alt) is str else None,
                title if type(title) is str else None)


class _SimdjsonTree(_Tree):
    def present(self, doc: Any, *keys: str) -> Any:
        # One JSON-pointer lookup in C++ (the first of a repeated key, as get); a key
        # missing on the way, or a level that is not an object, raises: then get decides.
        try:
            return doc.at_pointer("/" + "/".join(keys))
        except Exception:
            return self.get(doc, *keys)


_STDLIB = _Tree(dict, list)
_REFUSED = object()

if simdjson is not None:
    _SIMDJSON = _SimdjsonTree(simdjson.Object, simdjson.Array, b"path")
    # One parser per process: it reuses its buffers, holding one document at a time.
    _PARSER = simdjson.Parser()


def _simdjson_page(payload: bytes):
    """_Tree.page by simdjson, or _REFUSED when simdjson does not read the document."""
    try:
        doc = _PARSER.parse(payload)
    except Exception:   # not JSON to simdjson (or the parser still busy): the stdlib decides
        return _REFUSED
    try:
        # The document is valid JSON (simdjson said so): the C walk reads its bytes on
        # that ground, or hands it back (NotImplemented) to the walk of simdjson's objects.
        found = _walk_page(payload) if _walk_page is not None else NotImplemented
        if found is NotImplemented:
            found = _SIMDJSON.raw_page(doc)
        return None if found is None else _joined(*found)
    except Exception:   # whatever it is, the stdlib route decides (and raises) the same
        return _REFUSED
    finally:
        del doc   # no proxy of the document may outlive this call: the parser is reused
