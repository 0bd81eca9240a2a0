"""The speed-ups give the reference's output: the fastwarc reader the warcio reader's, the
lexbor HTML5 parse the stdlib html.parser's on real pages, the URL shortcuts urljoin's,
simdjson the stdlib json's."""
from __future__ import annotations

import gzip
import io
import json
import random
import uuid
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from curate.core.extract import fast, records, wat
from html.parser import HTMLParser

from curate.core.extract.html import IMG_ATTRS, decode_html, scan_html
from curate.core.extract.records import FileReport, iter_file_pairs
from curate.core.extract.text import (_PLAIN_ABSOLUTE, PageImages, browser_url, image_uuid,
                                     resolve_image_url)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
ALL_FILES = sorted(p for d in ("commoncrawl", "webarchives", "edgecases")
                   for p in (DATA / d).iterdir() if p.is_file())
HTML_PAGES = sorted((DATA / "html" / "html").glob("*.html.gz"))
needs_fastwarc = pytest.mark.skipif(
    not fast.AVAILABLE, reason="fastwarc is not installed (the optional fast reader); "
                               "the warcio reader is the only one to test")


class _PageParser(HTMLParser):
    """The reference, by another route: the stdlib parser collecting the first
    `<base href>` and the wanted attributes of every `<img>` (first duplicate wins)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base_href: str | None = None
        self.images: list[dict[str, str]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            img: dict[str, str] = {}
            for name, value in attrs:
                if name in IMG_ATTRS and name not in img:
                    img[name] = value or ""
            self.images.append(img)
        elif tag == "base" and self.base_href is None:
            self.base_href = next((v for n, v in attrs if n == "href" and v is not None), None)


def parse_html_stdlib(payload, page_url, content_type=None):
    from curate.core.extract.html import _resolve_base

    parser = _PageParser()
    parser.feed(html5_newlines(decode_html(payload, content_type)))
    parser.close()
    return _resolve_base(parser.base_href, page_url), parser.images


def html5_newlines(text: str) -> str:
    """The HTML standard's input preprocessing, which html.parser does not do: CR LF and
    lone CR become LF before tokenizing (so attribute values hold LF only)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def extract(path, reader=None):
    report = FileReport()
    rows = list(iter_file_pairs(str(path), report, reader=reader))
    return rows, dict(report.counters), report.errors


def _record(rec_type, uri, block, content_type="application/http; msgtype=response", length=None):
    length = len(block) if length is None else length
    return (f"WARC/1.0\r\nWARC-Type: {rec_type}\r\nWARC-Target-URI: {uri}\r\n"
            f"WARC-Date: 2024-01-01T00:00:00Z\r\nWARC-Record-ID: <urn:uuid:{uuid.uuid4()}>\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n").encode() \
        + block + b"\r\n\r\n"


def _page(n):
    body = f'<html><img src="/{n}.jpg" alt="image {n}"></html>'.encode()
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + body


def damaged_files(tmp_path) -> list[Path]:
    """Damage the fast reader must hand over to warcio, made from sound records."""
    good = [_record("response", f"http://h.org/{n}", _page(n)) for n in range(4)]
    files = {
        "short-length.warc.gz": [good[0], _record("response", "http://h.org/s", _page(9),
                                                  length=len(_page(9)) - 3), good[1]],
        "long-length.warc.gz": [good[0], _record("response", "http://h.org/l", _page(9),
                                                 length=len(_page(9)) + 40), good[1], good[2]],
        "bad-length.warc.gz": [good[0], _record("response", "http://h.org/b", _page(9),
                                                length="12x"), good[1]],
        "short-length.warc": [good[0], _record("response", "http://h.org/s", _page(9),
                                               length=len(_page(9)) - 3), good[1]],
    }
    paths = []
    for name, recs in files.items():
        path = tmp_path / name
        path.write_bytes(b"".join(gzip.compress(r) for r in recs) if name.endswith(".gz")
                         else b"".join(recs))
        paths.append(path)
    # non-chunked after two sound members; a gzip stream cut in the middle of a member
    mixed = tmp_path / "half-non-chunked.warc.gz"
    mixed.write_bytes(gzip.compress(good[0]) + gzip.compress(good[1]) + gzip.compress(good[2] + good[3]))
    cut = tmp_path / "cut.warc.gz"
    whole = b"".join(gzip.compress(r) for r in good)
    cut.write_bytes(whole[:len(whole) - 30])
    garbage = tmp_path / "trailing-garbage.warc.gz"
    garbage.write_bytes(whole + b"this is not gzip\n")
    return paths + [mixed, cut, garbage]


