"""Opening an input by name, streamed: local paths, `s3://bucket/key` and `http(s)://` URLs.

`open_input` is what a Spark task calls for its one input file: it returns a buffered binary
stream whatever the source, and never holds a whole remote object in memory (the body is
read in chunks of at most `CHUNK_SIZE` bytes). A remote body that breaks off mid-stream is
resumed with a ranged request from the first byte not yet delivered, so the reader sees one
uninterrupted stream; an input that cannot be had raises `InputUnavailable` with a reason
fit for `pairs/_errors`.

- S3: boto3, one client per process (`client_for_s3`), adaptive retries (SlowDown, 503 and
  throttling are retried by botocore with backoff), anonymous (unsigned) requests when no
  credentials are configured. The endpoint is the one set by `set_s3_endpoint` (the
  extract options' s3_endpoint_url), else `$CURATE_S3_ENDPOINT_URL`, else whatever boto3
  finds itself (`$AWS_ENDPOINT_URL`, the config file, AWS).
- HTTP(S): the standard library only; connection errors, 429 and 5xx gateway errors are
  retried with exponential backoff and jitter (Retry-After honoured up to a cap); 403, 404
  and 410 are final at once.

`list_inputs` turns a remote name into object names on the driver (an S3 prefix is listed;
nothing is opened). The retry counts and delays are module-level defaults that `open_input`
also takes as keyword arguments.
"""
from __future__ import annotations

import abc
import email.utils
import functools
import http.client
import io
import os
import random
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import BinaryIO

ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".wat", ".wat.gz", ".arc", ".arc.gz")
REMOTE_SCHEMES = ("s3://", "http://", "https://")
S3_ENDPOINT_ENV = "CURATE_S3_ENDPOINT_URL"

# Defaults; open_input's keyword arguments override them per call.
TRIES = 8                 # attempts at one byte position (the first request included)
BACKOFF = 0.5             # seconds; the n-th retry waits about BACKOFF * 2**(n-1), jittered
BACKOFF_CAP = 30.0        # no single wait is longer (Retry-After included)
MAX_RETRY_TIME = 600.0    # give up when waiting at one byte position would exceed this
TIMEOUT = 60.0            # socket timeout of a request and of each body read
CHUNK_SIZE = 1 << 20      # the most bytes asked of a remote body in one read
S3_MAX_ATTEMPTS = 10      # botocore's attempts per S3 request (adaptive retry mode)
S3_PAGE_SIZE = 1000       # keys per list_objects_v2 page

HTTP_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_HTTP_FINAL = {403: "access denied", 404: "not found", 410: "gone"}
USER_AGENT = "curate/0.1 (python urllib)"


