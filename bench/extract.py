"""Extract benchmark: curate's extract core beside its peers and floors, per core, in one run.

    .venv/bin/python bench/extract.py                  # --wat-records 60000 --warc-mb 200
    .venv/bin/python bench/extract.py --skip-peer      # only what runs in .venv

Corpora (built under --out/extract on the first run, reused while they exist; delete them to
rebuild). Both come from the 181 real news pages in ../shared/data/html (3,808 <img>):
- a WAT laid out as CommonCrawl's: a warcinfo record, then only WARC `metadata` records
  (application/json), each its own gzip member. The first describes the source WARC's
  warcinfo; then three per page, for the request, the response and the metadata record of the
  original WARC. The response's `HTML-Metadata` holds `Head` (Title, Base, Metas, Link,
  Scripts) and `Links` (A@/href with its text, IMG@/src with alt/title, FORM@/action,
  IFRAME@/src, ... as CommonCrawl's WAT writer lists them), taken from the page's real
  elements with the stdlib HTML parser. Pages are repeated under hosts c<N>.<host> until
  there are at least --wat-records records;
- a WARC of at least --warc-mb MB uncompressed (bench/pipeline.py's build_corpus, one file,
  each record its own gzip member).

Each line is one single-threaded pass over a whole corpus, timed in CPU seconds of its
process (time.process_time), so the rates are per core; every line runs --repeat times
(default 3) and its least CPU counts (the runs are printed); the WAT's fastwarc floor,
cc2dataset and curate lines take turns, one run of each per round, so that a drift of the
machine's speed (up to 25% over minutes here) meets all three alike. "[peer]" lines run in a separate
venv (--out/venv-peer, packages from bench/requirements.txt, created on the first run) as a
subprocess that times only its own work; "proc CPU" is that subprocess's whole CPU time,
interpreter start and imports included. Columns: MB/s of the gzipped corpus, pages/s (the
corpus' pages: HTML responses, or WAT response records; the same count on every line),
pairs/s (image-text rows produced; "-" for floors).
- floor: gunzip             zlib-decompress every gzip member, nothing else
- floor: warcio+json        warcio iterates the WAT's records and reads each payload;
                            json.loads only of payloads containing b"IMG@/src"
- floor: fastwarc+orjson    the same with FastWARC and orjson [peer]
- floor: warcio payloads    warcio reads every WARC record's payload (pipeline.floor_read)
- cc2dataset process_wat    cc2dataset.main.process_wat(<local path>, "image") [peer]: it
                            opens the path with fsspec.open (a local path is accepted),
                            reads it whole into BytesIO, iterates the metadata records with
                            FastWARC, simdjson-parses each, keeps IMG@/src links with a
                            non-empty alt (alt only, no title) made absolute
- full-DOM bs4 / lxml       FastWARC reads each response; the page is decoded by its header
                            charset and parsed whole into a tree (BeautifulSoup with
                            html.parser, or lxml.html); every <img> gives its alt / title /
                            data-image-title, src urljoin'ed against <base href> or the page
                            URL, http(s) only, sha224 image id: the rows curate makes [peer]
- curate iter_file_pairs    iter_file_pairs(path, FileReport(), PageOptions()), imports not
                            timed (as the peers time themselves)
Then the pair counts of curate and cc2dataset on the WAT (they differ by design: curate also
keeps `title` texts and drops blank alts), and the ratios of curate's throughput to its peers
with their targets.
"""
from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import inspect
import json
import math
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import time
import uuid
import zlib
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
PEER_REQUIREMENTS = HERE / "requirements.txt"
IMG_LINK = b"IMG@/src"
TEXT_ATTRS = ("alt", "title", "data-image-title")

TARGETS = {  # curate's throughput / the other's, at least
    "cc2dataset": 1.5,
    "fastwarc floor": 0.70,
    "full-DOM": 2.0,
}


# --- the WAT corpus ------------------------------------------------------------------------

# What CommonCrawl's WAT writer records per element in `Links`: the URL attribute, then the
# attributes kept beside it. <a>, <base>, <meta>, <link>, <script>, <html> are handled apart.
_ELEMENT_LINKS = {
    "img": (("src", ("alt", "title")), ("longdesc", ())),
    "iframe": (("src", ()),),
    "frame": (("src", ()),),
    "embed": (("src", ()),),
    "audio": (("src", ()),),
    "source": (("src", ()),),
    "track": (("src", ()),),
    "video": (("src", ()), ("poster", ())),
    "input": (("src", ()), ("formaction", ())),
    "button": (("formaction", ()),),
    "form": (("action", ("target", "method")),),
    "area": (("href", ("rel",)),),
    "object": (("codebase", ()), ("data", ())),
    "applet": (("codebase", ()),),
    "q": (("cite", ()),),
    "blockquote": (("cite", ()),),
    "del": (("cite", ()),),
    "ins": (("cite", ()),),
}
_ANCHOR_ATTRS = ("target", "alt", "title", "rel", "hreflang", "type")
_META_ATTRS = ("name", "rel", "content", "http-equiv", "property")
_ANY_ELEMENT_URL_ATTRS = ("background", "data-href", "data-uri")
# Elements whose boundaries separate words in an anchor's text.
_WORD_BREAKS = frozenset(
    "br p div li ul ol dl dt dd td th tr table h1 h2 h3 h4 h5 h6 img figure figcaption "
    "section article header footer aside nav blockquote pre hr button label select".split())