@needs_fastwarc
@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_fast_reader_equals_warcio_on_every_file(path):
    assert extract(path, "fast") == extract(path, "warcio")


@needs_fastwarc
def test_fast_reader_equals_warcio_on_damaged_files(tmp_path):
    for path in damaged_files(tmp_path):
        rows, counters, errors = extract(path, "warcio")
        assert extract(path, "fast") == (rows, counters, errors), path.name


@needs_fastwarc
def test_fast_reader_does_the_work_on_sound_files(monkeypatch):
    """fastwarc reads every record but the last of a sound file (warcio re-reads the last
    one to see how the file ends), so the parity above is not warcio against itself."""
    starts = []
    real = records._File._warcio_rows

    def warcio_rows(self, start):
        starts.append(start)
        return real(self, start)

    monkeypatch.setattr(records._File, "_warcio_rows", warcio_rows)
    path = DATA / "webarchives" / "sample-0000.warc.gz"
    rows, counters, _ = extract(path, "fast")
    with open(path, "rb") as f:
        iterator = ArchiveIterator(f)
        offsets = [iterator.offset for _ in iterator]
    assert starts == [offsets[-1]] and counters["records"] == len(offsets) == 48


# --- HTML: the scanner against html.parser ------------------------------------------------

@pytest.fixture(scope="module")
def pages_warc(tmp_path_factory) -> Path:
    truth = json.loads((DATA / "html" / "ground-truth.json").read_text("utf-8"))
    path = tmp_path_factory.mktemp("pages") / "pages.warc.gz"
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for page in HTML_PAGES:
            html = gzip.open(page).read()
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                truth[page.name[:-len(".html.gz")]]["url"], "response",
                payload=io.BytesIO(html), http_headers=headers))
    return path


def _stdlib_rows(monkeypatch, path, lazy=False):
    from curate.core.extract.options import PageOptions

    from curate.core.extract.html import Images

    def parse(payload, url, content_type, deadline, bounds):
        base, images = parse_html_stdlib(payload, url, content_type)
        return base, Images(images)   # (no real page here has more than max_images)

    monkeypatch.setattr(records, "parse_html", parse)
    report = FileReport()
    rows = list(iter_file_pairs(str(path), report, PageOptions(lazy_images=lazy)))
    monkeypatch.undo()
    return rows, dict(report.counters)


@pytest.mark.slow
@pytest.mark.parametrize("lazy", [False, True])
def test_scanner_rows_equal_html_parser_rows_on_the_181_pages(monkeypatch, pages_warc, lazy):
    from curate.core.extract.options import PageOptions

    expected = _stdlib_rows(monkeypatch, pages_warc, lazy)
    report = FileReport()
    rows = list(iter_file_pairs(str(pages_warc), report, PageOptions(lazy_images=lazy)))
    assert (rows, dict(report.counters)) == expected
    assert len(rows) > 2000


def test_scanner_rows_equal_html_parser_rows_on_the_real_warcs(monkeypatch):
    compared = 0
    for path in ALL_FILES:
        expected = _stdlib_rows(monkeypatch, path)
        report = FileReport()
        rows = list(iter_file_pairs(str(path), report))
        assert (rows, dict(report.counters)) == expected, path.name
        compared += report.counters["records_used"]
    assert compared > 100


