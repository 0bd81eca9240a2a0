"""The generated half of the hostile corpus (issue 17): files no crawler should write, built
into a directory at test time (the largest is 3 MB on disk; nothing of it is committed).
The other half is every file of ../shared/data/edgecases and webarchives, read in place.

`build(folder)` writes the files and returns {file name: what reading it must give}; the
expectations are exact (rows, skip and drop reasons, the error's reason) and were derived
from how each file is made, not from the code under test.
"""
from __future__ import annotations

import gzip
import json
import os
import random
import struct
import uuid
import zlib
from pathlib import Path

GIB = 1 << 30
BOMB_BYTES = 3 * GIB       # zeros in the gzip bomb
HEADER_TOO_LARGE = ("header too large: no end of the record's header block within 1048576 "
                    "bytes (max_header_bytes)")


def warc_record(rec_type: str, uri: str, block: bytes, *, length: int | None = None,
                content_type: str = "application/http; msgtype=response") -> bytes:
    length = len(block) if length is None else length
    head = (f"WARC/1.0\r\nWARC-Type: {rec_type}\r\nWARC-Target-URI: {uri}\r\n"
            f"WARC-Date: 2024-01-01T00:00:00Z\r\n"
            f"WARC-Record-ID: <urn:uuid:{uuid.UUID(int=random.Random(uri).getrandbits(128))}>\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n")
    return head.encode() + block + b"\r\n\r\n"


def page(uri: str, body: bytes) -> bytes:
    """A response record of an HTML page."""
    http = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n"
            % len(body)) + body
    return warc_record("response", uri, http)


def members(*records: bytes) -> bytes:
    """A gzip WARC: one gzip member per record."""
    return b"".join(gzip.compress(r, mtime=0) for r in records)


SMALL = b'<html><img src="/a.jpg" alt="first"><img src="/b.jpg" alt="second">'
SMALL_ROWS = 2


def wat_record(uri: str, links: list[dict] | None, raw: bytes | None = None) -> bytes:
    doc = {"Envelope": {"WARC-Header-Metadata": {"WARC-Target-URI": uri},
                        "Payload-Metadata": {"HTTP-Response-Metadata": {
                            "HTML-Metadata": {"Links": links or []}}}}}
    payload = raw if raw is not None else json.dumps(doc).encode()
    return warc_record("metadata", uri, payload, content_type="application/json")


