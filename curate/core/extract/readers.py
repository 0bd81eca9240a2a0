"""Reading records out of one input stream: the warcio reader (the reference, it reads
everything the extract core accepts) and what both readers share.

- `InputStream` wraps the stream `curate.sources.streams.open_input` gives: it counts the
  offset, keeps an InputUnavailable raised mid-read (and raises it again on every
  later read), and can go back to an earlier record: by seeking when the stream
  can, else from the bytes it kept since the last `mark` (at most MAX_REWIND).
- `RecordView` is what the extract core asks of a record, whichever reader read it.
- `warcio_records` iterates a file with warcio (WARC 0.17-1.1, ARC, gzip per record
  or plain). A gzip file whose records share one gzip member ("non-chunked", which
  warcio refuses) is read on as one continuous gzip stream from the member where
  sharing starts (`_GzipMembers`); its records' offsets are then the offsets of the
  gzip members they start in.
"""
from __future__ import annotations

import zlib
from typing import BinaryIO, Iterator

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import BufferedReader, ChunkedDataReader, DecompressingBufferedReader
from warcio.statusandheaders import StatusAndHeadersParser

from curate.sources.streams import InputUnavailable

_CHUNK = 64 * 1024
# A stream that cannot seek keeps the bytes since the current record so a reader
# can start over there; past this much the file can no longer be re-read there.
MAX_REWIND = 256 * 1024 * 1024
# Payload encodings decoded, whatever else is installed: warcio also decodes
# brotli when the brotli package happens to be importable, which would make the
# rows depend on the environment.
_DECOMPRESSORS = ("gzip", "deflate")
NON_CHUNKED = "non-chunked gzip"
# PageOptions.max_header_bytes when a reader is made without options.
MAX_HEADER_BYTES = 1024 * 1024


class HeaderTooLarge(Exception):
    """A record's header block (or what stands where one should start) is longer than the
    bound: a 3 GB line of a gzip bomb is refused after max_header_bytes, never read whole."""

    def __init__(self, limit: int) -> None:
        super().__init__(header_too_large(limit))


def header_too_large(limit: int) -> str:
    return (f"header too large: no end of the record's header block within {limit} bytes "
            f"(max_header_bytes)")


class CannotRewind(Exception):
    """The reader needs bytes the stream no longer has."""


