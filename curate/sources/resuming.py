"""A raw stream over a remote body that resumes where it broke: the retry policy and the
reader that the HTTP(S) and S3 sources (curate.sources.https, curate.sources.s3) build on."""
from __future__ import annotations

import abc
import http.client
import io
import random
import time
from dataclasses import dataclass

from curate.sources.redact import redact
from curate.sources.streams import InputUnavailable


@dataclass(frozen=True)
class RetryPolicy:
    tries: int
    backoff: float
    backoff_cap: float
    max_retry_time: float
    timeout: float
    chunk_size: int

    def __post_init__(self):
        if self.tries < 1 or self.chunk_size < 1:
            raise ValueError("tries and chunk_size must be at least 1")

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """The wait before attempt `failures + 1`: Retry-After (capped) when the server
        gave one, else exponential in `failures` with jitter (half fixed, half random)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.backoff_cap)
        step = min(self.backoff_cap, self.backoff * 2 ** (failures - 1))
        return step / 2 + random.uniform(0, step / 2)


class Transient(Exception):
    """A failed request worth another try (from the same byte)."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class ResumingReader(io.RawIOBase):
    """Raw stream over a remote body that reopens at the first undelivered byte when the
    body fails or ends before its declared size. Subclasses open bodies (`_open_body`) and
    name the exceptions a body read may raise (`_read_errors`)."""

    _read_errors: tuple[type[BaseException], ...] = (OSError, http.client.HTTPException)
    _body = None   # also for close() on an instance whose __init__ failed

    def __init__(self, name: str, policy: RetryPolicy):
        super().__init__()
        self.name = name               # what is read
        self.shown = redact(name)      # what messages say (no credentials)
        self._policy = policy
        self._pos = 0                  # bytes delivered
        self._size: int | None = None  # the whole object's size, when the server said it
        self._body = None
        self._opened_once = False
        self._fail_pos = -1            # the byte position of the current failure streak
        self._failures = 0
        self._streak_start = 0.0
        self._ensure_body()            # fail at open time for missing/forbidden inputs

    # -- subclass interface
    @abc.abstractmethod
    def _open_body(self, offset: int):
        """A body positioned at `offset`; sets self._size. Raises InputUnavailable (final)
        or Transient (retry)."""

    def _cut_short(self, reason: str) -> None:
        """Called when the body broke before its end; raise if it cannot be resumed."""

    # -- io.RawIOBase
    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        """Bytes delivered so far (the stream is not seekable)."""
        return self._pos

    def readinto(self, b) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        want = min(len(b), self._policy.chunk_size)
        if want == 0:
            return 0
        while True:
            if self._size is not None and self._pos >= self._size:
                self._drop_body()
                return 0
            self._ensure_body()
            try:
                data = self._body.read(want)
            except self._read_errors as e:
                self._drop_body()
                self._cut_short(f"{type(e).__name__}: {e}")
                self._failed(f"{type(e).__name__}: {e}")
                continue
            if data:
                n = len(data)
                b[:n] = data
                self._pos += n
                return n
            if self._size is None:
                self._drop_body()
                return 0
            self._drop_body()
            reason = f"the body ended before byte {self._size}"
            self._cut_short(reason)
            self._failed(reason)

    def close(self) -> None:
        if not self.closed:
            self._drop_body()
        super().close()

    # -- internals
    def _ensure_body(self) -> None:
        while self._body is None:
            try:
                self._body = self._open_body(self._pos)
                self._opened_once = True
            except Transient as e:
                self._failed(e.reason, e.retry_after)

    def _drop_body(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            try:
                body.close()
            except Exception:  # closing a broken connection may fail again; nothing to save
                pass

    def _failed(self, reason: str, retry_after: float | None = None) -> None:
        """Count a failure at the current byte; wait before the next try or give up."""
        now = time.monotonic()
        if self._pos != self._fail_pos:
            self._fail_pos, self._failures, self._streak_start = self._pos, 0, now
        self._failures += 1
        n = self._failures
        if self._opened_once:
            message = (f"connection kept failing after {n} tries at byte {self._pos} "
                       f"({reason}): {self.shown}")
        else:
            message = f"still failing after {n} tries ({reason}): {self.shown}"
        if n >= self._policy.tries:
            raise InputUnavailable(message)
        delay = self._policy.delay(n, retry_after)
        if now - self._streak_start + delay > self._policy.max_retry_time:
            raise InputUnavailable(message)
        time.sleep(delay)


def content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size or None) of `bytes FIRST-LAST/TOTAL`; (None, None) if bad."""
    if not value or not value.strip().lower().startswith("bytes "):
        return None, None
    spec = value.strip()[6:]
    span, _, total = spec.partition("/")
    first, _, _last = span.partition("-")
    try:
        return int(first), (int(total) if total.strip() != "*" else None)
    except ValueError:
        return None, None