@pytest.mark.slow
def test_scanner_equals_html_parser_page_by_page():
    """Each of the 181 pages: the same base href and img attributes, in order."""
    for page in HTML_PAGES:
        text = html5_newlines(decode_html(gzip.open(page).read()))
        parser = _PageParser()
        parser.feed(text)
        parser.close()
        assert scan_html(text) == (parser.base_href, parser.images), page.name


# Markup where an HTML5 parser (and so a browser) decides: what it finds, written out here.
HTML5_CASES = [
    ('<IMG SRC=a.jpg ALT="x &amp; y &copy; &#65;">', [{"src": "a.jpg", "alt": "x & y \u00a9 A"}]),
    ('<img src="a.jpg" alt>', [{"src": "a.jpg", "alt": ""}]),
    ('<img src="a.jpg" alt="first" alt="second">', [{"src": "a.jpg", "alt": "first"}]),
    ('<!-- <img src="c.jpg" alt="in comment"> --><img src=d.jpg alt=after>',
     [{"src": "d.jpg", "alt": "after"}]),
    ('<script>var s = "<img src=h.jpg alt=in-script>";</script><img src=i.jpg alt=i>',
     [{"src": "i.jpg", "alt": "i"}]),
    ("<textarea><img src=p.jpg alt=p></textarea><title><img src=q.jpg></title>", []),
    ("<style>img{}</style><img src=m.jpg alt=m>", [{"src": "m.jpg", "alt": "m"}]),
    ("<svg><img src=15.jpg alt=15></svg>", [{"src": "15.jpg", "alt": "15"}]),
    ("<div data-x='<img src=12.jpg>'><img src=13.jpg alt=13 title=t></div>",
     [{"src": "13.jpg", "alt": "13", "title": "t"}]),
    ('<img data-src=l.jpg srcset="a.jpg 1x, b.jpg 2x" data-image-title=d>',
     [{"data-src": "l.jpg", "srcset": "a.jpg 1x, b.jpg 2x", "data-image-title": "d"}]),
    ("<img src=7.jpg alt=7", []),   # a tag cut by the end of the file is dropped
]


@pytest.mark.parametrize("html, expected", HTML5_CASES)
def test_html5_parsing_of_tricky_markup(html, expected):
    assert scan_html(html)[1] == expected


def test_first_base_href_wins():
    assert scan_html("<base><base href='/b/'><base href='/c/'><img src=6.jpg>")[0] == "/b/"
    assert scan_html("<img src=6.jpg>")[0] is None


# --- URLs: the shortcuts against urljoin ------------------------------------------------

PIECES = ["http:", "https:", "HTTP:", "//", "/", "///", "h.org", "H.ORG", "[::1]", "[::1", "ħ.org", ":80",
          "u@", "a", "b.jpg", ".", "..", "./", "../", "?", "?q=1", "#", "#f", ";p", "%2e", " ", "\t", "\n",
          "\x01", "é", "data:", "javascript:", "mailto:", "&amp;", "//cdn.example.org", "/a//b", "?#",
          "Data:", "x+y.z:", "1a:", "a\tb:", "https://h.org/p.jpg#", "http://h.org#", "ws:"]
BASES = [None, "", "http://example.com/dir/page.html", "https://example.com", "HTTP://Ex.com/a/",
         "https://u:p@h.com:8443/a;p?q#f", "file:///tmp/p.html", "ftp://h/x/", "http://[::1/bad",
         "http://[::1]/ok/", "https://ħost.com/a/", "http:///nohost/", "//h/x", "relative/base", "mailto:a@b"]


@pytest.mark.slow
def test_url_shortcuts_equal_urljoin():
    rng = random.Random(11)
    srcs = {"".join(rng.choice(PIECES) for _ in range(rng.randint(1, 7))) for _ in range(6000)}
    for page in HTML_PAGES[:40]:
        srcs.update(img.get("src", "") for img in scan_html(decode_html(gzip.open(page).read()))[1])
    shortcut = plain = 0
    for base in BASES:
        images = PageImages(base)
        for src in srcs:
            plain += _PLAIN_ABSOLUTE.match(src) is not None   # resolve_new's first route
            written = resolve_image_url(src, base)
            got = images.resolve(src)
            # the row's URL is the written one as a browser sends it; its id, the written one's
            assert got == ((image_uuid(written), browser_url(written)) if written else None), \
                (base, src)
            shortcut += images._shortcut(src.strip()) is not None
    assert shortcut > 5_000
    assert plain > 1_000


