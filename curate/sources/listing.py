"""CommonCrawl path listings (`warc.paths.gz`, `wat.paths.gz`) and the choice of input files.

A listing is a small text file (gzip or plain) with one object key a line, e.g.
`crawl-data/CC-MAIN-2024-22/segments/1715971057216.39/wat/CC-MAIN-…-00000.warc.wat.gz`; the
keys live under a base URL (`https://data.commoncrawl.org/` or `s3://commoncrawl/`). The
driver reads the listing (never an archive), samples it deterministically and orders the
tasks; the expanded list is written beside the stage's output.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import urllib.parse
from typing import Iterable

from curate.sources.streams import InputUnavailable, open_input

LISTING_SUFFIXES = (".paths", ".paths.gz")
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_LISTING_BYTES = 1 << 30   # a crawl's warc.paths is ~10 MB uncompressed
_READ_BYTES = 1 << 20          # a listing is read in pieces of this size


def is_listing(name: str) -> bool:
    """A name ending in `.paths` or `.paths.gz` (for a URL: its path, without the query)."""
    if "://" in name:
        name = urllib.parse.urlsplit(name).path
    return name.endswith(LISTING_SUFFIXES)


def read_listing(name: str, base_url: str) -> list[str]:
    """The listing's keys joined to `base_url`, in listing order (blank lines skipped).

    `name` is local, `s3://` or `http(s)://` (read through open_input); gzip is recognised
    by its magic bytes, whatever the name says. A line that is already a full name
    (`s3://…`, `http(s)://…`) is kept as it is. InputUnavailable when the listing cannot
    be read or is not a gzip/UTF-8 text file.
    """
    with open_input(name) as fh:
        data = _read_at_most(fh, _MAX_LISTING_BYTES + 1)
    try:
        if data[:2] == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
                data = _read_at_most(gz, _MAX_LISTING_BYTES + 1)
        if len(data) > _MAX_LISTING_BYTES:
            raise ValueError(f"larger than {_MAX_LISTING_BYTES} bytes")
        text = data.decode("utf-8")
    except (OSError, EOFError, ValueError) as e:  # BadGzipFile, truncated gzip, not UTF-8
        raise InputUnavailable(f"not a readable path listing: {type(e).__name__}: {e}") \
            from None
    return [join_key(base_url, line) for line in (raw.strip() for raw in text.splitlines())
            if line]


def _read_at_most(stream, limit: int) -> bytes:
    """The stream's bytes up to `limit` (fewer at its end), read in pieces of at most
    _READ_BYTES: `stream.read(limit)` would allocate `limit` bytes (1 GiB) up front."""
    pieces, size = [], 0
    while size < limit:
        piece = stream.read(min(_READ_BYTES, limit - size))
        if not piece:
            break
        pieces.append(piece)
        size += len(piece)
    return b"".join(pieces)


def join_key(base_url: str, key: str) -> str:
    """`base_url` and `key` with exactly one slash between them."""
    if "://" in key:
        return key
    if not base_url:
        return key
    return base_url.rstrip("/") + "/" + key.lstrip("/")


def select(paths: Iterable[str], limit: int | None = None,
           sample_fraction: float | None = None, seed: int = 0) -> list[str]:
    """The paths kept, in their given order.

    With `sample_fraction` f, a path is kept when a hash of (seed, path) maps below f: the
    decision for a path depends on nothing else (not the order, not the other paths), so the
    same seed keeps the same paths from any listing that holds them. `limit` then keeps the
    first N.
    """
    if sample_fraction is not None and not 0 < sample_fraction <= 1:
        raise ValueError(f"sample_fraction must be in (0, 1], not {sample_fraction}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, not {limit}")
    kept = list(paths)
    if sample_fraction is not None and sample_fraction < 1:
        kept = [p for p in kept if _unit(seed, "select", p) < sample_fraction]
    if limit is not None:
        kept = kept[:limit]
    return kept


def task_order(paths: Iterable[str], seed: int = 0) -> list[str]:
    """A deterministic shuffle of `paths` (sorted by a hash of (seed, path)), so files that
    sit together in a listing (often of similar size) spread over the stage."""
    return sorted(paths, key=lambda p: (_unit(seed, "order", p), p))


def listing_text(paths: Iterable[str]) -> str:
    """`paths` one per line (the form read_listing reads back); a path with a line break
    cannot be listed (ValueError)."""
    lines = []
    for p in paths:
        if "\n" in p or "\r" in p:
            raise ValueError(f"a path with a line break cannot be listed: {p!r}")
        lines.append(p + "\n")
    return "".join(lines)


def _unit(seed: int, purpose: str, path: str) -> float:
    """A number in [0, 1) fixed by (seed, purpose, path)."""
    digest = hashlib.blake2b(f"{seed}\x00{purpose}\x00{path}".encode("utf-8", "surrogatepass"),
                             digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2 ** 64
