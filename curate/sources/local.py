"""Local input files: opened as they are, a failure named for _errors.

A local name is recorded (the `source_path` of rows, `_errors`, `inputs.txt`) as the path
itself, except a path that is not UTF-8 (a file system allows any bytes: os.fsdecode
gives them as surrogate escapes, which Arrow and UTF-8 text cannot hold) or that holds a
control character (a newline would split `inputs.txt` in two). Such a path is named by a
`file://` URI of its bytes, percent-encoded (RFC 8089): `/data/a\\nb.warc` becomes
`file:///data/a%0Ab.warc`. The form is reversible (`local_path`) and opened as the file.
"""
from __future__ import annotations

import os
import re
import stat
from typing import BinaryIO
from urllib.parse import quote, unquote_to_bytes

from curate.sources.streams import InputUnavailable, is_remote

FILE_URI = "file://"
# C0 controls, DEL, and the surrogate escapes of bytes that are not UTF-8.
_NEEDS_URI = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"))


def listed_name(path: str) -> str:
    """The name a local path is read and recorded by: the path, or its file:// URI when
    the path is not UTF-8 or holds a control character. Remote names and URIs are kept."""
    if is_remote(path) or path.startswith(FILE_URI) or _NEEDS_URI.search(path) is None:
        return path
    return FILE_URI + quote(os.fsencode(os.path.abspath(path)), safe="/")


def local_path(name: str) -> str:
    """The path a listed name stands for (listed_name's inverse)."""
    if name.startswith(FILE_URI):
        return os.fsdecode(unquote_to_bytes(name[len(FILE_URI):]))
    return name


def file_kind(mode: int) -> str | None:
    """What a file that is neither regular nor a directory is (None when it is one of those)."""
    return next((kind for test, kind in _KINDS if test(mode)), None)


def open_local(path: str) -> BinaryIO:
    """The file's bytes; InputUnavailable for anything but a regular file. Opened without
    blocking, then checked: open() of a FIFO without a writer would wait forever."""
    try:
        fd = os.open(local_path(path), os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise InputUnavailable("missing file") from None
    except IsADirectoryError:
        raise InputUnavailable("is a directory") from None
    except OSError as e:
        raise InputUnavailable(f"unreadable file: {type(e).__name__}: {e.strerror or e}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise InputUnavailable("is a directory")
        raise InputUnavailable(f"not a regular file: {file_kind(mode) or 'a special file'}")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def local_size(path: str) -> int | None:
    """A local input file's size; None when it cannot be seen (reading it will say why)."""
    try:
        return os.stat(local_path(path)).st_size
    except OSError:
        return None
