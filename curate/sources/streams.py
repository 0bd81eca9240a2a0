"""Opening an input by name, streamed: local paths, `s3://bucket/key` and `http(s)://` URLs.

`open_input` is what a Spark task calls for its one input file: it returns a buffered binary
stream whatever the source, and never holds a whole remote object in memory (the body is
read in chunks of at most `CHUNK_SIZE` bytes). A remote body that breaks off mid-stream is
resumed with a ranged request from the first byte not yet delivered, so the reader sees one
uninterrupted stream; an input that cannot be had raises `InputUnavailable` with a reason
fit for `pairs/__curate__/errors`.

Each kind of source has its module: `local` (files), `s3` (boto3; the endpoint is the one
set by `s3.set_s3_endpoint`, the extract options' s3_endpoint_url, else
`$CURATE_S3_ENDPOINT_URL`, else boto3's own lookup), `https` (the standard library), both
remote ones on `resuming.ResumingReader`; `listing` reads CommonCrawl's path listings.

`list_inputs` turns a remote name into object names on the driver (an S3 prefix is listed;
nothing is opened). The retry counts and delays are module-level defaults that `open_input`
also takes as keyword arguments.
"""
from __future__ import annotations

import io
import socket
from typing import BinaryIO

ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".wat", ".wat.gz", ".arc", ".arc.gz")
REMOTE_SCHEMES = ("s3://", "http://", "https://")

# Defaults; open_input's keyword arguments override them per call.
TRIES = 8                 # attempts at one byte position (the first request included)
BACKOFF = 0.5             # seconds; the n-th retry waits about BACKOFF * 2**(n-1), jittered
BACKOFF_CAP = 30.0        # no single wait is longer (Retry-After included)
MAX_RETRY_TIME = 600.0    # give up when waiting at one byte position would exceed this
TIMEOUT = 60.0            # socket timeout of a request and of each body read
CHUNK_SIZE = 1 << 20      # the most bytes asked of a remote body in one read


class InputUnavailable(OSError):
    """The input cannot be read: missing, forbidden, or still failing after retries."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def unreachable(error: BaseException) -> bool:
    """Whether `error` says the host cannot be reached at all: a name that does not resolve
    or a port that refuses. Final when nothing was read yet: retrying it as throttling is
    retried (minutes of backoff) only hides the cause. A temporary resolver failure
    (EAI_AGAIN, a busy DNS server on a cluster) is not one of these: it is retried."""
    if isinstance(error, ConnectionRefusedError):
        return True
    return isinstance(error, socket.gaierror) and error.errno != socket.EAI_AGAIN


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
    from curate.sources.resuming import RetryPolicy

    if not is_remote(path):
        from curate.sources.local import open_local
        return open_local(path)
    policy = RetryPolicy(
        tries=TRIES if tries is None else tries,
        backoff=BACKOFF if backoff is None else backoff,
        backoff_cap=BACKOFF_CAP if backoff_cap is None else backoff_cap,
        max_retry_time=MAX_RETRY_TIME if max_retry_time is None else max_retry_time,
        timeout=TIMEOUT if timeout is None else timeout,
        chunk_size=CHUNK_SIZE if chunk_size is None else chunk_size)
    if path[:5].lower() == "s3://":
        from curate.sources.s3 import S3Reader
        raw = S3Reader(path, policy)
    else:
        from curate.sources.https import HTTPReader
        raw = HTTPReader(path, policy)
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
    from curate.sources.s3 import list_s3, split_s3

    bucket, key = split_s3(name)
    if key and not key.endswith("/"):
        return [name]
    return list_s3(name, bucket, key)