class InputUnavailable(OSError):
    """The input cannot be read: missing, forbidden, or still failing after retries."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def is_remote(name: str) -> bool:
    """An `s3://`, `http://` or `https://` name (the scheme in any case)."""
    return name[:8].lower().startswith(REMOTE_SCHEMES)


def open_input(path: str, *, tries: int | None = None, backoff: float | None = None,
               backoff_cap: float | None = None, max_retry_time: float | None = None,
               timeout: float | None = None, chunk_size: int | None = None) -> BinaryIO:
    """A binary stream of the input's bytes; InputUnavailable when it cannot be had.

    Local paths are opened as files. For `s3://` and `http(s)://` names the stream is
    buffered over a resuming reader: `tries` bounds the attempts at one byte position,
    `backoff` is the base of the exponential wait between them (see the module defaults).
    """
    if not is_remote(path):
        return _open_local(path)
    policy = RetryPolicy(
        tries=TRIES if tries is None else tries,
        backoff=BACKOFF if backoff is None else backoff,
        backoff_cap=BACKOFF_CAP if backoff_cap is None else backoff_cap,
        max_retry_time=MAX_RETRY_TIME if max_retry_time is None else max_retry_time,
        timeout=TIMEOUT if timeout is None else timeout,
        chunk_size=CHUNK_SIZE if chunk_size is None else chunk_size)
    if path[:5].lower() == "s3://":
        raw: _ResumingReader = _S3Reader(path, policy)
    else:
        raw = _HTTPReader(path, policy)
    return io.BufferedReader(raw, buffer_size=policy.chunk_size)


def list_inputs(name: str) -> list[str]:
    """Remote input names for `name`, without opening any object.

    `s3://bucket/prefix/` (or `s3://bucket`) lists the keys under the prefix that end in an
    archive suffix, in key order; an exact `s3://bucket/key` or an `http(s)://` URL is
    returned as is.
    """
    if not is_remote(name):
        raise ValueError(f"not a remote name: {name}")
    if name[:5].lower() != "s3://":
        return [name]
    bucket, key = _split_s3(name)
    if key and not key.endswith("/"):
        return [name]
    return _list_s3(name, bucket, key)


# ---------------------------------------------------------------------------- local files

def _open_local(path: str) -> BinaryIO:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputUnavailable("missing file") from None
    except IsADirectoryError:
        raise InputUnavailable("is a directory") from None
    except OSError as e:
        raise InputUnavailable(f"unreadable file: {type(e).__name__}: {e.strerror or e}") from None


# ---------------------------------------------------------------------- resuming reader

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


class _Transient(Exception):
    """A failed request worth another try (from the same byte)."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _ResumingReader(io.RawIOBase):
    """Raw stream over a remote body that reopens at the first undelivered byte when the
    body fails or ends before its declared size. Subclasses open bodies (`_open_body`) and
    name the exceptions a body read may raise (`_read_errors`)."""

    _read_errors: tuple[type[BaseException], ...] = (OSError, http.client.HTTPException)
    _body = None   # also for close() on an instance whose __init__ failed

    def __init__(self, name: str, policy: RetryPolicy):
        super().__init__()
        self.name = name
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
        or _Transient (retry)."""

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
            except _Transient as e:
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
                       f"({reason}): {self.name}")
        else:
            message = f"still failing after {n} tries ({reason}): {self.name}"
        if n >= self._policy.tries:
            raise InputUnavailable(message)
        delay = self._policy.delay(n, retry_after)
        if now - self._streak_start + delay > self._policy.max_retry_time:
            raise InputUnavailable(message)
        time.sleep(delay)


# ------------------------------------------------------------------------------------ HTTP

class _HTTPReader(_ResumingReader):
    def __init__(self, url: str, policy: RetryPolicy):
        self._accept_ranges = False
        self._validator: str | None = None   # a strong ETag, sent as If-Range on resumes
        super().__init__(url, policy)

    def _open_body(self, offset: int):
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if self._validator:
                headers["If-Range"] = self._validator
        request = urllib.request.Request(self.name, headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=self._policy.timeout)
        except urllib.error.HTTPError as e:
            status, retry_after = e.code, _retry_after(e.headers.get("Retry-After"))
            e.close()
            if status in _HTTP_FINAL:
                raise InputUnavailable(f"{_HTTP_FINAL[status]} (HTTP {status}): {self.name}") \
                    from None
            if status in HTTP_RETRY_STATUSES:
                raise _Transient(f"HTTP {status}", retry_after) from None
            raise InputUnavailable(f"HTTP {status} {e.reason}: {self.name}") from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, ssl.SSLCertVerificationError):  # no retry will fix it
                raise InputUnavailable(f"TLS certificate rejected ({e.reason}): "
                                       f"{self.name}") from None
            raise _Transient(f"{type(e.reason).__name__}: {e.reason}") from None
        except (OSError, http.client.HTTPException) as e:
            raise _Transient(f"{type(e).__name__}: {e}") from None
        try:
            self._check_response(response, offset)
        except BaseException:
            response.close()
            raise
        return response

    def _check_response(self, response, offset: int) -> None:
        status, headers = response.status, response.headers
        if offset == 0:
            if status != 200:
                raise InputUnavailable(f"unexpected HTTP {status}: {self.name}")
            self._accept_ranges = headers.get("Accept-Ranges", "").strip().lower() == "bytes"
            etag = headers.get("ETag")
            self._validator = etag if etag and not etag.startswith("W/") else None
            length = headers.get("Content-Length")
            self._size = int(length) if length and length.isdigit() else None
            return
        if status == 200:
            raise InputUnavailable(
                f"body cut short at byte {offset} and the server sent the whole file again "
                f"instead of the rest (it changed, or ignores ranges): {self.name}")
        if status != 206:
            raise InputUnavailable(f"unexpected HTTP {status} to a range request: {self.name}")
        first, total = _content_range(headers.get("Content-Range"))
        if first != offset or (self._size is not None and total not in (None, self._size)):
            raise InputUnavailable(
                f"the server answered a range request from byte {offset} with "
                f"Content-Range {headers.get('Content-Range')!r}: {self.name}")
        if self._size is None and total is not None:
            self._size = total

    def _cut_short(self, reason: str) -> None:
        if not self._accept_ranges:
            raise InputUnavailable(f"body cut short at byte {self._pos} and the server does "
                                   f"not allow ranges ({reason}): {self.name}")


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), else None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _content_range(value: str | None) -> tuple[int | None, int | None]:
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


# -------------------------------------------------------------------------------------- S3

def client_for_s3():
    """The process's boto3 S3 client (built once per process and endpoint).

    Adaptive retries with S3_MAX_ATTEMPTS attempts; unsigned (anonymous) requests when
    boto3 finds no credentials; the endpoint from $CURATE_S3_ENDPOINT_URL if set, else
    boto3's own configuration ($AWS_ENDPOINT_URL, config file, AWS).
    """
    return _s3_client(effective_s3_endpoint(None), os.getpid())


_S3_ENDPOINT: list[str | None] = [None]   # set_s3_endpoint's value in this process


def set_s3_endpoint(endpoint_url: str | None) -> None:
    """Use this S3-compatible endpoint (None: back to $CURATE_S3_ENDPOINT_URL, else boto3's
    own lookup) for this process's s3:// inputs (the driver's, or a task's)."""
    _S3_ENDPOINT[0] = endpoint_url or None