def test_plain_absolute_sources_equal_urljoin():
    """resolve_new's first route (an absolute source given back as it is) against the
    reference, on sources one character away from it: every ASCII character and a few
    others, in the host, path, query and fragment, under bases sound and refused."""
    rng = random.Random(13)
    alphabet = [chr(c) for c in range(128)] + ["é", "\u00a0", "\u2028", "\U0001f600"]
    srcs = set()
    for _ in range(20_000):
        parts = [rng.choice(["http://", "https://", "HTTP://", "http:/"]), "h.org"]
        parts += [rng.choice(["", "/p/a.jpg", "/", "/a//b", "/a/./b"]), rng.choice(["", "?q=1"]),
                  rng.choice(["", "#f", "#"])]
        where = rng.randrange(1, len(parts))
        parts[where] += rng.choice(alphabet)
        srcs.add("".join(parts))
    plain = 0
    for base in ["http://example.com/dir/page.html", "http://[::1/bad", None]:
        images = PageImages(base)
        for src in srcs:
            plain += _PLAIN_ABSOLUTE.match(src) is not None
            written = resolve_image_url(src, base)
            assert images.resolve(src) == ((image_uuid(written), browser_url(written))
                                           if written else None), (base, src)
    assert 10_000 < plain < 3 * len(srcs)


def test_plain_base_parts_equal_urlsplit():
    """A base's parts by the one-match shortcut are urlsplit's; sources resolve against
    such bases as urljoin does."""
    from urllib.parse import urlsplit

    from curate.core.extract.text import _PLAIN_BASE

    rng = random.Random(12)
    starts = ["http://", "https://", "HTTP://", "http:/", " http://", "http:///", "ftp://"]
    bases = {rng.choice(starts) + "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 6)))
             for _ in range(20_000)}
    plain = 0
    for base in bases:
        match = _PLAIN_BASE.match(base)
        if match:
            parts = urlsplit(base)
            assert match.groups() == (parts.scheme, parts.netloc, parts.path), base
            plain += 1
    assert plain > 3_000
    srcs = ["a.jpg", "/b.jpg", "../c.jpg", "//h.org/d.jpg", "?q", "#f", "e/./f.jpg", ""]
    for base in sorted(bases)[:3000]:
        images = PageImages(base)
        for src in srcs:
            got = images.resolve(src)
            written = resolve_image_url(src, base)
            assert (got[1] if got else None) == (browser_url(written) if written else None), \
                (base, src)


# --- WAT: simdjson against the stdlib -----------------------------------------------------

needs_simdjson = pytest.mark.skipif(
    wat.simdjson is None, reason="pysimdjson is not installed (the optional fast JSON route)")


def _wat_record(doc_bytes: bytes) -> bytes:
    return _record("metadata", "http://h.org/p", doc_bytes, content_type="application/json")


def _wat_doc(links, extra="") -> bytes:
    return ('{"Envelope":{"WARC-Header-Metadata":{"WARC-Type":"response","WARC-Target-URI":'
            '"http://h.org/p"},"Payload-Metadata":{"HTTP-Response-Metadata":{"HTML-Metadata":'
            '{"Head":{},"Links":' + links + '}}}}' + extra + '}').encode()