_ANCHOR_TEXT_MAX = 128
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)['"]?\s*\)""")
_SPACES = re.compile(r"\s+")


class _HtmlMetadata(HTMLParser):
    """The `HTML-Metadata` object of a WAT response record, from one page's elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.head: dict = {}
        self.links: list[dict] = []
        self._anchors: list[tuple[dict | None, list[str]]] = []
        self._title: list[str] | None = None
        self._in_head = self._in_svg = False
        self._raw: str | None = None   # inside <script> / <style>

    def handle_starttag(self, tag, attrs):
        a: dict[str, str] = {}
        for name, value in attrs:
            a.setdefault(name, "" if value is None else value)
        if tag == "head":
            self._in_head = True
        elif tag == "body":
            self._in_head = False
        elif tag == "svg":
            self._in_svg = True
        elif tag == "title":
            self._title = []
            return
        if tag in ("script", "style"):
            self._raw = tag
        if tag in _WORD_BREAKS:
            self._break_words()
        element = tag.upper()
        for attr in _ANY_ELEMENT_URL_ATTRS:
            if attr in a:
                self.links.append({"path": f"{element}@/{attr}", "url": a[attr]})
        if tag == "a":
            link = None
            if "href" in a:
                link = {"path": "A@/href", "url": a["href"]}
                link.update((k, a[k]) for k in _ANCHOR_ATTRS if k in a)
            self._anchors.append((link, []))
        elif tag == "base":
            if "href" in a:
                self.head["Base"] = a["href"]
        elif tag == "meta":
            meta = {k: a[k] for k in _META_ATTRS if k in a}
            if meta:
                self.head.setdefault("Metas", []).append(meta)
        elif tag == "html":
            for k in ("lang", "xml:lang"):
                if k in a:
                    self.head.setdefault("Metas", []).append(
                        {"name": f"HTML@/{k}", "content": a[k]})
        elif tag == "link":
            self._head_link("Link", "LINK@/href", a, "href", ("rel", "type"))
        elif tag == "script":
            self._head_link("Scripts", "SCRIPT@/src", a, "src", ("type",))
        else:
            for url_attr, extra in _ELEMENT_LINKS.get(tag, ()):
                if url_attr in a:
                    link = {"path": f"{element}@/{url_attr}", "url": a[url_attr]}
                    link.update((k, a[k]) for k in extra if k in a)
                    self.links.append(link)

    def _head_link(self, key, path, a, url_attr, extra):
        if url_attr in a:
            link = {"path": path, "url": a[url_attr]}
            link.update((k, a[k]) for k in extra if k in a)
            self.head.setdefault(key, []).append(link)

    def handle_endtag(self, tag):
        if tag == "title" and self._title is not None:
            title = _SPACES.sub(" ", "".join(self._title)).strip()[:_ANCHOR_TEXT_MAX]
            if not self._in_svg and (self._in_head or "Title" not in self.head):
                self.head["Title"] = title
            self._title = None
        elif tag == self._raw:
            self._raw = None
        elif tag == "head":
            self._in_head = False
        elif tag == "svg":
            self._in_svg = False
        if tag in _WORD_BREAKS:
            self._break_words()
        if tag == "a" and self._anchors:
            link, parts = self._anchors.pop()
            if link is not None:
                text = _SPACES.sub(" ", "".join(parts)).strip()[:_ANCHOR_TEXT_MAX]
                if text:
                    link["text"] = text
                self.links.append(link)

    def handle_data(self, data):
        if self._raw == "style":
            self.links.extend({"path": "STYLE/#text", "href": u} for u in _CSS_URL.findall(data))
            return
        if self._raw is not None:
            return
        if self._title is not None:
            self._title.append(data)
        for _, parts in self._anchors:
            if sum(map(len, parts)) < _ANCHOR_TEXT_MAX:
                parts.append(data)

    def _break_words(self):
        for _, parts in self._anchors:
            parts.append(" ")

    def metadata(self) -> dict:
        out = {}
        if self.head:
            out["Head"] = self.head
        if self.links:
            out["Links"] = self.links
        return out


def _load_pages() -> list[tuple[str, bytes]]:
    """(page URL, HTML bytes) of the 181 real pages, in the order pipeline.py reads them."""
    from pipeline import DATA

    truth = json.loads((DATA / "ground-truth.json").read_text("utf-8"))
    return [(truth[f.name[:-len(".html.gz")]]["url"], gzip.open(f).read())
            for f in sorted((DATA / "html").glob("*.html.gz"))]


def _sha1(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def _json(doc) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def _warc_date(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _gzip_member(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    block = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return gzip.compress(block.encode("utf-8") + payload + b"\r\n\r\n", compresslevel=6, mtime=0)


def build_wat(path: Path, n_records: int) -> dict:
    pages = _load_pages()
    rng = random.Random(0)

    def rid() -> str:
        return f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>"

    per_page = []
    for url, html in pages:
        parser = _HtmlMetadata()
        parser.feed(html.decode("utf-8", "replace"))
        parser.close()
        meta = parser.metadata()
        per_page.append({
            "html_metadata": _json(meta),
            "images": sum(1 for link in meta.get("Links", ()) if link["path"] == "IMG@/src"),
            "length": len(html),
            "digest": _sha1(html),
            "deflate": len(zlib.compress(html, 6)),
            "crc": zlib.crc32(html),
        })

    source_warc = "CC-MAIN-20240517233122-20240518023122-00000.warc.gz"
    warcinfo_id, wat_time, fetch_time = rid(), 1717118205, 1715997490
    n_pages = math.ceil(max(n_records - 2, 0) / 3)
    images = 0
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as out:
        def write(target: str, refers_to: str, doc: str) -> None:
            payload = doc.encode("utf-8")
            digest = _sha1(payload)
            out.write(_gzip_member([
                ("WARC-Type", "metadata"), ("WARC-Target-URI", target),
                ("WARC-Date", _warc_date(wat_time)), ("WARC-Record-ID", rid()),
                ("WARC-Refers-To", refers_to), ("Content-Type", "application/json"),
                ("Content-Length", str(len(payload))), ("WARC-Payload-Digest", digest),
                ("WARC-Block-Digest", digest)], payload))

        info = (b"Software-Info: ia-web-commons.1.1.10-SNAPSHOT\r\n"
                b"Extracted-Date: Fri, 31 May 2024 01:16:45 GMT\r\n"
                b"format: WARC File Format 1.0\r\n\r\n")
        out.write(_gzip_member([
            ("WARC-Type", "warcinfo"), ("WARC-Date", _warc_date(wat_time)),
            ("WARC-Filename", path.name), ("WARC-Record-ID", rid()),
            ("Content-Type", "application/warc-fields"), ("Content-Length", str(len(info))),
            ("WARC-Block-Digest", _sha1(info))], info))
        offset = 0

        def container(inflated: int, deflated: int, crc: int) -> dict:
            signed_crc = crc - (crc >> 31 << 32)   # Java prints it as a signed int
            return {"Filename": source_warc, "Compressed": True, "Offset": str(offset),
                    "Gzip-Metadata": {"Deflate-Length": str(deflated), "Header-Length": "10",
                                      "Footer-Length": "8", "Inflated-CRC": str(signed_crc),
                                      "Inflated-Length": str(inflated)}}

        fields = b"isPartOf: CC-MAIN-2024-22\r\npublisher: Common Crawl\r\n"
        write(source_warc, warcinfo_id, _json({
            "Container": container(len(fields) + 300, 420, zlib.crc32(fields)),
            "Envelope": {
                "Payload-Metadata": {
                    "Actual-Content-Type": "application/warc-fields",
                    "WARC-Info-Metadata": {"isPartOf": "CC-MAIN-2024-22",
                                           "publisher": "Common Crawl"},
                    "Actual-Content-Length": str(len(fields)), "Trailing-Slop-Length": "0",
                    "Block-Digest": _sha1(fields)},
                "Format": "WARC/1.0", "WARC-Header-Length": "300",
                "WARC-Header-Metadata": {
                    "WARC-Type": "warcinfo", "WARC-Date": _warc_date(fetch_time),
                    "WARC-Filename": source_warc, "WARC-Record-ID": warcinfo_id,
                    "Content-Length": str(len(fields)),
                    "Content-Type": "application/warc-fields"}}}))
        offset += 420

        for i in range(n_pages):
            copy, k = divmod(i, len(pages))
            page, p = pages[k], per_page[k]
            parts = urlsplit(page[0])
            host = f"c{copy}.{parts.netloc}"
            url = urlunsplit(parts._replace(netloc=host))
            path_query = urlunsplit(("", "", parts.path or "/", parts.query, ""))
            date = _warc_date(fetch_time + i)
            ip = f"10.{copy % 256}.{k}.{i % 250 + 1}"
            request_id, response_id, metadata_id = rid(), rid(), rid()
            images += p["images"]

            request_headers = {
                "User-Agent": "CCBot/2.0 (https://commoncrawl.org/faq/)",
                "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                "Accept-Language": "en-US,en;q=0.5", "Accept-Encoding": "br,gzip",
                "Host": host, "Connection": "Keep-Alive"}
            request_length = (len(f"GET {path_query} HTTP/1.1\r\n") + 2
                              + sum(len(f"{h}: {v}\r\n") for h, v in request_headers.items()))
            write(url, request_id, _json({
                "Container": container(request_length + 360, 400, zlib.crc32(request_id.encode())),
                "Envelope": {
                    "Payload-Metadata": {
                        "Actual-Content-Type": "application/http; msgtype=request",
                        "HTTP-Request-Metadata": {
                            "Request-Message": {"Method": "GET", "Path": path_query,
                                                "Version": "HTTP/1.1"},
                            "Headers-Length": str(request_length - 2),
                            "Headers": request_headers, "Entity-Length": "0",
                            "Entity-Digest": _sha1(b""), "Entity-Trailing-Slop-Length": "0"},
                        "Actual-Content-Length": str(request_length),
                        "Trailing-Slop-Length": "4", "Block-Digest": _sha1(url.encode())},
                    "Format": "WARC/1.0", "WARC-Header-Length": "360",
                    "WARC-Header-Metadata": {
                        "WARC-Type": "request", "WARC-Date": date, "WARC-Record-ID": request_id,
                        "Content-Length": str(request_length),
                        "Content-Type": "application/http; msgtype=request",
                        "WARC-Warcinfo-ID": warcinfo_id, "WARC-IP-Address": ip,
                        "WARC-Target-URI": url}}}))
            offset += 400

            response_headers = {
                "Date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(fetch_time + i)),
                "Content-Type": "text/html; charset=utf-8", "Content-Length": str(p["length"])}
            headers_length = 17 + sum(len(f"{h}: {v}\r\n") for h, v in response_headers.items()) + 2
            entity = headers_length + p["length"]
            doc = _json({
                "Container": container(entity + 560, p["deflate"] + 300, p["crc"]),
                "Envelope": {
                    "Payload-Metadata": {
                        "Actual-Content-Type": "application/http; msgtype=response",
                        "HTTP-Response-Metadata": {
                            "Response-Message": {"Status": "200", "Version": "HTTP/1.1",
                                                 "Reason": "OK"},
                            "Headers-Length": str(headers_length), "Headers": response_headers,
                            "Entity-Length": str(p["length"]), "Entity-Digest": p["digest"],
                            "Entity-Trailing-Slop-Length": "0",
                            "HTML-Metadata": "\0HTML\0"},
                        "Actual-Content-Length": str(entity), "Trailing-Slop-Length": "4",
                        "Block-Digest": p["digest"]},
                    "Format": "WARC/1.0", "WARC-Header-Length": "560",
                    "WARC-Header-Metadata": {
                        "WARC-Type": "response", "WARC-Date": date,
                        "WARC-Record-ID": response_id, "Content-Length": str(entity),
                        "Content-Type": "application/http; msgtype=response",
                        "WARC-Warcinfo-ID": warcinfo_id, "WARC-Concurrent-To": request_id,
                        "WARC-IP-Address": ip, "WARC-Target-URI": url,
                        "WARC-Payload-Digest": p["digest"], "WARC-Block-Digest": p["digest"],
                        "WARC-Identified-Payload-Type": "text/html"}}})
            # The page's HTML-Metadata is serialised once per page and spliced in.
            write(url, response_id, doc.replace('"\\u0000HTML\\u0000"', p["html_metadata"], 1))
            offset += p["deflate"] + 300

            langs = json.dumps({"reliable": True, "text-bytes": p["length"] // 8,
                                "languages": [{"code": "en", "code-iso-639-3": "eng",
                                               "text-covered": 0.99, "score": 1000.0,
                                               "name": "ENGLISH"}]})
            fetch_ms = str(200 + (i * 37) % 1800)
            meta_fields = (f"fetchTimeMs: {fetch_ms}\r\ncharset-detected: UTF-8\r\n"
                           f"languages-cld2: {langs}\r\n").encode()
            write(url, metadata_id, _json({
                "Container": container(len(meta_fields) + 380, 450, zlib.crc32(meta_fields)),
                "Envelope": {
                    "Payload-Metadata": {
                        "Actual-Content-Type": "application/metadata-fields",
                        "WARC-Metadata-Metadata": {"Metadata-Records": [
                            {"Name": "fetchTimeMs", "Value": fetch_ms},
                            {"Name": "charset-detected", "Value": "UTF-8"},
                            {"Name": "languages-cld2", "Value": langs}]},
                        "Actual-Content-Length": str(len(meta_fields)),
                        "Trailing-Slop-Length": "4", "Block-Digest": _sha1(meta_fields)},
                    "Format": "WARC/1.0", "WARC-Header-Length": "380",
                    "WARC-Header-Metadata": {
                        "WARC-Type": "metadata", "WARC-Date": date,
                        "WARC-Record-ID": metadata_id, "Content-Length": str(len(meta_fields)),
                        "Content-Type": "application/warc-fields",
                        "WARC-Warcinfo-ID": warcinfo_id, "WARC-Concurrent-To": response_id,
                        "WARC-Target-URI": url}}}))
            offset += 450
    os.replace(tmp, path)
    return {"records": 2 + 3 * n_pages, "pages": n_pages, "images": images}


def wat_corpus(out: Path, n_records: int) -> tuple[Path, dict]:
    path = out / "extract" / f"bench-{n_records}.warc.wat.gz"
    manifest = path.with_suffix(".json")
    if not (path.exists() and manifest.exists()):
        print(f"building {path} ...", file=sys.stderr, flush=True)
        manifest.write_text(json.dumps(build_wat(path, n_records)))
    return path, json.loads(manifest.read_text())


def warc_corpus(out: Path, megabytes: int) -> tuple[Path, dict]:
    from pipeline import build_corpus

    html_bytes = sum(len(html) for _, html in _load_pages())   # one copy, headers left out
    copies = max(1, math.ceil(megabytes * 1e6 / html_bytes))
    folder = out / "extract" / f"warc-{copies}x"
    if not (folder / "bench-00.warc.gz").exists():
        print(f"building {folder} ...", file=sys.stderr, flush=True)
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        build_corpus(tmp, copies, 1)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    return folder / "bench-00.warc.gz", {"pages": copies * 181, "copies": copies}


# --- what runs in .venv ----------------------------------------------------------------

def gunzip_floor(path: Path) -> dict:
    """Decompress every gzip member; 16 KiB reads keep the copying of leftovers small."""
    members = raw = 0
    with open(path, "rb") as f:
        d = zlib.decompressobj(31)
        while chunk := f.read(16384):
            while chunk:
                raw += len(d.decompress(chunk))
                if not d.eof:
                    break
                members += 1
                chunk = d.unused_data
                d = zlib.decompressobj(31)
    return {"members": members, "raw": raw}


def warcio_prefilter_floor(path: Path) -> dict:
    from warcio.archiveiterator import ArchiveIterator

    records = parsed = 0
    with open(path, "rb") as f:
        for record in ArchiveIterator(f):
            payload = record.content_stream().read()
            records += 1
            if IMG_LINK in payload:
                json.loads(payload)
                parsed += 1
    return {"records": records, "parsed": parsed}


def warcio_payload_floor(path: Path) -> dict:
    from pipeline import floor_read

    records, payload = floor_read(path)
    return {"records": records, "payload": payload}


def curate_core(path: Path) -> dict:
    try:
        from curate.core.extract.options import PageOptions
        from curate.core.extract.records import FileReport, iter_file_pairs
        from curate.schemas import PAIRS
    except Exception as e:  # noqa: BLE001 - the core is edited concurrently: say why, go on
        return {"error": f"cannot import curate's core: {type(e).__name__}: {e}"}

    report = FileReport()
    # The options argument is being added to iter_file_pairs concurrently: pass it once the
    # function takes it.
    with_options = len(inspect.signature(iter_file_pairs).parameters) >= 3
    args = (str(path), report, PageOptions()) if with_options else (str(path), report)
    source = PAIRS.names.index("text_source")
    pairs = alt = 0
    # Timed from here, as the peers time themselves: imports (one-time per worker) excluded.
    started = time.process_time()
    for row in iter_file_pairs(*args):
        pairs += 1
        alt += row[source] == "alt"
    cpu = time.process_time() - started
    counters = report.counters
    return {"pages": counters["records_used"], "pairs": pairs, "alt_pairs": alt,
            "errors": report.errors, "with_options": with_options, "cpu": cpu}


DEFAULT_REPEAT = 3
REPEAT = DEFAULT_REPEAT   # set from --repeat


def timed(fn, *args) -> dict:
    """fn(*args) run REPEAT times: the result of the run with the least CPU, with "runs"
    (every run's CPU seconds). One pass of the same work varies by 5-10% on this machine."""
    return timed_in_turn({"": (fn, *args)})[""]


def timed_in_turn(calls: dict[str, tuple]) -> dict[str, dict]:
    """timed(fn, *args) of each of `calls` (name: (fn, *args)), their runs taking turns:
    one run of each, then the next round. The speed of this machine drifts by up to 25%
    over minutes (other tenants), so lines run one after another can each meet another
    speed; lines whose ratio is a target take turns, and each keeps its least CPU."""
    runs: dict[str, list[dict]] = {name: [] for name in calls}
    failed: dict[str, dict] = {}   # a line's error: it is not run again
    for _ in range(REPEAT):
        for name, (fn, *args) in calls.items():
            if name in failed:
                continue
            started = time.process_time()
            result = fn(*args)
            if "error" in result:
                failed[name] = result
                continue
            if "cpu" not in result:   # fn may time itself (after imports)
                result["cpu"] = time.process_time() - started
            runs[name].append(result)
    best = {}
    for name in calls:
        if name in failed:
            best[name] = failed[name]
        else:
            best[name] = min(runs[name], key=lambda r: r["cpu"])
            best[name]["runs"] = [r["cpu"] for r in runs[name]]
    return best


def ensure_peer_venv(venv: Path) -> str | None:
    """Create the peer venv and install bench/requirements.txt into it; the reason on failure."""
    python = venv / "bin" / "python"
    marker = venv / ".bench-installed"
    if marker.exists() and marker.read_text() == PEER_REQUIREMENTS.read_text():
        return None
    print(f"setting up {venv} from {PEER_REQUIREMENTS} ...", file=sys.stderr, flush=True)
    if not python.exists():
        made = subprocess.run([sys.executable, "-m", "venv", str(venv)],
                              capture_output=True, text=True)
        if made.returncode != 0:
            return f"python -m venv failed: {_last_line(made.stderr)}"
    pip = subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(PEER_REQUIREMENTS)],
                         capture_output=True, text=True)
    if pip.returncode != 0:
        return f"pip install failed: {_last_line(pip.stderr)}"
    marker.write_text(PEER_REQUIREMENTS.read_text())
    return None


