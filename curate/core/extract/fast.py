"""An optional fastwarc-based record reader with the same output as the warcio one.

fastwarc (Rust) parses WARC containers several times faster than warcio, but it
reads no ARC, and on damaged files it fails, skips or stops differently. So
it is used only while a file looks sound, and the warcio reader (the reference,
`curate.core.extract.readers`) takes over at the first sign of anything else:

- records are handed to the extract core one record late: record k is given out
  only once record k+1 has been read and checked, so when anything goes wrong
  warcio can start over at record k, whose outcome was not yet counted;
- checks: every record must start in a gzip member of its own (the members'
  offsets strictly increase: records sharing a member are "non-chunked" gzip),
  its block must not run into the next member, must be as long as its
  Content-Length says (which must be a number), its HTTP headers must parse;
- any exception from fastwarc, and the end of the file, hand over too: warcio
  reads the last record again and decides how the file ends (complete, cut,
  trailing garbage), so the errors, offsets and counters are warcio's own.

`HandOff.offset` is where the warcio reader must start. Used by
`curate.core.extract.records` when fastwarc is importable; `iter_file_pairs(...,
reader="warcio")` forces the reference reader.
"""
from __future__ import annotations

import zlib
from typing import Callable, Iterator, TypeVar

from curate.core.extract.readers import (HTTP_RECORD_TYPES, MAX_HEADER_BYTES, HeaderTooLarge,
                                    InputStream, RecordView, normalize_target_uri,
                                    parse_http_headers)

try:
    from fastwarc.stream_io import GzipReader
    from fastwarc.warc import ArchiveIterator
except ImportError:  # the optional extra is not installed
    GzipReader = ArchiveIterator = None

AVAILABLE = ArchiveIterator is not None
_CHUNK = 64 * 1024
T = TypeVar("T")


class HandOff(Exception):
    """The warcio reader must take over at `offset` (a record start, nothing counted from there)."""

    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


class Block:
    """A fastwarc record block as a stream with readline(), counting what was read."""

    __slots__ = ("reader", "buf", "taken", "length")

    def __init__(self, reader, length: int) -> None:
        self.reader = reader
        self.buf = b""
        self.taken = 0
        self.length = length   # the declared block length: no read is made past it

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            data = self.buf + self.reader.read()
            self.buf = b""
        elif self.buf:
            data = self.buf[:size]
            self.buf = self.buf[size:]
            if len(data) < size:
                data += self._read(size - len(data))
        else:
            data = self._read(size)
        self.taken += len(data)
        return data

    def _read(self, size: int) -> bytes:
        size = min(size, self.length - self.taken - len(self.buf))
        if size <= 0:
            return b""
        data = self.reader.read(size)
        if 0 < len(data) < size:   # a short read is not the end: fill up
            parts = [data]
            size -= len(data)
            while size > 0:
                more = self.reader.read(size)
                if not more:
                    break
                parts.append(more)
                size -= len(more)
            data = b"".join(parts)
        return data

    def read_limited(self, limit: int) -> bytes | None:
        """The rest of the block, or None when it is longer than limit (nothing then read)."""
        if self.length - self.taken > limit:
            return None
        return self.read(self.length - self.taken)

    def readline(self, limit: int | None = None) -> bytes:
        buf = self.buf
        while True:
            end = buf.find(b"\n")
            if end >= 0 or (limit is not None and 0 <= limit <= len(buf)):
                break
            chunk = self.reader.read(8192)
            if not chunk:
                break
            buf += chunk
        end = len(buf) if end < 0 else end + 1
        if limit is not None and 0 <= limit < end:
            end = limit
        line, self.buf = buf[:end], buf[end:]
        self.taken += len(line)
        return line

    def missing(self) -> int:
        """Skip to the end of the block; return how many declared bytes never came."""
        return self.length - self.consume()

    def consume(self) -> int:
        """Skip to the end of the block; return the bytes taken in all."""
        self.taken += len(self.buf)
        self.buf = b""
        self.taken += self.reader.consume()
        return self.taken


