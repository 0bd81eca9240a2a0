"""Opening a source file of the metadata builder: local, `s3://` or `http(s)://`, and
decompressed by its first bytes (gzip, bzip2 including multi-stream dumps, or plain).

Names of many files (directories, globs) are expanded on the driver by :func:`expand_paths`;
each file is then opened by the one task (or the pure loop) that reads it.
"""
from __future__ import annotations

import bz2
import glob
import gzip
import io
import os
from typing import BinaryIO

from curate.errors import UserError

__all__ = ["open_decompressed", "expand_paths"]

_GZIP = b"\x1f\x8b"
_BZIP2 = b"BZh"


def open_decompressed(path: str) -> BinaryIO:
    """A buffered binary stream of the file's (decompressed) bytes."""
    from curate.sources.streams import open_input

    raw = open_input(path)
    buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw)
    head = buffered.peek(3)[:3]
    if head.startswith(_GZIP):
        return _Decompressed(gzip.GzipFile(fileobj=buffered, mode="rb"), buffered)
    if head.startswith(_BZIP2):
        return _Decompressed(bz2.BZ2File(buffered, mode="rb"), buffered)
    return buffered


class _Decompressed(io.BufferedReader):
    """A decompressing reader that also closes the file under it (GzipFile and BZ2File
    leave a file object they were given open)."""

    def __init__(self, decompressor, underlying):
        super().__init__(decompressor)
        self._underlying = underlying

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._underlying.close()


def expand_paths(names, option: str) -> list[str]:
    """Files named by `names`: local files, directories (every file below, except names
    starting with "." or "_"), globs, and `s3://` / `http(s)://` URLs of single files (taken
    as given). In order, each once. A name that gives no file is a UserError."""
    from curate.sources.streams import is_remote

    found: dict[str, None] = {}
    for name in names:
        name = os.fspath(name)
        if is_remote(name):
            paths = [name]
        else:
            paths = _expand_local(name)
        if not paths:
            raise UserError(f"{option} {name}: no such file, directory or matching file")
        found.update(dict.fromkeys(paths))
    return list(found)


def _expand_local(name: str) -> list[str]:
    if glob.has_magic(name):
        return sorted({p for match in sorted(glob.glob(name, recursive=True))
                       for p in _expand_local(match)})
    if os.path.isdir(name):
        found = []
        for root, dirs, files in os.walk(name):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
            found += [os.path.abspath(os.path.join(root, f)) for f in files
                      if not f.startswith((".", "_"))]
        return sorted(found)
    if os.path.isfile(name):
        return [os.path.abspath(name)]
    return []