def run_peer(venv: Path, task: str, path: Path) -> dict:
    """One peer task in a subprocess of the peer venv: its result, or {"error": why}."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([str(venv / "bin" / "python"), str(Path(__file__).resolve()),
                           "--peer-task", task, str(path)], capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"error": _last_line(proc.stderr) or f"exit status {proc.returncode}"}
    result = json.loads(lines[-1])
    result["proc_cpu"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return result


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else ""


# --- what runs in the peer venv --------------------------------------------------------

def peer_task(task: str, path: str) -> dict:
    if task == "cc2dataset":
        from loguru import logger

        messages: list[str] = []
        logger.remove()
        logger.add(lambda m: messages.append(m.record["message"]), level="INFO")
        from cc2dataset.main import process_wat

        started = time.process_time()
        pairs = sum(1 for _ in process_wat(path, "image"))
        cpu = time.process_time() - started
        # process_wat logs and swallows a failure of the whole file (then yields nothing).
        return {"cpu": cpu, "pairs": pairs,
                "warnings": [m for m in messages if "fail" in m.lower()]}
    if task == "fastwarc-floor":
        import orjson
        from fastwarc.warc import ArchiveIterator, WarcRecordType

        started = time.process_time()
        records = parsed = 0
        # FastWARC 2 opens a path itself and detects the gzip members.
        for record in ArchiveIterator(path, record_types=WarcRecordType.metadata,
                                      parse_http=False):
            payload = record.reader.read()
            records += 1
            if IMG_LINK in payload:
                orjson.loads(payload)
                parsed += 1
        return {"cpu": time.process_time() - started, "records": records, "parsed": parsed}
    if task in ("dom-bs4", "dom-lxml"):
        return _dom_walk(path, task[4:])
    raise SystemExit(f"unknown peer task {task!r}")


def _dom_walk(path: str, kind: str) -> dict:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    if kind == "bs4":
        from bs4 import BeautifulSoup

        def images(payload: bytes, charset: str):
            soup = BeautifulSoup(payload.decode(charset, "replace"), "html.parser")
            base = soup.find("base", href=True)
            return (base["href"] if base else None), soup.find_all("img")
    else:
        import lxml.html

        parsers: dict = {}

        def images(payload: bytes, charset: str):
            parser = parsers.get(charset) or parsers.setdefault(
                charset, lxml.html.HTMLParser(encoding=charset))
            doc = lxml.html.document_fromstring(payload, parser=parser)
            base = doc.find(".//base[@href]")
            return (base.get("href") if base is not None else None), doc.iter("img")

    charset_re = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)
    started = time.process_time()
    pages = pairs = parse_errors = 0
    for record in ArchiveIterator(path, record_types=WarcRecordType.response, parse_http=True):
        page_url = record.headers.get("WARC-Target-URI") or ""
        match = charset_re.search(record.http_headers.get("Content-Type") or "")
        charset = match.group(1) if match else "utf-8"
        try:
            "".encode(charset)
        except LookupError:
            charset = "utf-8"
        try:
            base, imgs = images(record.reader.read(), charset)
        except Exception:  # noqa: BLE001 - one bad page must not end the walk
            parse_errors += 1
            continue
        pages += 1
        if base:
            try:
                base = urljoin(page_url, base.strip())
            except ValueError:
                base = None
        for img in imgs:
            texts = [(a, img.get(a)) for a in TEXT_ATTRS if img.get(a) is not None]
            if not texts:
                continue
            url = _absolute_http(img.get("src") or "", base or page_url)
            if url is None:
                continue
            hashlib.sha224(url.replace("\t", "").replace(" ", "").encode()).hexdigest()[:24]
            pairs += sum(1 for _, text in texts
                         if text.replace("\n", " ").replace("\r", " ").strip())
    return {"cpu": time.process_time() - started, "pages": pages, "pairs": pairs,
            "parse_errors": parse_errors}


def _absolute_http(src: str, base: str) -> str | None:
    src = src.strip()
    if not src:
        return None
    try:
        url = urljoin(base, src)
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc else None


# --- the report ------------------------------------------------------------------------

def _row(label: str, result: dict, gz_bytes: int, pages: int | None, pairs: int | None,
         note: str = "") -> float | None:
    if "error" in result:
        print(f"  {label:34s} unavailable: {result['error']}")
        return None
    cpu = result["cpu"]
    rate = lambda n: f"{n / cpu:9.0f}" if n is not None else f"{'-':>9s}"  # noqa: E731
    proc = f"{result['proc_cpu']:8.1f}" if "proc_cpu" in result else f"{'':8s}"
    runs = " ".join(f"{r:.2f}" for r in result.get("runs", []))
    note = f"runs {runs}; {note}" if runs else note
    print(f"  {label:34s} {cpu:8.2f} {proc} {gz_bytes / 1e6 / cpu:8.2f} {rate(pages)} "
          f"{rate(pairs)}  {note}".rstrip("; "))
    return cpu


def _header(title: str) -> None:
    print(f"\n{title:36s} {'CPU s':>8s} {'proc CPU':>8s} {'MB/s gz':>8s} {'pages/s':>9s} "
          f"{'pairs/s':>9s}")


def _ratio(label: str, ours: float | None, theirs: float | None, target: float) -> None:
    if ours is None or theirs is None:
        print(f"  {label:44s} {'n/a':>6s}  target >= {target:.2f}x  (not measured)")
        return
    ratio = theirs / ours   # CPU seconds for the same corpus: throughput ratio
    verdict = "PASS" if ratio >= target else "MISS"
    print(f"  {label:44s} {ratio:5.2f}x  target >= {target:.2f}x  {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wat-records", type=int, default=60_000)
    parser.add_argument("--warc-mb", type=int, default=200)
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT,
                        help="runs of every line; the least CPU counts (default %(default)s)")
    parser.add_argument("--peer-task", nargs=2, metavar=("TASK", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer_task:
        print(json.dumps(peer_task(*args.peer_task)))
        return 0

    global REPEAT
    REPEAT = max(1, args.repeat)
    sys.path.insert(0, str(HERE))   # bench/pipeline.py's corpus helpers
    started = time.monotonic()
    wat, wat_info = wat_corpus(args.out, args.wat_records)
    warc, warc_info = warc_corpus(args.out, args.warc_mb)
    venv = args.out / "venv-peer"
    peer_down = "--skip-peer" if args.skip_peer else ensure_peer_venv(venv)

    def peer_call(task: str, path: Path) -> tuple:
        """(fn, *args) of a peer task for timed / timed_in_turn."""
        return ((lambda: {"error": peer_down}),) if peer_down else (run_peer, venv, task, path)

    def peer(task: str, path: Path) -> dict:
        return timed(*peer_call(task, path))

    # --- WAT
    wat_gz = wat.stat().st_size
    gunzip = timed(gunzip_floor, wat)
    print(f"WAT corpus: {wat} ({wat_info['records']} records: warcinfo + 1 source-warcinfo "
          f"+ 3 x {wat_info['pages']} pages; {gunzip['members']} gzip members; "
          f"{wat_gz / 1e6:.1f} MB gz, {gunzip['raw'] / 1e6:.1f} MB raw; "
          f"{wat_info['images']} IMG@/src links)")
    _header("WAT, 1 core")
    n_pages = wat_info["pages"]
    _row("floor: gunzip", gunzip, wat_gz, n_pages, None)
    prefilter = timed(warcio_prefilter_floor, wat)
    _row("floor: warcio+json (IMG@/src only)", prefilter, wat_gz, n_pages, None,
         f"{prefilter['parsed']} of {prefilter['records']} records parsed")
    # The lines of the WAT's targets take turns (timed_in_turn): the same machine for each.
    together = timed_in_turn({"fast": peer_call("fastwarc-floor", wat),
                              "cc2": peer_call("cc2dataset", wat),
                              "ours": (curate_core, wat)})
    fast, cc2, ours_wat = together["fast"], together["cc2"], together["ours"]
    fast_cpu = _row("floor: fastwarc+orjson [peer]", fast, wat_gz, n_pages, None,
                    f"{fast.get('parsed')} of {fast.get('records')} records parsed"
                    if "error" not in fast else "")
    cc2_cpu = _row("cc2dataset process_wat [peer]", cc2, wat_gz, n_pages, cc2.get("pairs"),
                   "; ".join(cc2.get("warnings", []))[:120])
    ours_wat_cpu = _row("curate iter_file_pairs", ours_wat, wat_gz, n_pages,
                        ours_wat.get("pairs"), _used(ours_wat, n_pages) + _errors(ours_wat))

    # --- WARC
    warc_gz = warc.stat().st_size
    gunzip = timed(gunzip_floor, warc)
    print(f"\nWARC corpus: {warc} ({warc_info['pages']} responses = {warc_info['copies']} "
          f"copies x 181 pages; {gunzip['members']} gzip members; {warc_gz / 1e6:.1f} MB gz, "
          f"{gunzip['raw'] / 1e6:.1f} MB raw)")
    _header("WARC, 1 core")
    n_pages = warc_info["pages"]
    _row("floor: gunzip", gunzip, warc_gz, n_pages, None)
    payloads = timed(warcio_payload_floor, warc)
    _row("floor: warcio payloads", payloads, warc_gz, n_pages, None)
    bs4 = peer("dom-bs4", warc)
    bs4_cpu = _row("full-DOM: bs4 html.parser [peer]", bs4, warc_gz, bs4.get("pages"),
                   bs4.get("pairs"), _parse_errors(bs4))
    lxml = peer("dom-lxml", warc)
    lxml_cpu = _row("full-DOM: lxml.html [peer]", lxml, warc_gz, lxml.get("pages"),
                    lxml.get("pairs"), _parse_errors(lxml))
    ours_warc = timed(curate_core, warc)
    ours_warc_cpu = _row("curate iter_file_pairs", ours_warc, warc_gz, n_pages,
                         ours_warc.get("pairs"), _used(ours_warc, n_pages) + _errors(ours_warc))

    curate_pairs = (f"{ours_wat['pairs']} ({ours_wat['alt_pairs']} from alt, "
                    f"{ours_wat['pairs'] - ours_wat['alt_pairs']} from title)"
                    if "error" not in ours_wat else "n/a")
    print(f"\npairs on the WAT: curate {curate_pairs}; cc2dataset "
          f"{cc2.get('pairs', 'n/a')} (alt only)")
    if ours_wat.get("with_options") is False:
        print("note: iter_file_pairs takes no PageOptions yet; called as (path, report)")
    print("\ncurate's throughput / the other's (same corpus, CPU s):")
    _ratio("curate WAT / cc2dataset process_wat", ours_wat_cpu, cc2_cpu, TARGETS["cc2dataset"])
    _ratio("curate WAT / fastwarc+orjson floor", ours_wat_cpu, fast_cpu,
           TARGETS["fastwarc floor"])
    _ratio("curate WARC / full-DOM bs4 html.parser", ours_warc_cpu, bs4_cpu,
           TARGETS["full-DOM"])
    if ours_wat_cpu is not None:
        print(f"  {'(info) curate WAT / warcio+json floor':44s} "
              f"{prefilter['cpu'] / ours_wat_cpu:5.2f}x")
    if lxml_cpu is not None and ours_warc_cpu is not None:
        print(f"  {'(info) curate WARC / full-DOM lxml.html':44s} {lxml_cpu / ours_warc_cpu:5.2f}x")
    print(f"\n{time.monotonic() - started:.0f} s wall")
    return 0


def _used(result: dict, pages: int) -> str:
    """pages/s counts the corpus' pages on every line; say so when curate used fewer records."""
    used = result.get("pages")
    return f"records_used {used} of {pages} pages " if used is not None and used != pages else ""


def _errors(result: dict) -> str:
    return f"errors: {result['errors']}" if result.get("errors") else ""


def _parse_errors(result: dict) -> str:
    return f"{result['parse_errors']} pages failed to parse" if result.get("parse_errors") else ""


if __name__ == "__main__":
    sys.exit(main())
