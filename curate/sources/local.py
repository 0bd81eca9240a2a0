"""Local input files: opened as they are, a failure named for _errors."""
from __future__ import annotations

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
