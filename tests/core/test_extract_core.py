"""The pure-Python extract core: text helpers, HTML / WAT parsing, the per-file driver.

Expected rows were read off the raw files by hand (grep of the HTML, the WAT JSON),
not produced by the code under test.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import pytest

from curate.core.extract.html import charset_of, decode_html, parse_html
from curate.core.extract.options import PageOptions
from curate.core.extract.text import browser_url, clean_text, image_uuid, resolve_image_url
from curate.core.reference import parse_wat
from curate.schemas import PAIRS
from extract_helpers import assert_counters_add_up, extract

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CC = DATA / "commoncrawl"
WARC_2014 = CC / "CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2.internal.warc"
WAT_2014 = CC / "CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2.internal.warc.wat"
AUSTRALIA = "http://0pointer.de/photos/?gallery=Australia&photo=496"
THAILAND = "http://0pointer.de/photos/?gallery=Thailand%202011-01&photo=726&show_thumbs=yes&exif_style="
WIKI_0X20 = "http://0x20.be/Special:WhatLinksHere/Thread:Talk:Gentse_feesten/foo"


def url_text_source(rows) -> set[tuple[str, str, str]]:
    return {(r[1], r[2], r[3]) for r in rows}


# --- text helpers -----------------------------------------------------------

@pytest.mark.parametrize("raw, cleaned", [
    ("plain", "plain"),
    ("a\nb", "a b"),
    ("\r\n  two\r\nlines \n", "two  lines"),  # \r\n -> two spaces, kept
    ("tab\tkept", "tab\tkept"),                # only \n and \r are replaced
    ("  \r\n\t ", ""),
    ("", ""),
])
def test_clean_text(raw, cleaned):
    assert clean_text(raw) == cleaned


def test_image_uuid_is_sha224_prefix_of_url_without_spaces_and_tabs():
    url = "http://0pointer.de/photos/galleries/Thailand 2011-01/thumbs/img-1.jpg"
    expected = hashlib.sha224(
        b"http://0pointer.de/photos/galleries/Thailand2011-01/thumbs/img-1.jpg").hexdigest()[:24]
    assert image_uuid(url) == expected
    assert image_uuid("http://x.org/a\tb c.jpg") == image_uuid("http://x.org/abc.jpg")
    assert len(image_uuid("http://x.org/")) == 24


@pytest.mark.parametrize("src, base, url", [
    ("a.jpg", "http://h.org/dir/page.html", "http://h.org/dir/a.jpg"),
    ("  /a.jpg \n", "http://h.org/dir/page.html", "http://h.org/a.jpg"),
    ("//cdn.org/a.jpg", "https://h.org/", "https://cdn.org/a.jpg"),
    ("../a.jpg", "http://h.org/x/y/", "http://h.org/x/a.jpg"),
    ("HTTPS://Other.org/a.jpg", "http://h.org/", "HTTPS://Other.org/a.jpg"),
    ("a.jpg", None, None),                      # relative with nothing to resolve against
    ("data:image/gif;base64,R0lGOD", "http://h.org/", None),
    ("javascript:void(0)", "http://h.org/", None),
    ("a.jpg", "file:///tmp/page.html", None),
    ("ftp://h.org/a.jpg", "http://h.org/", None),
    ("http:///a.jpg", None, None),              # no host
    ("http://[::1/a.jpg", "http://h.org/", None),  # urljoin raises ValueError
    ("   ", "http://h.org/", None),
])
def test_resolve_image_url(src, base, url):
    assert resolve_image_url(src, base) == url


# --- HTML page parsing --------------------------------------------------------

BASE_PAGE = (
    b'<html><head><meta charset="iso-8859-1"><title>t</title></head><body>\n'
    b'<IMG SRC="a.jpg" ALT="caf\xe9 &amp; bar">\n'          # before <base>: still uses it
    b'<base href="/static/">\n'
    b'<base href="http://other.example/">\n'               # only the first base counts
    b'<img src="b.png" title=" line1\r\nline2 " alt="">\n'
    b'<img src="//cdn.example.org/c.gif" data-image-title="cdn">\n'
    b'<img alt="no source">\n'
    b'<img src="data:image/png;base64,xx" alt="inline">\n'
    b'<img src="d.jpg" alt="first" alt="second">\n'
    b'<script>document.write("<img src=\'js.jpg\' alt=\'in script\'>")</script>\n'
    b'<!-- <img src="comment.jpg" alt="in comment"> -->\n'
    b'</body></html>'
)
BASE_PAGE_URL = "http://example.com/dir/page.html"


def test_parse_html_base_and_attributes():
    base, images = parse_html(BASE_PAGE, BASE_PAGE_URL)
    assert base == "http://example.com/static/"
    assert images == [
        {"src": "a.jpg", "alt": "café & bar"},
        # HTML5 turns CR LF into LF before tokenizing, as browsers do.
        {"src": "b.png", "title": " line1\nline2 ", "alt": ""},
        {"src": "//cdn.example.org/c.gif", "data-image-title": "cdn"},
        {"alt": "no source"},
        {"src": "data:image/png;base64,xx", "alt": "inline"},
        {"src": "d.jpg", "alt": "first"},
    ]


def test_base_href_page_rows_and_counters(tmp_path):
    path = tmp_path / "page.warc"
    path.write_bytes(warc_record("response", BASE_PAGE_URL, http_response(BASE_PAGE, "text/html")))
    rows, report = extract(path)
    assert [r[1:4] for r in rows] == [
        ("http://example.com/static/a.jpg", "café & bar", "alt"),
        ("http://example.com/static/b.png", "line1 line2", "title"),
        ("http://cdn.example.org/c.gif", "cdn", "data-image-title"),
        ("http://example.com/static/d.jpg", "first", "alt"),
    ]
    # source_offset, crawl (no warcinfo, no crawl-data/ path), fetch_time (WARC-Date), lang
    when = datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert all(r[4] == BASE_PAGE_URL and r[5] == str(path) and r[6:] == (0, None, when, None)
               for r in rows)
    assert all(len(r) == len(PAIRS.names) for r in rows)
    c = report.counters
    assert (c["images"], c["texts_found"], c["pairs"]) == (6, 7, 4)
    assert c["texts_dropped:empty_text"] == 1      # b.png's alt=""
    assert c["texts_dropped:no_src"] == 1
    assert c["texts_dropped:non_http_url"] == 1    # the data: URI
    assert (c["records"], c["records_used"], c["files_read"]) == (1, 1, 1)
    assert_counters_add_up(report)


def test_charset_choice():
    meta_utf8 = b'<meta charset="utf-8"><p>'
    assert charset_of(meta_utf8, "text/html; charset=Windows-1251") == "cp1251"  # header first
    assert charset_of(meta_utf8, "text/html") == "utf-8"
    http_equiv = b'<meta http-equiv="Content-Type" content="text/html; charset=EUC-JP">'
    assert charset_of(http_equiv, None) == "euc_jp"
    assert charset_of(b"<p>no declaration</p>", None) == "utf-8"
    assert charset_of(http_equiv, "text/html; charset=x-no-such-charset") == "euc_jp"
    assert charset_of(b"", 'text/html; charset="base64"') == "utf-8"  # not a text codec
    late = b"<!--" + b"x" * 5000 + b'--><meta charset="koi8-r">'
    assert charset_of(late, None) == "utf-8"                          # beyond the first 4 KB


def test_decode_html_uses_superset_and_never_fails():
    # U+9555 is in GBK but not in GB2312; browsers decode "gb2312" pages as GBK.
    assert decode_html("朱镕基".encode("gbk"), "text/html; charset=gb2312") == "朱镕基"
    # Undeclared and not UTF-8: detected (windows-1252 wins the ties of short input).
    assert decode_html(b"ok \xff\xfe", None) == "ok \xff\xfe".encode("latin-1").decode("cp1252")
    # Declared but wrong: undecodable bytes become U+FFFD rather than failing.
    assert decode_html(b"ok \xff\xfe", "text/html; charset=utf-8") == "ok \ufffd\ufffd"


# --- WAT parsing --------------------------------------------------------------

def wat_payload(links, base=None, uri="http://example.com/a/page.html") -> bytes:
    head = {"Base": base} if base is not None else {}
    return json.dumps({"Envelope": {
        "WARC-Header-Metadata": {"WARC-Type": "response", "WARC-Target-URI": uri},
        "Payload-Metadata": {"HTTP-Response-Metadata": {
            "HTML-Metadata": {"Head": head, "Links": links}}}}}).encode()


def test_parse_wat_images_base_and_entities():
    links = [
        {"path": "A@/href", "url": "/x", "text": "not an image"},
        {"path": "IMG@/src", "url": "pic.jpg?a=1&amp;b=2", "alt": "Tom &amp; Jerry", "title": "t"},
        {"path": "IMG@/src", "url": "/nolabel.png"},
    ]
    page_url, base, images = parse_wat(wat_payload(links, base="../img/"))
    assert page_url == "http://example.com/a/page.html"
    assert base == "http://example.com/img/"
    # Pre-2019 CommonCrawl WATs keep character references raw; they are decoded.
    assert images == [{"src": "pic.jpg?a=1&b=2", "alt": "Tom & Jerry", "title": "t"},
                      {"src": "/nolabel.png"}]


def test_parse_wat_without_html_metadata():
    request = {"Envelope": {"Payload-Metadata": {"HTTP-Request-Metadata": {}}}}
    assert parse_wat(json.dumps(request).encode()) is None
    with pytest.raises(ValueError):
        parse_wat(b"{not json")


# --- real CommonCrawl files ----------------------------------------------------

def test_2014_warc_rows():
    rows, report = extract(WARC_2014)
    # `grep -o '<img[^>]*>'` on the raw WARC: 861 <img> tags (4 + 854 + 3 over the
    # three HTML responses), every one with a non-empty alt, no title or
    # data-image-title; the fourth response (0.r.msn.com) has an empty body.
    assert len(rows) == 861
    found = url_text_source(rows)
    assert {
        # relative "./galleries/..." against the page URL
        ("http://0pointer.de/photos/galleries/Australia/lq/img-496.jpg", "496", "alt"),
        ("http://0pointer.de/photos/galleries/Australia/thumbs/img-495.jpg", "Previous", "alt"),
        ("http://creativecommons.org/images/public/somerights20.png",
         "Creative Commons License", "alt"),
        # the src has a raw space: urljoin keeps it (the uuid drops it)
        ("http://0pointer.de/photos/galleries/Thailand%202011-01/thumbs/img-1.jpg",
         "photo No. 1", "alt"),
        ("http://0pointer.de/photos/galleries/Thailand%202011-01/lq/img-726.jpg", "726", "alt"),
        ("http://0x20.be/smw/skins/vector/images/search-ltr.png?303", "Search", "alt"),
        # "/smw/extensions/SemanticMediaWiki/includes/../resources/..." loses its dot segment
        ("http://0x20.be/smw/extensions/SemanticMediaWiki/resources/images/smw_button.png",
         "Powered by Semantic MediaWiki", "alt"),
    } <= found
    first = rows[0]
    assert first[1:5] == ("http://0pointer.de/photos/galleries/Australia/lq/img-496.jpg",
                          "496", "alt", AUSTRALIA)
    assert first[0] == hashlib.sha224(
        b"http://0pointer.de/photos/galleries/Australia/lq/img-496.jpg").hexdigest()[:24]
    # The response record starts 2 blank lines after the Australia request record.
    data = WARC_2014.read_bytes()
    request = data.index(b"WARC-Target-URI: " + AUSTRALIA.encode())
    response = data.index(b"WARC/1.0\r\nWARC-Type: response", request)
    assert first[5:] == (str(WARC_2014), response, "CC-MAIN-2014-35",   # warcinfo isPartOf
                         datetime(2014, 8, 21, 5, 52, 58, tzinfo=timezone.utc), None)
    per_page = defaultdict(int)
    for r in rows:
        per_page[r[4]] += 1
    assert per_page == {AUSTRALIA: 4, THAILAND: 854, WIKI_0X20: 3}
    c = report.counters
    assert (c["records"], c["records_used"], c["records_skipped:not_html"]) == (13, 3, 1)
    assert report.errors == [] and c["files_read"] == 1
    assert_counters_add_up(report)


def test_2014_wat_rows():
    rows, report = extract(WAT_2014)
    # The WAT excerpt holds 8 metadata records; only the Australia response has
    # HTML-Metadata, with four IMG@/src links, each with an alt and no title.
    assert url_text_source(rows) == {
        ("http://0pointer.de/photos/galleries/Australia/lq/img-496.jpg", "496", "alt"),
        ("http://0pointer.de/photos/galleries/Australia/thumbs/img-495.jpg", "Previous", "alt"),
        ("http://0pointer.de/photos/galleries/Australia/thumbs/img-497.jpg", "Next", "alt"),
        ("http://creativecommons.org/images/public/somerights20.png",
         "Creative Commons License", "alt"),
    }
    assert len(rows) == 4 and {r[4] for r in rows} == {AUSTRALIA}
    c = report.counters
    assert (c["records"], c["records_used"], c["records_skipped:warcinfo"]) == (9, 1, 1)
    assert c["records_skipped:not_wat_html_metadata"] == 7
    assert_counters_add_up(report)


def test_2014_wat_and_warc_agree_on_shared_pages():
    # Finding: the WAT covers only the first captures of its WARC. The one page
    # with images in both is the Australia page, and there the (url, alt) sets
    # are equal, uuids included (the WAT's msn.com response has no HTML-Metadata,
    # the WARC's has an empty body). No alt or img src on that page has a
    # character reference, so the WAT's raw-entity quirk (its hrefs show
    # "&amp;") does not show in the pairs.
    def by_page(rows):
        pages = defaultdict(set)
        for r in rows:
            if r[3] == "alt":
                pages[r[4]].add((r[0], r[1], r[2]))
        return pages

    warc, wat = by_page(extract(WARC_2014)[0]), by_page(extract(WAT_2014)[0])
    shared = warc.keys() & wat.keys()
    assert shared == {AUSTRALIA}
    assert warc[AUSTRALIA] == wat[AUSTRALIA] and len(wat[AUSTRALIA]) == 4


def test_2024_whirlwind_rows():
    rows, report = extract(CC / "CC-MAIN-2024-22-whirlwind.warc.gz")
    wiki = "https://an.wikipedia.org/static/images"
    commons = "https://upload.wikimedia.org/wikipedia/commons/thumb"
    # 13 <img> in the page: 7 with a non-empty alt, 2 with alt="", 4 without alt;
    # none has a title. Protocol-relative srcs take the page's https.
    assert url_text_source(rows) == {
        (f"{wiki}/mobile/copyright/wikipedia-wordmark-an.svg", "Biquipedia", "alt"),
        (f"{wiki}/mobile/copyright/wikipedia-tagline-an.svg", "A enciclopedia libre", "alt"),
        (f"{commons}/0/0a/Escudo_de_Escopete_%28Guadalajara%29.svg/"
         "70px-Escudo_de_Escopete_%28Guadalajara%29.svg.png", "Escudo d'armas", "alt"),  # &#39;
        (f"{commons}/9/9c/Castilla-La_Mancha-loc.svg/250px-Castilla-La_Mancha-loc.svg.png",
         "Escopete ubicada en Castiella-La Mancha", "alt"),
        (f"{commons}/d/d2/Map_pointer.svg/12px-Map_pointer.svg.png", "Escopete", "alt"),
        (f"{wiki}/footer/wikimedia-button.png", "Wikimedia Foundation", "alt"),
        (f"{wiki}/footer/poweredby_mediawiki_88x31.png", "Powered by MediaWiki", "alt"),
    }
    assert len(rows) == 7
    c = report.counters
    assert (c["images"], c["texts_found"], c["texts_dropped:empty_text"]) == (13, 9, 2)
    assert_counters_add_up(report)


def test_2024_whirlwind_wat_has_only_the_request_metadata():
    rows, report = extract(CC / "CC-MAIN-2024-22-whirlwind.warc.wat.gz")
    assert rows == []
    c = report.counters
    assert (c["records"], c["records_skipped:not_wat_html_metadata"], c["files_read"]) == (2, 1, 1)
    assert_counters_add_up(report)


# --- every shared input: never raises, counters add up --------------------------

# What reading each damaged file really gives (checked one by one):
FAILING = {
    # not an archive: warcio takes its 5-word lines for ARC headers
    "LICENSE.CC-MAIN-2014-35": "corrupt record: invalid length 'Ware'",
    "bad.arc": "corrupt record: invalid length '-1'",
    # the ARC record's data ends 12 bytes before its declared length
    "example-space-in-url.arc": "truncated file",
    "example-wrong-chunks.warc.gz": "gzip member ends inside a record",
    "clipped.warc.gz": "truncated gzip stream",
}
# Read to the end despite their names: the IA file was cut at a record boundary
# (every record and the gzip stream are complete); example-trunc.warc has one
# Content-Length 2 bytes short, which warcio reads past (records_misaligned); the
# two "non-chunked" gzip files (records sharing one gzip member, which warcio
# refuses) are read on as one gzip stream.
ALL_FILES = sorted(p for d in ("commoncrawl", "webarchives", "edgecases")
                   for p in (DATA / d).iterdir() if p.is_file())


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_every_file_reads_or_fails_cleanly(path):
    rows, report = extract(path)
    assert_counters_add_up(report)
    assert report.counters["pairs"] == len(rows)
    expected = FAILING.get(path.name)
    if expected is None:
        assert report.errors == [] and report.counters["files_read"] == 1
    else:
        assert len(report.errors) == 1 and report.errors[0][1].startswith(expected)


def test_the_expected_failures_exist():
    assert set(FAILING) <= {p.name for p in ALL_FILES}
    assert (DATA / "webarchives" / "IAH-20080430204825-00000-blackbook-truncated.warc.gz").exists()
    assert extract(DATA / "edgecases" / "example-trunc.warc")[1].counters["records_misaligned"] == 1


def test_missing_and_empty_files(tmp_path):
    rows, report = extract(tmp_path / "nope.warc.gz")
    assert rows == [] and report.errors == [(None, "missing file")]
    assert report.counters["files_failed"] == 1
    assert_counters_add_up(report)
    (tmp_path / "empty.warc").write_bytes(b"")
    rows, report = extract(tmp_path / "empty.warc")
    assert rows == [] and report.errors == [(None, "empty file")]


def test_plain_file_cut_inside_a_page_keeps_earlier_rows(tmp_path):
    data = WARC_2014.read_bytes()
    last_response = data.rfind(b"WARC/1.0\r\nWARC-Type: response")  # the 0x20.be page
    cut = tmp_path / "cut.warc"
    cut.write_bytes(data[:last_response + 5000])
    rows, report = extract(cut)
    full, _ = extract(WARC_2014)
    assert len(rows) == 858 and [r[:5] for r in rows] == [r[:5] for r in full[:858]]
    assert len(report.errors) == 1
    offset, reason = report.errors[0]
    assert offset == last_response and reason.startswith("truncated file")
    assert report.counters["records_skipped:truncated"] == 1
    assert_counters_add_up(report)


def test_gzip_file_cut_anywhere_keeps_a_prefix_and_fails(tmp_path):
    source = DATA / "webarchives" / "sample-0000.warc.gz"
    data = source.read_bytes()
    full = [r[:5] for r in extract(source)[0]]
    kept = set()
    for i in range(1, 10):   # cuts inside a payload, a record header, a gzip trailer...
        cut = tmp_path / f"cut{i}.warc.gz"
        cut.write_bytes(data[:len(data) * i // 10 + 7])
        rows, report = extract(cut)
        assert [r[:5] for r in rows] == full[:len(rows)]
        assert len(report.errors) == 1 and "truncated gzip stream" in report.errors[0][1]
        assert_counters_add_up(report)
        kept.add(len(rows))
    assert max(kept) > 0


# --- record selection -----------------------------------------------------------

def warc_record(rec_type: str, uri: str, block: bytes,
                content_type: str = "application/http; msgtype=response") -> bytes:
    head = (f"WARC/1.0\r\nWARC-Type: {rec_type}\r\nWARC-Target-URI: {uri}\r\n"
            f"WARC-Date: 2024-01-01T00:00:00Z\r\n"
            f"WARC-Record-ID: <urn:uuid:{uuid.uuid4()}>\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(block)}\r\n\r\n")
    return head.encode() + block + b"\r\n\r\n"


def http_response(body: bytes, content_type: str | None) -> bytes:
    head = "HTTP/1.1 200 OK\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def test_untyped_payloads_are_sniffed_and_big_ones_skipped(tmp_path):
    page = b'<!DOCTYPE html>\n<img src="/s.jpg" alt="sniffed">'
    big = b"<html>" + b"x" * 2000 + b'<img src="/big.jpg" alt="too big">'
    path = tmp_path / "mixed.warc"
    path.write_bytes(
        warc_record("response", "http://h.org/", http_response(page, None))
        + warc_record("response", "http://h.org/gif", http_response(b"GIF89a....", None))
        + warc_record("response", "http://h.org/big", http_response(big, "text/html"))
        + warc_record("response", "http://h.org/css", http_response(b"<html>", "text/css"))
        + warc_record("response", "http://h.org/x", http_response(page, "application/xhtml+xml"))
        + warc_record("metadata", "http://h.org/", wat_payload([]), "application/json")
        + warc_record("resource", "http://h.org/r", page, "text/html"))
    rows, report = extract(path, PageOptions(max_page_bytes=1000))
    assert [r[1:5] for r in rows] == [("http://h.org/s.jpg", "sniffed", "alt", "http://h.org/"),
                                      ("http://h.org/s.jpg", "sniffed", "alt", "http://h.org/x")]
    c = report.counters
    assert c["records_skipped:not_html"] == 2
    assert c["records_skipped:too_large"] == 1
    assert c["records_skipped:not_response"] == 1
    assert c["records_used"] == 2          # the two pages
    # The WAT record of an HTML page without IMG@/src links is not parsed (prefilter).
    assert c["records_skipped:no_image_links"] == 1
    assert c["files_read"] == 1
    assert_counters_add_up(report)


@pytest.mark.parametrize("written, sent", [
    ("http://h.org/plain.jpg?x=1&y=2#top", "http://h.org/plain.jpg?x=1&y=2#top"),
    ("http://h.org/my photo 0.jpg", "http://h.org/my%20photo%200.jpg"),
    ("https://h.org/café.jpg", "https://h.org/caf%C3%A9.jpg"),
    ("http://h.org/日本.png", "http://h.org/%E6%97%A5%E6%9C%AC.png"),
    ("http://h.org/a%20b.jpg", "http://h.org/a%20b.jpg"),            # encoded stays encoded
    ("http://h.org/s?q=a b&c=\"d\"&e='f'", "http://h.org/s?q=a%20b&c=%22d%22&e=%27f%27"),
    ("http://h.org/p#a b", "http://h.org/p#a%20b"),
    ("http://h.org/a\\b.jpg", "http://h.org/a/b.jpg"),
    ("http://bücher.de/a.jpg", "http://xn--bcher-kva.de/a.jpg"),
    ("http://H.ORG/a<b>.jpg", "http://h.org/a%3Cb%3E.jpg"),
    ("http://h.org/a\tb\nc.jpg", "http://h.org/abc.jpg"),
    ("http://h.org/it's|^.jpg", "http://h.org/it's|^.jpg"),          # not in the path set
    # credentials (the expected URLs are Node's WHATWG `new URL(written).href`): the
    # password starts at the first ":", "@" before the last one is the username's, a part's
    # set characters are encoded though nothing else in it needs it, an empty password or
    # empty credentials leave no ":" or "@"
    ("http://u s\u00e9r@h.org/", "http://u%20s%C3%A9r@h.org/"),
    ("http://u:p \u00e9@h.org/", "http://u:p%20%C3%A9@h.org/"),
    ("http://u:p:q \u00e9@h.org/x", "http://u:p%3Aq%20%C3%A9@h.org/x"),
    ("http://us;er:pa|ss@h.org/a b", "http://us%3Ber:pa%7Css@h.org/a%20b"),
    ("http://a@b@h.org/a b", "http://a%40b@h.org/a%20b"),
    ("http://u:@h.org/a b", "http://u@h.org/a%20b"),
    ("http://:p@h.org/a b", "http://:p@h.org/a%20b"),
    ("http://@h.org/a b", "http://h.org/a%20b"),
    ("http://u:p@h.org/a b", "http://u:p@h.org/a%20b"),
])
def test_urls_are_sent_as_a_browser_sends_them(written, sent):
    """WHATWG URL serialisation: what urllib (img2dataset's client) can request."""
    assert browser_url(written) == sent
    assert sent.isascii() and not any(c <= " " or c == "\x7f" for c in sent)


def test_percent_encoding_of_each_part_is_its_definition():
    """Each part's encoding (runs of characters encoded at once) against the definition,
    character by character: a part a browser sends as written stays whole; in any other,
    \x21-\x7e outside the part's set stays and anything else becomes %XX of its UTF-8
    bytes (a lone surrogate too); on random strings and every set."""
    import random

    from curate.core.extract import text

    def by_definition(part, extra):
        if all(0x20 < ord(c) < 0x7f and c not in '"\'<>`{}\\' for c in part):
            return part
        return "".join(c if 0x20 < ord(c) < 0x7f and c not in extra else
                       "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
                       for c in part)

    chars = [chr(c) for c in range(0x80)] + list("é中\u0300\ud800\U0001F600")
    rng = random.Random(18)
    for extra in (text._PATH_SET, text._QUERY_SET, text._FRAGMENT_SET, text._USERINFO_SET):
        for _ in range(3000):
            part = "".join(rng.choice(chars) for _ in range(rng.randint(0, 12)))
            assert text._percent_encode(part, extra) == by_definition(part, extra), part


def test_rows_carry_the_sent_url_and_the_written_urls_id():
    rows, _report = extract(WARC_2014)
    spaced = [row for row in rows if "Thailand%202011-01" in row[1]]
    assert spaced and not [row for row in rows if " " in row[1]]
    for uuid, url, *_ in spaced:
        assert uuid == image_uuid(url.replace("%20", " "))