def gzip_starts_with(stream, prefix: bytes) -> bool:
    """Whether the gzip stream's decompressed bytes start with prefix (at most a few
    compressed blocks are read, and len(prefix) bytes decompressed)."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = b""
    for _ in range(16):
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        try:
            data += decompressor.decompress(chunk, len(prefix) - len(data))
        except zlib.error:
            return False
        if len(data) >= len(prefix) or decompressor.eof:
            break
    return data == prefix


class _HeaderLines:
    """readline() of a Block for the HTTP header parser, at most `limit` bytes in all
    (past it HeaderTooLarge: the warcio reader then takes over and records it)."""

    __slots__ = ("block", "left", "limit")

    def __init__(self, block: "Block", limit: int) -> None:
        self.block, self.left, self.limit = block, limit, limit

    def readline(self, limit: int | None = None) -> bytes:
        if self.left <= 0:
            raise HeaderTooLarge(self.limit)
        line = self.block.readline(self.left)
        self.left -= len(line)
        if self.left <= 0 and not line.endswith(b"\n"):
            raise HeaderTooLarge(self.limit)
        return line


def fast_items(stream: InputStream, gzipped: bool, read_item: Callable[[RecordView], T],
               max_header_bytes: int = MAX_HEADER_BYTES) -> Iterator[T]:
    """read_item(view) of every record of a WARC file read by fastwarc, one record late.

    read_item runs while the record is current (it may read the payload); it
    raises to say the record is not sound. Always ends by raising HandOff.
    """
    if gzipped:
        source = GzipReader(stream)
        frame = source.frame_start_position
    else:
        source, frame = stream, None
    # inplace: one record object, refilled (nothing of a record is kept past its turn)
    records = iter(ArchiveIterator(source, parse_http=False, stream_detect=False, inplace=True))
    previous = -1   # offset of the last record read
    pending = None  # (offset, item) read but not yet given out
    while True:
        try:
            record = next(records)
        except StopIteration:
            break
        except Exception:
            # Damage (or the input failing): warcio reads it from the pending record on.
            break
        offset = frame() if frame is not None else record.stream_pos
        if offset is None or offset <= previous:
            break                                   # records sharing a gzip member
        view = _view(record, offset, frame, max_header_bytes)
        if view is None:
            break
        try:
            item = read_item(view)
        except Exception:
            break
        if frame is not None and frame() != offset:
            break                                   # the block ran into the next gzip member
        if pending is not None:
            yield pending[1]
            stream.mark(offset)
        pending, previous = (offset, item), offset
    raise HandOff(pending[0] if pending is not None else 0)


def _view(record, offset: int, frame, max_header_bytes: int) -> RecordView | None:
    """A RecordView of a fastwarc record, or None when its headers are anything but sound."""
    # Names case-insensitive, the first of a repeated name wins: warcio's get_header.
    found = {}
    for name, value in record.headers.to_tuples():   # (a loop: twice a reversed dict's speed)
        name = name.lower()
        if name not in found:
            found[name] = value
    length = found.get("content-length")
    if length is None or not length.strip().isdigit():
        return None
    rec_type = found.get("warc-type")
    uri = normalize_target_uri(found.get("warc-target-uri"))
    declared = record.content_length
    if declared != int(length):
        return None
    block = Block(record.reader, declared)
    http_headers = None
    if rec_type in HTTP_RECORD_TYPES:   # (the others have none: WAT records skip the call)
        try:
            http_headers = parse_http_headers(rec_type, uri, declared,
                                              _HeaderLines(block, max_header_bytes))
        except Exception:
            return None
    return RecordView(offset, rec_type, uri, found.get("warc-date"), length,
                      found.get("content-type"), http_headers, block, block.missing)