def gzip_bomb(path: Path, zeros: int, prefix: bytes = b"") -> None:
    """One gzip member of prefix + `zeros` zero bytes (a multiple of 1 MiB), written
    streaming: after a full flush the deflate output of a 1 MiB block of zeros is the same
    for every block, so it is made once and written zeros / 1 MiB times (3 GB: 3 MB, <1 s)."""
    block = bytes(1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    crc = zlib.crc32(prefix)
    with open(path, "wb") as out:
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")
        out.write(deflate.compress(prefix) + deflate.flush(zlib.Z_FULL_FLUSH))
        one = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
        for _ in range(zeros >> 20):
            out.write(one)
            crc = zlib.crc32(block, crc)
        out.write(deflate.flush())
        out.write(struct.pack("<II", crc, (len(prefix) + zeros) & 0xFFFFFFFF))


def _expect(rows: int = 0, error: str | None = None, **counters: int) -> dict:
    """rows: pairs; error: the start of the file's one error (None: read, no error);
    counters: exact values of those named (records_skipped__x is records_skipped:x)."""
    return {"rows": rows, "error": error,
            "counters": {k.replace("__", ":"): v for k, v in counters.items()}}


def build(folder: Path, *, names: bool = True, fifo: bool = True) -> dict[str, dict]:
    """Write the generated corpus into folder; {name: expectation} (see _expect)."""
    folder.mkdir(parents=True, exist_ok=True)
    expect: dict[str, dict] = {}
    rnd = random.Random(17)

    def write(name: str, data: bytes, expectation: dict) -> None:
        (folder / name).write_bytes(data)
        expect[name] = expectation

    # Not archives at all.
    unknown = "corrupt record: ArchiveLoadFailed: Unknown archive format, first line: "
    write("random.warc.gz", rnd.randbytes(100_000), _expect(error=unknown))
    write("random-in-gzip.warc.gz", gzip.compress(rnd.randbytes(100_000), mtime=0),
          _expect(error=unknown))
    write("zero-bytes.warc.gz", b"", _expect(error="empty file"))
    write("empty-gzip.warc.gz", gzip.compress(b"", mtime=0), _expect(records=0, files_read=1))
    # A sound file cut in the middle of its second record's gzip member.
    sound = members(page("http://h.org/1", SMALL), page("http://h.org/2", SMALL))
    first = len(gzip.compress(page("http://h.org/1", SMALL), mtime=0))
    write("truncated.warc.gz", sound[:first + (len(sound) - first) // 2],
          _expect(rows=SMALL_ROWS, error="truncated gzip stream", records_used=1))
    # Content-Length lies: too long (the record swallows the next one and the file ends
    # inside it), too short (the page is cut 20 bytes early, losing its second image; the
    # rest of its block stands where the next record should: warcio resynchronises).
    one, two = page("http://h.org/1", SMALL), page("http://h.org/2", SMALL)
    head, block = one.split(b"\r\n\r\n", 1)
    long_head = head.replace(b"Content-Length: %d" % (len(block) - 4),
                             b"Content-Length: %d" % (len(block) - 4 + len(two) + 1000))
    write("length-too-long.warc", long_head + b"\r\n\r\n" + block + two,
          _expect(error="truncated file", records_skipped__truncated=1))
    short_head = head.replace(b"Content-Length: %d" % (len(block) - 4),
                              b"Content-Length: %d" % (len(block) - 4 - 20))
    write("length-too-short.warc", short_head + b"\r\n\r\n" + block + two,
          _expect(rows=1 + SMALL_ROWS, records_used=2, records_misaligned=1, files_read=1))
    # WAT: JSON that is not, JSON nested 100,000 deep, and 10^5 image links in one record
    # (the first 10,000 used).
    bad_json = b'{"Envelope": {"IMG@/src": [' + b"1," * 1000
    write("invalid-json.wat", wat_record("http://h.org/", None, raw=bad_json),
          _expect(records_skipped__parse_error=1, files_read=1))
    deep_json = b'{"path": "IMG@/src", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    write("json-100k-deep.wat", wat_record("http://h.org/", None, raw=deep_json),
          _expect(records_skipped__parse_error=1, files_read=1))
    links = [{"path": "IMG@/src", "url": f"/i{i}.jpg", "alt": f"image {i}"}
             for i in range(100_000)]
    write("links-100k.wat.gz", members(wat_record("http://h.org/", links)),
          _expect(rows=10_000, texts_dropped__too_many_images=90_000, images=100_000))
    # Pages: 30 MB, 200,000 <img>, 100,000 nested levels (and a sound page after it),
    # a 1 MB alt, control characters and invalid UTF-8 in URLs and texts.
    big = b"<html>" + b"<p>" + b"x" * (30 * (1 << 20)) + b'<img src="/big.jpg" alt="big">'
    write("page-30mb.warc.gz", members(page("http://h.org/big", big)),
          _expect(records_skipped__too_large=1, files_read=1))
    imgs = b"<html>" + b"".join(b'<img src="/%d.jpg" alt="img %d">' % (i, i)
                                for i in range(200_000))
    write("img-200k.warc.gz", members(page("http://h.org/imgs", imgs)),
          _expect(rows=10_000, texts_dropped__too_many_images=190_000, images=200_000))
    deep = b"<html><body>" + b"<div>" * 100_000 + b'<img src="/d.jpg" alt="deep">' \
        + b"</div>" * 100_000
    write("nested-100k.warc.gz", members(page("http://h.org/deep", deep),
                                         page("http://h.org/after", SMALL)),
          _expect(rows=SMALL_ROWS, records_skipped__too_deep=1, records_used=1))
    alt = b'<html><img src="/long.jpg" alt="' + b"a" * (1 << 20) + b'">' + SMALL[6:]
    write("alt-1mb.warc.gz", members(page("http://h.org/alt", alt)),
          _expect(rows=SMALL_ROWS + 1))   # no length filters: the 1 MB alt is a row
    controls = (b'<html><meta charset="utf-8"><img src="/c\x01\x7f.jpg" alt="bell\x07 nul\x00 '
                b'tab\t esc\x1b"><img src="/\xff\xfe.jpg" alt="bad \xc3\x28 utf8">')
    write("controls.warc", page("http://h.org/c", controls), _expect(rows=2, files_read=1))
    # ... and in the page's WARC-Target-URI (a header line that is not UTF-8).
    uri_page = page("http://h.org/URI", SMALL).replace(b"http://h.org/URI",
                                                        b"http://h.org/p\x01\x7f\xff\xfe\xc3\xa9 q")
    write("controls-in-uri.warc.gz", members(uri_page), _expect(rows=SMALL_ROWS, files_read=1))
    # A gzip bomb: 3 GB of zeros and no line break, 3 MB on disk; refused after 1 MiB.
    gzip_bomb(folder / "bomb.warc.gz", BOMB_BYTES)
    expect["bomb.warc.gz"] = _expect(error=HEADER_TOO_LARGE)
    # A header block of 300,000 short lines (2.4 MB): each line is fine, the block is not.
    lines = (b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://h.org/\r\n"
             + b"X-A: b\r\n" * 300_000 + b"Content-Length: 0\r\n\r\n")
    write("header-block-2mb.warc.gz", gzip.compress(lines, mtime=0),
          _expect(error=HEADER_TOO_LARGE))
    # File names: spaces, non-ASCII, bytes that are not UTF-8, a newline.
    if names:
        small = members(page("http://h.org/n", SMALL))
        for name in ("with space.warc.gz", "non-ascii-日本語.warc.gz"):
            write(name, small, _expect(rows=SMALL_ROWS, files_read=1))
        for raw in (b"not-utf8-\xff\xfe.warc.gz", b"new\nline.warc.gz"):
            with open(os.path.join(os.fsencode(folder), raw), "wb") as out:
                out.write(small)
            expect[os.fsdecode(raw)] = _expect(rows=SMALL_ROWS, files_read=1)
    # A FIFO named like an archive: never opened for reading.
    if fifo:
        os.mkfifo(folder / "fifo.warc.gz")
        expect["fifo.warc.gz"] = _expect(error="not a regular file: a FIFO")
    return expect
