"""Where a URI's bytes live: the one mapping from what users write (a plain path,
`file://`, `s3://`, `s3a://`, `gs://`, `abfs://`, `abfss://`, `hdfs://`) to the pyarrow
filesystem that the code's own files go through (reports, summaries, side files, files
written by tasks, footers), and to the URI Spark is given for its own reads and writes.

- A plain path is a path on the driver's file system, for the code and for Spark alike:
  Spark gets it as `file:///abs/path`, so a cluster whose `fs.defaultFS` is HDFS or GCS
  cannot send Spark's Parquet elsewhere than the code's files. A scheme is never stripped.
- `s3://` and `s3a://` name the same object (`canonical`): pyarrow's S3 filesystem for the
  code, with credentials from the standard AWS chain (in a task: those the driver
  carried to it, see sources.s3.S3Access) and the endpoint of
  `--s3-endpoint-url` / $CURATE_S3_ENDPOINT_URL; Spark reads `s3a://` with Hadoop's S3A
  connector and `s3://` with whatever the cluster maps it to (EMR's own, else S3A).
- `gs://`, `abfs(s)://` and `hdfs://` go through pyarrow's GCS, Azure and HDFS
  filesystems (credentials from their standard chains; HDFS needs libhdfs, as on a Hadoop
  node). No such store can run on the machines the tests run on: only S3 (a real
  S3-compatible server on loopback) and local disks are tested.
"""
from __future__ import annotations

import functools
import os
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from curate.errors import UserError
from curate.sources.s3 import (S3Credentials, effective_s3_endpoint, require_own_credentials,
                               task_credentials)

S3_SCHEMES = ("s3", "s3a", "s3n")
OTHER_SCHEMES = ("gs", "gcs", "abfs", "abfss", "hdfs")
# Stores with directories of their own (not key prefixes), which rename atomically: outputs
# are staged beside the target and moved in. Elsewhere (object stores, which have only
# keys) an output is complete when its report is.
RENAMING_SCHEMES = ("", "file", "hdfs")

_LOCAL = pafs.LocalFileSystem()


def scheme_of(uri: str) -> str:
    """"" for a plain path, else the URI's scheme in lower case."""
    head, sep, _rest = uri.partition("://")
    return head.lower() if sep and head.isascii() and head.replace("+", "").isalnum() else ""


def absolute(uri: str) -> str:
    """`uri` with a plain path made absolute (on the driver), no trailing slash."""
    if scheme_of(uri) == "":
        return os.path.abspath(uri)
    return uri if uri.endswith("://") else uri.rstrip("/")


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem holding `uri` and the path of `uri` in it."""
    scheme = scheme_of(uri)
    if scheme == "":
        return _LOCAL, os.path.abspath(uri)
    parts = urlsplit(uri)
    if scheme == "file":
        return _LOCAL, os.path.abspath(parts.path)
    if scheme in S3_SCHEMES:
        credentials, driver_method = task_credentials()
        return (_s3(effective_s3_endpoint(None), credentials, driver_method, os.getpid()),
                _bucket_path(parts))
    if scheme in ("gs", "gcs"):
        return _other(scheme, ""), _bucket_path(parts)
    if scheme in ("abfs", "abfss"):
        container = parts.netloc.split("@", 1)[0]
        return _other(scheme, parts.netloc), f"{container}{parts.path}".rstrip("/")
    if scheme == "hdfs":
        return _other(scheme, parts.netloc), parts.path.rstrip("/") or "/"
    raise UserError(f"{uri}: curate reads and writes plain paths and file://, s3://, "
                    f"s3a://, gs://, abfs://, abfss:// or hdfs:// URIs, not {scheme}://")


def _bucket_path(parts) -> str:
    if not parts.netloc:
        raise UserError(f"{parts.geturl()}: no bucket in the URI")
    return f"{parts.netloc}{parts.path}".rstrip("/")


@functools.lru_cache(maxsize=32)
def _s3(endpoint: str | None, credentials: S3Credentials | None, driver_method: str | None,
        _pid: int) -> pafs.S3FileSystem:
    """One S3 filesystem per process, endpoint and credentials: in a task, the credentials
    the driver carried to it (sources.s3.S3Access), else those of the AWS SDK's standard
    chain (in a task whose driver had credentials of its machine, the chain must find
    some); the region from the environment; the SDK's standard retries (SlowDown, 503,
    cut connections)."""
    options = {}
    if credentials is not None:
        options.update(access_key=credentials.access_key, secret_key=credentials.secret_key,
                       session_token=credentials.token)
    elif driver_method is not None:
        require_own_credentials(driver_method)
    if endpoint:
        parts = urlsplit(endpoint)
        options.update(endpoint_override=parts.netloc + parts.path.rstrip("/"),
                       scheme=parts.scheme or "https")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        options["region"] = region
    return pafs.S3FileSystem(retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=10),
                             **options)


@functools.lru_cache(maxsize=None)
def _other(scheme: str, authority: str) -> pafs.FileSystem:
    return pafs.FileSystem.from_uri(f"{scheme}://{authority}/")[0]


def spark_uri(uri: str) -> str:
    """What Spark is given for `uri`: a plain path as file:///abs/path, else `uri` as is."""
    if scheme_of(uri) == "":
        return "file://" + os.path.abspath(uri)
    return uri


def canonical(uri: str) -> str:
    """One spelling per place, to compare two URIs: a local path with its links resolved,
    `s3a://b/k` as `s3://b/k`."""
    scheme = scheme_of(uri)
    if scheme in ("", "file"):
        return os.path.realpath(filesystem(uri)[1])
    if scheme in S3_SCHEMES:
        return "s3://" + uri.split("://", 1)[1].rstrip("/")
    return uri.rstrip("/")


def is_local(uri: str) -> bool:
    return scheme_of(uri) in ("", "file")


def renames_atomically(uri: str) -> bool:
    """Whether `uri`'s store has directories of its own that rename atomically (local
    disks, HDFS), not key prefixes (object stores)."""
    return scheme_of(uri) in RENAMING_SCHEMES
