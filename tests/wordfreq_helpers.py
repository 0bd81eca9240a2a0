"""Writing small wordfreq lists (cBpack: gzipped msgpack) for tests."""
from __future__ import annotations

import gzip
from pathlib import Path


def write_cbpack(path: Path, buckets: list[list[str]]) -> None:
    """A wordfreq list: msgpack [{"format": "cB", "version": 1}, bucket 0, bucket 1, ...]."""
    def s(x):
        b = x.encode()
        return bytes([0xA0 | len(b)]) + b

    def arr(items):
        n = len(items)
        return (bytes([0x90 | n]) if n < 16 else b"\xdc" + n.to_bytes(2, "big")) + b"".join(items)

    header = b"\x82" + s("format") + s("cB") + s("version") + b"\x01"
    path.write_bytes(gzip.compress(arr([header] + [arr([s(w) for w in b]) for b in buckets])))