class InputStream:
    """A read-only binary stream with an absolute offset, sticky failures and rewinding."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        try:
            self.seekable = bool(raw.seekable())
        except Exception:
            self.seekable = False
        self.pos = 0
        self.failure: InputUnavailable | None = None
        self.failed_at: int | None = None   # the offset no read got past
        # Non-seekable streams: the bytes [buf_start, buf_start + len(buf)) read so far,
        # kept while `buffering`.
        self.buf = bytearray()
        self.buf_start = 0
        self.buffering = not self.seekable

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while True:
                part = self.read(_CHUNK)
                if not part:
                    return b"".join(parts)
                parts.append(part)
        if size == 0:
            return b""
        if self.buffering and self.pos < self.buf_start + len(self.buf):   # replaying kept bytes
            start = self.pos - self.buf_start
            data = bytes(self.buf[start:start + size])
            self.pos += len(data)
            return data
        if self.failed_at is not None:
            # Bytes before the failure may be read again (a reader starting over at a
            # record); nothing past it.
            if self.pos >= self.failed_at or not self.seekable:
                raise self.failure
            size = min(size, self.failed_at - self.pos)
        try:
            data = self.raw.read(size)
        except InputUnavailable as e:
            self._failed(e)
        except OSError as e:   # a local read error: the input is unavailable too
            self._failed(InputUnavailable(f"read failed: {type(e).__name__}: {e}"))
        if self.buffering:
            self.buf += data
            if len(self.buf) > MAX_REWIND:
                self.buffering = False
                self.buf = bytearray()
        self.pos += len(data)
        return data

    def _failed(self, failure: InputUnavailable):
        if self.failure is None or self.pos < self.failed_at:
            self.failure, self.failed_at = failure, self.pos
        raise self.failure

    def tell(self) -> int:
        return self.pos

    def mark(self, offset: int) -> None:
        """Bytes before offset will not be asked for again."""
        if self.seekable:
            return
        if not self.buffering:   # kept bytes overflowed: keep from here on
            self.buffering, self.buf, self.buf_start = True, bytearray(), self.pos
        elif offset > self.buf_start:
            del self.buf[:offset - self.buf_start]
            self.buf_start = offset

    def rewind(self, offset: int) -> None:
        if self.seekable:
            self.raw.seek(offset)
        elif not (self.buffering and self.buf_start <= offset <= self.buf_start + len(self.buf)):
            raise CannotRewind(offset)
        self.pos = offset

    def close(self) -> None:
        self.raw.close()


class RecordView:
    """One record as the extract core sees it.

    Attributes: offset (of the record in the file), rec_type, target_uri, date,
    length (the raw Content-Length header), content_type (the record's),
    http_headers (warcio StatusAndHeaders or None). Methods: content_stream()
    (the HTTP payload, transfer and content encodings removed, or the whole block)
    drain() (reads the rest, returns how many declared bytes never came) and
    truncation_reason(missing) (the error to record for such a record).
    """

    __slots__ = ("offset", "rec_type", "target_uri", "date", "length", "content_type",
                 "http_headers", "_stream", "_drain", "_reason")

    def __init__(self, offset, rec_type, target_uri, date, length, content_type, http_headers,
                 stream, drain, reason=None):
        self.offset, self.rec_type, self.target_uri = offset, rec_type, target_uri
        self.date, self.length, self.content_type = date, length, content_type
        self.http_headers, self._stream, self._drain = http_headers, stream, drain
        self._reason = reason

    def content_stream(self):
        return content_stream(self._stream, self.http_headers)

    def drain(self) -> int:
        return self._drain()

    def truncation_reason(self, missing: int) -> str:
        if self._reason is not None:
            return self._reason(missing)
        return f"truncated record: {missing} bytes short of its length"


def content_stream(stream, http_headers):
    """warcio's ArcWarcRecord.content_stream with the decoders pinned to _DECOMPRESSORS."""
    if not http_headers:
        return stream
    encoding = http_headers.get_header("content-encoding")
    if encoding:
        encoding = encoding.lower()
        if encoding not in _DECOMPRESSORS:
            encoding = None
    if http_headers.get_header("transfer-encoding") == "chunked":
        return ChunkedDataReader(stream, decomp_type=encoding)
    if encoding:
        return BufferedReader(stream, decomp_type=encoding)
    return stream


def normalize_target_uri(uri: str | None) -> str | None:
    """What warcio does to WARC-Target-URI: `<...>` unwrapped (wget 1.19), spaces as %20."""
    if uri is not None:
        if uri.startswith("<") and uri.endswith(">"):
            uri = uri[1:-1]
        if " " in uri:
            uri = uri.replace(" ", "%20")
    return uri


# --- warcio ----------------------------------------------------------------------

class _BoundedLines(DecompressingBufferedReader):
    """warcio's reader, whose lines are bounded: the lines read one after another with no
    read() between them (the blank lines before a record, its WARC and HTTP headers) may
    hold at most `limit` bytes together; past it HeaderTooLarge. warcio reads headers
    with readline() and nothing else, so every header byte is counted and none is read
    past the bound (a readline asks for at most what is left of it)."""

    def __init__(self, stream, limit: int, **kwargs) -> None:
        super().__init__(stream, **kwargs)
        self.limit = limit
        self.lines = 0   # bytes of the current run of lines

    def readline(self, length=None):
        left = self.limit - self.lines
        if left <= 0:
            raise HeaderTooLarge(self.limit)
        line = super().readline(left if length is None or length > left else length)
        self.lines += len(line)
        if self.lines >= self.limit and not line.endswith(b"\n"):
            raise HeaderTooLarge(self.limit)
        return line

    def read(self, length=None):
        self.lines = 0
        return super().read(length)


class _CheckedIterator(ArchiveIterator):
    """An ArchiveIterator that notices a gzip stream cut between or inside record headers,
    and bounds header blocks (_BoundedLines).

    warcio ends the iteration quietly when the last gzip member stops early
    (it takes the cut for the end of the file); the member's decompressor,
    checked just before warcio drops it, tells the two apart.
    """

    gzip_cut = False

    def __init__(self, fileobj, max_header_bytes: int = MAX_HEADER_BYTES, **kwargs) -> None:
        super().__init__(fileobj, **kwargs)
        # (warcio's own reader was made on the same stream and has read nothing yet)
        self.reader = _BoundedLines(self.fh, max_header_bytes, block_size=self.reader.block_size)

    def read_to_end(self, record=None):
        # A new run of lines: the blank lines after this record and the next one's headers.
        if self.reader is not None:
            self.reader.lines = 0
        return super().read_to_end(record)

    def close(self) -> None:
        decompressor = self.reader.decompressor if self.reader is not None else None
        if decompressor is not None and not decompressor.eof:
            self.gzip_cut = True
        super().close()


class ReadFault(Exception):
    """The file cannot be read on from `offset`: a damaged or cut record or container."""

    def __init__(self, offset: int | None, reason: str) -> None:
        super().__init__(reason)
        self.offset, self.reason = offset, reason


class WarcioFile:
    """Iterates RecordViews of one file with warcio, from `start` (a record offset).

    Ends by raising ReadFault for damage, InputUnavailable when the stream fails;
    `misaligned` counts records warcio had to resynchronise after.
    """

    def __init__(self, stream: InputStream, start: int = 0,
                 max_header_bytes: int = MAX_HEADER_BYTES):
        self.stream = stream
        self.start = start
        self.max_header_bytes = max_header_bytes
        self.misaligned = 0
        self.iterator: _CheckedIterator | None = None
        # Offset of the record being read: where a failing input failed.
        self.position: int | None = start

    def __iter__(self) -> Iterator[RecordView]:
        self.stream.rewind(self.start)
        iterator = self.iterator = _CheckedIterator(self.stream, self.max_header_bytes,
                                                    arc2warc=True)
        last_offset = None
        records = iter(iterator)
        try:
            while True:
                try:
                    record = next(records)
                except StopIteration:
                    break
                except Exception as e:  # warcio could not parse the next record's headers
                    self.position = _offset(iterator)
                    if self.stream.failure is not None:
                        raise self.stream.failure from None
                    if NON_CHUNKED in str(e) and last_offset is not None:
                        yield from self._non_chunked(last_offset)
                        return
                    raise ReadFault(_offset(iterator), fault_reason(e)) from None
                offset = _offset(iterator)
                last_offset = self.position = offset
                if offset is not None:
                    self.stream.mark(offset)
                yield _warcio_view(record, offset, iterator)
            if iterator.gzip_cut:
                raise ReadFault(_offset(iterator),
                                "truncated gzip stream: the file ends inside a gzip member")
        finally:
            self.misaligned += iterator.err_count

    def _non_chunked(self, member_start: int) -> Iterator[RecordView]:
        """Records from the gzip member at member_start on, read as one gzip stream.

        The member's first record was read already (warcio reads one record per
        member before it sees that more follow), so it is not yielded again.
        """
        self.stream.rewind(member_start)
        members = _GzipMembers(self.stream, member_start)
        iterator = _CheckedIterator(members, self.max_header_bytes, arc2warc=True)
        records = iter(iterator)
        first = True
        try:
            while True:
                try:
                    record = next(records)
                except StopIteration:
                    break
                except Exception as e:
                    self.position = members.member_of(_offset(iterator))
                    if self.stream.failure is not None:
                        raise self.stream.failure from None
                    raise ReadFault(self.position, fault_reason(e)) from None
                offset = self.position = members.member_of(_offset(iterator))
                if first:
                    first = False
                    continue
                yield _warcio_view(record, offset, iterator, members)
            if members.cut:
                raise ReadFault(members.member_of(_offset(iterator)),
                                "truncated gzip stream: the file ends inside a gzip member")
            if members.error:
                raise ReadFault(members.member_of(_offset(iterator)), members.error)
        finally:
            self.misaligned += iterator.err_count


def _warcio_view(record, offset, iterator, members=None) -> RecordView:
    headers = record.rec_headers
    raw = record.raw_stream

    def drain() -> int:
        """warcio returns a short record silently when the data ends early (a cut
        file, a cut or corrupt gzip member), so this is where truncation shows."""
        while raw.read(_CHUNK):
            pass
        return getattr(raw, "limit", 0)   # raw_stream is a LimitReader when a length was given

    def reason(missing: int) -> str:
        return _truncation_reason(iterator, missing, members)

    return RecordView(offset, record.rec_type, headers.get_header("WARC-Target-URI"),
                      headers.get_header("WARC-Date"), headers.get_header("Content-Length"),
                      record.content_type, record.http_headers, raw, drain, reason)


def _truncation_reason(iterator: ArchiveIterator, missing: int, members=None) -> str:
    if members is not None:
        return f"truncated gzip stream: record {missing} bytes short of its length"
    reader = iterator.reader
    if reader is None or reader.decompressor is None:
        return f"truncated file: record {missing} bytes short of its length"
    if reader.rem_length() > 0:  # more gzip data follows: the member ended early
        return f"gzip member ends inside a record: {missing} bytes short"
    return f"truncated gzip stream: record {missing} bytes short of its length"


def fault_reason(e: Exception) -> str:
    if isinstance(e, HeaderTooLarge):
        return str(e)
    message = str(e).strip()
    first_line = message.splitlines()[0] if message else ""
    return f"corrupt record: {type(e).__name__}: {first_line}"[:300]


def _offset(iterator: ArchiveIterator) -> int | None:
    # ArchiveIterator.offset holds the start of the record just parsed (or being
    # parsed); get_record_offset() would consume the record's payload first.
    offset = getattr(iterator, "offset", None)
    return offset if isinstance(offset, int) and offset >= 0 else None


class _GzipMembers:
    """The decompressed bytes of consecutive gzip members as one plain stream.

    Remembers where each member starts in the file, so an offset in the plain
    stream maps back to the member holding it (`member_of`).
    """

    def __init__(self, stream: InputStream, start: int):
        self.stream = stream
        self.pos = 0                          # offset in the decompressed stream
        self.starts: list[tuple[int, int]] = []  # (decompressed offset, file offset) per member
        self.file_pos = start                 # file offset of the next compressed byte
        self.decompressor = None
        self.pending = b""                    # compressed bytes not yet fed
        self.cut = False
        self.error: str | None = None
        self.eof = False

    def read(self, size: int = -1) -> bytes:
        size = _CHUNK if size is None or size < 0 else size
        while not self.eof:
            if self.decompressor is None:
                if not self.pending:
                    self.pending = self.stream.read(_CHUNK)
                    if not self.pending:
                        self.eof = True
                        break
                self.decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self.starts.append((self.pos, self.file_pos))
            if not self.pending:
                self.pending = self.stream.read(_CHUNK)
                if not self.pending:
                    self.cut = not self.decompressor.eof
                    self.eof = True
                    break
            try:
                data = self.decompressor.decompress(self.pending, size)
            except zlib.error as e:
                self.error = f"corrupt gzip member: {e}"
                self.eof = True
                break
            consumed = len(self.pending) - len(self.decompressor.unconsumed_tail) \
                - len(self.decompressor.unused_data)
            self.file_pos += consumed
            if self.decompressor.eof:
                self.pending = self.decompressor.unused_data
                self.decompressor = None
            else:
                self.pending = self.decompressor.unconsumed_tail
            if data:
                self.pos += len(data)
                self.stream.mark(self.file_pos)   # never re-read from here on
                return data
        return b""

    def tell(self) -> int:
        return self.pos

    def member_of(self, offset: int | None) -> int | None:
        if offset is None or not self.starts:
            return None
        found = self.starts[0][1]
        for plain, file_offset in self.starts:
            if plain > offset:
                break
            found = file_offset
        return found

    def close(self) -> None:
        pass


# The record types whose block starts with HTTP headers (warcio's).
HTTP_RECORD_TYPES = frozenset(("response", "request", "revisit"))


def parse_http_headers(rec_type: str | None, uri: str | None, length: int | None, stream):
    """warcio's ArcWarcRecordLoader.load_http_headers (verify_http=False), on any stream
    with readline(): the HTTP headers of a record's block, or None."""
    if length == 0 or rec_type not in HTTP_RECORD_TYPES:
        return None
    if not (uri or "").startswith(("http:", "https:")):
        return None
    if rec_type == "request":
        return _HTTP_REQUEST.parse(stream)
    if rec_type == "revisit":
        try:
            return _HTTP_RESPONSE.parse(stream)
        except EOFError:
            return None
    return _HTTP_RESPONSE.parse(stream)


_HTTP_RESPONSE = StatusAndHeadersParser(["HTTP/1.0", "HTTP/1.1"], False)
_HTTP_REQUEST = StatusAndHeadersParser(
    ["GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH"], False)