def effective_s3_endpoint(endpoint_url: str | None) -> str | None:
    """The endpoint s3:// inputs use: the one given, else set_s3_endpoint's, else
    $CURATE_S3_ENDPOINT_URL, else None (boto3's own lookup)."""
    return endpoint_url or _S3_ENDPOINT[0] or os.environ.get(S3_ENDPOINT_ENV) or None


@functools.lru_cache(maxsize=None)
def _s3_client(endpoint_url: str | None, _pid: int):
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    session = boto3.session.Session()
    options = dict(retries={"mode": "adaptive", "max_attempts": S3_MAX_ATTEMPTS},
                   connect_timeout=TIMEOUT, read_timeout=TIMEOUT)
    if session.get_credentials() is None:
        options["signature_version"] = UNSIGNED
    return session.client("s3", region_name=session.region_name or "us-east-1",
                          endpoint_url=endpoint_url, config=Config(**options))


client_for_s3.cache_clear = _s3_client.cache_clear  # type: ignore[attr-defined]


def _split_s3(url: str) -> tuple[str, str]:
    bucket, _, key = url[5:].partition("/")
    if not bucket:
        raise InputUnavailable(f"not an S3 URL (no bucket): {url}")
    return bucket, key


def _s3_error(e, url: str, bucket: str) -> InputUnavailable:
    """InputUnavailable for a botocore ClientError that survived botocore's retries."""
    error = e.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in ("NoSuchBucket",):
        return InputUnavailable(f"missing bucket: s3://{bucket}")
    if code in ("NoSuchKey", "404", "NotFound") or status == 404:
        return InputUnavailable(f"missing key: {url}")
    if code in ("AccessDenied", "403", "Forbidden", "AllAccessDisabled") or status == 403:
        return InputUnavailable(f"access denied: {url}")
    if code in ("PreconditionFailed", "412") or status == 412:
        return InputUnavailable(f"the object changed while it was read: {url}")
    message = error.get("Message") or ""
    return InputUnavailable(f"S3 error {code or status}{': ' + message if message else ''} "
                            f"(after {S3_MAX_ATTEMPTS} attempts): {url}")


def _s3_body_errors() -> tuple[type[BaseException], ...]:
    import urllib3.exceptions
    from botocore.exceptions import HTTPClientError, IncompleteReadError

    # HTTPClientError covers ResponseStreamingError (connection reset, IncompleteRead),
    # ReadTimeoutError and ConnectionClosedError; IncompleteReadError is botocore's check of
    # Content-Length at the end of the body.
    return (HTTPClientError, IncompleteReadError, urllib3.exceptions.HTTPError,
            http.client.HTTPException, OSError)


class _S3Reader(_ResumingReader):
    def __init__(self, url: str, policy: RetryPolicy):
        self._bucket, self._key = _split_s3(url)
        if not self._key or self._key.endswith("/"):
            raise InputUnavailable(f"an S3 prefix, not an object: {url}")
        self._client = client_for_s3()
        self._etag: str | None = None
        self._read_errors = _s3_body_errors()
        super().__init__(url, policy)

    def _open_body(self, offset: int):
        from botocore.exceptions import BotoCoreError, ClientError

        args = {"Bucket": self._bucket, "Key": self._key}
        if offset:
            args["Range"] = f"bytes={offset}-"
            if self._etag:
                args["IfMatch"] = self._etag  # resume only the object we started reading
        try:
            response = self._client.get_object(**args)
        except ClientError as e:
            raise _s3_error(e, self.name, self._bucket) from None
        except BotoCoreError as e:  # connection errors that outlasted botocore's retries
            if offset:
                raise _Transient(f"{type(e).__name__}: {e}") from None
            raise InputUnavailable(f"cannot reach S3 ({type(e).__name__}: {e}): "
                                   f"{self.name}") from None
        body = response["Body"]
        length = response.get("ContentLength")
        if offset == 0:
            self._etag = response.get("ETag")
            self._size = int(length) if length is not None else None
            return body
        first, total = _content_range(response.get("ContentRange"))
        if first != offset:
            body.close()
            raise InputUnavailable(
                f"S3 answered a range request from byte {offset} with Content-Range "
                f"{response.get('ContentRange')!r}: {self.name}")
        if self._size is None and total is not None:
            self._size = total
        return body


def _list_s3(name: str, bucket: str, prefix: str) -> list[str]:
    from botocore.exceptions import BotoCoreError, ClientError

    found = []
    paginator = client_for_s3().get_paginator("list_objects_v2")
    try:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix,
                                       PaginationConfig={"PageSize": S3_PAGE_SIZE}):
            for item in page.get("Contents", ()):
                if item["Key"].endswith(ARCHIVE_SUFFIXES):
                    found.append(f"s3://{bucket}/{item['Key']}")
    except ClientError as e:
        raise _s3_error(e, name, bucket) from None
    except BotoCoreError as e:
        raise InputUnavailable(f"cannot list {name}: {type(e).__name__}: {e}") from None
    return found