ODD_WAT_DOCS = [
    _wat_doc('[{"path":"IMG@/src","url":"a.jpg","alt":"plain"}]'),
    _wat_doc('[{"path":"IMG@/src","url":"b.jpg","alt":"lone \\ud800 surrogate"}]'),  # simdjson refuses
    _wat_doc('[{"path":"IMG@/src","url":"c.jpg","alt":"pair \\ud83d\\ude00"}]'),
    _wat_doc('[{"path":"IMG@/src","url":"d.jpg","alt":"nan"}]', ',"x":NaN'),         # simdjson refuses
    _wat_doc('[{"path":"IMG@/src","url":"e.jpg","alt":"big"}]', ',"x":123456789012345678901234567890'),
    _wat_doc('[{"path":"IMG@/src","url":"f.jpg","alt":"dup"}]', ',"Envelope":{}'),   # first key wins
    _wat_doc('[{"path":"IMG@/src","url":"g.jpg","alt":"broken"}'),                   # not JSON
    _wat_doc('[{"path":"IMG@/src","url":"h.jpg","alt":"first","alt":"second","title":"t",'
             '"url":"not-this.jpg"},{"path":"A@/href","path":"IMG@/src","url":"no.jpg","alt":"no"}]'),
    b"\xef\xbb\xbf" + _wat_doc('[{"path":"IMG@/src","url":"i.jpg","alt":"bom"}]'),
    _wat_doc('[{"path":"IMG@/src","url":"j.jpg","alt":"deep"}]', ',"x":' + "[" * 2000 + "]" * 2000),
    _wat_doc('[{"path":"IMG@/src","url":"k.jpg","alt":"inf"}]', ',"x":1e400'),       # simdjson refuses
    # JSON may be UTF-16, but the IMG@/src mark is looked for in CommonCrawl's UTF-8
    _wat_doc('[{"path":"IMG@/src","url":"l.jpg","alt":"utf-16"}]').decode().encode("utf-16"),
    _wat_doc('[{"path":"IMG@/src","url":"m.jpg","alt":1,"title":null},'
             '{"path":"IMG@/src","url":["n.jpg"],"alt":"list src"}]'),
]


def test_simdjson_and_the_stdlib_give_the_same_rows(tmp_path, monkeypatch):
    path = tmp_path / "odd.wat"
    path.write_bytes(b"".join(_wat_record(d) for d in ODD_WAT_DOCS))
    installed = extract(path)
    monkeypatch.setattr(wat, "simdjson", None)
    assert extract(path) == installed
    rows, counters, _ = installed
    assert [(r[1].rsplit("/", 1)[1], r[2], r[3]) for r in rows] == [
        ("a.jpg", "plain", "alt"), ("b.jpg", "lone \ufffd surrogate", "alt"),
        ("c.jpg", "pair \U0001F600", "alt"), ("d.jpg", "nan", "alt"), ("e.jpg", "big", "alt"),
        ("f.jpg", "dup", "alt"), ("h.jpg", "first", "alt"), ("h.jpg", "t", "title"),
        ("i.jpg", "bom", "alt"), ("k.jpg", "inf", "alt")]
    # not JSON; nested deeper than either parser goes
    assert counters["records_skipped:parse_error"] == 2
    assert counters["texts_dropped:no_src"] == 1   # the list-valued url
    assert counters["records_skipped:not_wat_html_metadata"] == 1   # the UTF-16 one


@needs_simdjson
def test_simdjson_route_is_taken_and_leaves_no_proxy():
    page = wat._simdjson_page(ODD_WAT_DOCS[7])
    assert page == ("http://h.org/p", None, [("h.jpg", "first", "t")])
    assert wat._simdjson_page(ODD_WAT_DOCS[1]) is wat._REFUSED
    # the parser is free again: a proxy left alive would make this parse refuse
    assert wat._simdjson_page(ODD_WAT_DOCS[0]) == ("http://h.org/p", None,
                                                   [("a.jpg", "plain", None)])


@pytest.mark.parametrize("name", ["CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2.internal.warc.wat",
                                  "CC-MAIN-2024-22-whirlwind.warc.wat.gz"])
def test_simdjson_and_the_stdlib_on_the_real_wats(monkeypatch, name):
    expected = extract(DATA / "commoncrawl" / name)
    monkeypatch.setattr(wat, "simdjson", None)
    assert extract(DATA / "commoncrawl" / name) == expected


