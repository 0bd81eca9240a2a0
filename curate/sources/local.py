"""Local input files: opened as they are, a failure named for _errors."""
from __future__ import annotations

import os
from typing import BinaryIO

from curate.sources.streams import InputUnavailable


def open_local(path: str) -> BinaryIO:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputUnavailable("missing file") from None
    except IsADirectoryError:
        raise InputUnavailable("is a directory") from None
    except OSError as e:
        raise InputUnavailable(f"unreadable file: {type(e).__name__}: {e.strerror or e}") from None


def local_size(path: str) -> int | None:
    """A local input file's size; None when it cannot be seen (reading it will say why)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return None
