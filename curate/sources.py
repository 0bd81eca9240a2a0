"""Opening an input by name, streamed: local paths for now (S3 and HTTPS extend this)."""
from __future__ import annotations

from typing import BinaryIO


class InputUnavailable(OSError):
    """The input cannot be read: missing, forbidden, or still failing after retries."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def open_input(path: str) -> BinaryIO:
    """A binary stream of the input's bytes; InputUnavailable when it cannot be had."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputUnavailable("missing file") from None
    except IsADirectoryError:
        raise InputUnavailable("is a directory") from None
    except OSError as e:
        raise InputUnavailable(f"unreadable file: {type(e).__name__}: {e.strerror or e}") from None