BENCH_WAT = Path(__file__).resolve().parents[2] / "bench" / "out" / "extract" / "bench-60000.warc.wat.gz"


def _wat_rows_reference(self, links, base, page_url, item):
    """records._File._wat_rows by the generic route: parse_wat's image dicts through _page_rows."""
    images = [{attr: wat.wat_text(value) for attr, value in zip(("src", "alt", "title"), link)
               if value is not None} for link in links]
    return self._page_rows(images, base, page_url, item)


def _wat_files(tmp_path):
    files = [DATA / "commoncrawl" / "CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2.internal.warc.wat",
             DATA / "commoncrawl" / "CC-MAIN-2024-22-whirlwind.warc.wat.gz"]
    if BENCH_WAT.exists():   # its first ~2000 records (gzip members, so a byte prefix is sound)
        with open(BENCH_WAT, "rb") as f:
            it = ArchiveIterator(f)
            for i, _ in enumerate(it):
                if i == 2000:
                    end = it.get_record_offset()
                    break
            f.seek(0)
            head = tmp_path / "bench-head.warc.wat.gz"
            head.write_bytes(f.read(end))
        files.append(head)
    return files


def test_wat_rows_equal_the_generic_page_rows(tmp_path, monkeypatch):
    for path in _wat_files(tmp_path):
        expected_fast = extract(path)
        monkeypatch.setattr(records._File, "_wat_rows", _wat_rows_reference)
        assert extract(path) == expected_fast, path.name
        monkeypatch.undo()


def _first_key_wins(pairs):
    fields = {}
    for key, value in pairs:
        if key not in fields:
            fields[key] = value
    return fields


@pytest.mark.parametrize("links", [
    '[{"path":"A@/href","url":"x"},{"path":"IMG@/src","url":"a.jpg","alt":"a"},{"url":"b.jpg"}]',
    '[1,"IMG@/src",null,[],{"path":"IMG@/src","url":"c.jpg"},{"path":["IMG@/src"]},true]',
    '[{"path":"A@/href","path":"IMG@/src","url":"d.jpg"},{"path":"IMG@/src","path":"x"}]',
    '[{"path":"IMG@/src","url":"e.jpg","url":"f.jpg","title":"x","alt":"y","alt":"z"}]',
    '{"path":"IMG@/src"}',
])
@pytest.mark.parametrize("route", ["installed", "stdlib"])
def test_wat_page_link_selection(links, route, monkeypatch):
    if route == "stdlib":
        monkeypatch.setattr(wat, "simdjson", None)
    doc = json.loads(_wat_doc(links), object_pairs_hook=_first_key_wins)
    found = doc["Envelope"]["Payload-Metadata"]["HTTP-Response-Metadata"]["HTML-Metadata"]["Links"]
    if not isinstance(found, list):
        found = []
    expected = [tuple(v if isinstance(v, str) else None for v in (link.get("url"), link.get("alt"),
                                                                  link.get("title")))
                for link in found if isinstance(link, dict) and link.get("path") == "IMG@/src"]
    assert wat.wat_page(_wat_doc(links))[2] == expected


def test_wat_text_unescapes_as_html_unescape():
    """wat_text skips html.unescape where it would change nothing: the same result on
    strings built from entity names (those valid without `;` all among them), their
    prefixes, numeric references and URL queries."""
    import html
    rng = random.Random(3)
    names = rng.sample(sorted(html.entities.html5), 300)
    pieces = ["&", "#", "x", "1", "a", ";", " ", "=", "w", "amp", "am", "lt", "&&", "\t", "é",
              "#x4", "#12", "?w=640&h=480", "&height=62", "&notit;", "&frac1", "&hearts",
              "it;", "&xyz;"] + names + ["&" + name for name in names]
    # every name html.unescape accepts without its `;` (then followed by anything)
    pieces += ["&" + name for name in html.entities.html5 if not name.endswith(";")]
    changed = 0
    for _ in range(100_000):
        s = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        assert wat.wat_text(s) == html.unescape(s), s
        changed += html.unescape(s) != s
    assert changed > 30_000
