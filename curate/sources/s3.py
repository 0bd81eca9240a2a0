"""S3 inputs: boto3, one client per process and endpoint, adaptive retries (SlowDown, 503
and throttling are retried by botocore with backoff), anonymous (unsigned) requests when
no credentials are configured anywhere; a body cut short resumes with a ranged request on
the same object (If-Match on its ETag); prefixes are listed page by page.

What a Spark task uses is decided on the driver (`S3Access`, carried by the task): the
endpoint, and the credentials the driver resolved from sources its user chose
(environment, profile), since an executor's environment was fixed when it started and
may hold none. Credentials of the driver's machine (instance or container role, web
identity) stay where they are: an executor has its own. Anonymous requests are never a
task's fallback when the driver had credentials."""
from __future__ import annotations

import functools
import http.client
import os
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from curate.sources.redact import redact
from curate.sources.resuming import ResumingReader, RetryPolicy, Transient, content_range
from curate.sources.streams import ARCHIVE_SUFFIXES, TIMEOUT, InputUnavailable, unreachable

S3_ENDPOINT_ENV = "CURATE_S3_ENDPOINT_URL"
S3_MAX_ATTEMPTS = 10      # botocore's attempts per S3 request (adaptive retry mode)
S3_PAGE_SIZE = 1000       # keys per list_objects_v2 page


# botocore's credential methods (Credentials.method) whose credentials the driver's user
# chose: environment variables, a profile (keys, assume-role, SSO, a credential process,
# `aws login`), keys given to a session. They are carried to the tasks. The others are the
# machine's own identity (instance role, container role, web identity, the EC2 credentials
# file): an executor on another machine has its own, and is not overridden.
CARRIED_METHODS = frozenset({"env", "explicit", "shared-credentials-file", "config-file",
                             "assume-role", "sso", "custom-process", "login", "boto-config"})


@dataclass(frozen=True, repr=False)
class S3Credentials:
    """AWS credentials, frozen: repr shows where they came from and the key id's last four
    characters only, never the secret key or token (logs, tracebacks), and nothing writes
    them to a report."""
    access_key: str
    secret_key: str
    token: str | None = None
    method: str = ""   # where the driver found them (botocore's method)

    def __repr__(self) -> str:
        return (f"S3Credentials(method={self.method!r}, access_key='...{self.access_key[-4:]}'"
                f"{', with a session token' if self.token else ''})")


@dataclass(frozen=True)
class S3Access:
    """How a task reaches S3, decided on the driver: the endpoint (None: the executor's own
    lookup) and the credentials. `credentials`: the driver's, used as they are.
    Without them, `driver_method` says why: None, the driver had none (the task uses the
    executor's own, else anonymous requests, as public data such as s3://commoncrawl/
    allows); else the method of the driver's machine credentials, which the executor must
    have its own of (no anonymous fallback)."""
    endpoint: str | None = None
    credentials: S3Credentials | None = None
    driver_method: str | None = None


class NoCredentialsHere(InputUnavailable):
    """A task found no AWS credentials of its own where the driver had some."""


def driver_credentials() -> tuple[S3Credentials | None, str | None]:
    """(the credentials boto3's chain finds here, frozen, when they come from a source of
    CARRIED_METHODS; botocore's method of what it found, None when nothing)."""
    found = _driver_chain(os.getpid())
    if found is None:
        return None, None
    method = getattr(found, "method", None) or "unknown"
    if method not in CARRIED_METHODS:
        return None, method
    frozen = found.get_frozen_credentials()   # refreshed first when about to expire
    return S3Credentials(frozen.access_key, frozen.secret_key, frozen.token or None,
                         method), method


@functools.lru_cache(maxsize=1)
def _driver_chain(_pid: int):
    """What boto3's chain finds in this process, looked up once (botocore refreshes
    temporary credentials it found when asked for them frozen; finding none may cost an
    instance metadata timeout, which each extract group would pay again)."""
    import boto3
    return boto3.session.Session().get_credentials()


def s3_access(endpoint_url: str | None = None, credentials: bool = True) -> S3Access:
    """The S3Access of tasks started now from this driver: its endpoint (the one given,
    else set_s3_endpoint's, else $CURATE_S3_ENDPOINT_URL); with `credentials`, what
    driver_credentials resolves (only when the tasks use S3: the chain's last step may
    ask an instance metadata service)."""
    endpoint = effective_s3_endpoint(endpoint_url)
    if not credentials:
        return S3Access(endpoint)
    carried, method = driver_credentials()
    return S3Access(endpoint, carried, None if carried else method)


_TASK_ACCESS: list[S3Access | None] = [None]   # use_s3_access's value in this process


def use_s3_access(access: S3Access) -> None:
    """In a task: reach S3 as the driver decided (endpoint and credentials), from now on in
    this process (a Python worker runs one task at a time)."""
    set_s3_endpoint(access.endpoint)
    _TASK_ACCESS[0] = access


def task_credentials() -> tuple[S3Credentials | None, str | None]:
    """(credentials to use, the driver's method when the process must find its own) for
    this process's S3 clients: from use_s3_access in a task; (None, None) on the driver
    (its own chain, anonymous when none)."""
    access = _TASK_ACCESS[0]
    if access is None:
        return None, None
    return access.credentials, access.driver_method


def require_own_credentials(driver_method: str | None, session=None) -> bool:
    """Whether this process's own chain (of `session`, a boto3 Session) finds credentials;
    NoCredentialsHere when it finds none and the driver had some (`driver_method`), which
    anonymous requests would only turn into "access denied" for every private object."""
    import boto3

    if (session or boto3.session.Session()).get_credentials() is not None:
        return True
    if driver_method is not None:
        raise NoCredentialsHere(
            f"no AWS credentials on {socket.gethostname()}, where the driver's came from "
            f"its {driver_method} (not carried to tasks: the executors are expected to "
            f"have their own); give the executors an instance role, or the driver "
            f"credentials from the environment or a profile")
    return False


def client_for_s3():
    """The process's boto3 S3 client (built once per process, endpoint and credentials).

    Adaptive retries with S3_MAX_ATTEMPTS attempts; the endpoint from set_s3_endpoint or
    $CURATE_S3_ENDPOINT_URL if set, else boto3's own configuration ($AWS_ENDPOINT_URL,
    config file, AWS). Credentials: in a task, those the driver carried to it (S3Access);
    else boto3's chain, and unsigned (anonymous) requests when it finds none, unless the
    driver had credentials (NoCredentialsHere).
    """
    credentials, driver_method = task_credentials()
    return _s3_client(effective_s3_endpoint(None), credentials, driver_method, os.getpid())


_S3_ENDPOINT: list[str | None] = [None]   # set_s3_endpoint's value in this process


def set_s3_endpoint(endpoint_url: str | None) -> None:
    """Use this S3-compatible endpoint (None: back to $CURATE_S3_ENDPOINT_URL, else boto3's
    own lookup) for this process's s3:// inputs (the driver's, or a task's)."""
    _S3_ENDPOINT[0] = endpoint_url or None


def use_s3_endpoint_here(endpoint_url: str) -> None:
    """This endpoint for this process and the processes it starts later (a local JVM and
    its Python workers inherit the environment variable)."""
    os.environ[S3_ENDPOINT_ENV] = endpoint_url
    set_s3_endpoint(endpoint_url)


def effective_s3_endpoint(endpoint_url: str | None) -> str | None:
    """The endpoint s3:// inputs use: the one given, else set_s3_endpoint's, else
    $CURATE_S3_ENDPOINT_URL, else None (boto3's own lookup)."""
    return endpoint_url or _S3_ENDPOINT[0] or os.environ.get(S3_ENDPOINT_ENV) or None


@functools.lru_cache(maxsize=32)
def _s3_client(endpoint_url: str | None, credentials: S3Credentials | None,
               driver_method: str | None, _pid: int):
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    options = dict(retries={"mode": "adaptive", "max_attempts": S3_MAX_ATTEMPTS},
                   connect_timeout=TIMEOUT, read_timeout=TIMEOUT)
    if credentials is not None:
        session = boto3.session.Session(aws_access_key_id=credentials.access_key,
                                        aws_secret_access_key=credentials.secret_key,
                                        aws_session_token=credentials.token)
    else:
        session = boto3.session.Session()
        if not require_own_credentials(driver_method, session):
            options["signature_version"] = UNSIGNED
    return session.client("s3", region_name=session.region_name or "us-east-1",
                          endpoint_url=endpoint_url, config=Config(**options))


def _clear_caches() -> None:
    _s3_client.cache_clear()
    _driver_chain.cache_clear()


client_for_s3.cache_clear = _clear_caches  # type: ignore[attr-defined]

_REACHED: set[str] = set()   # endpoints this process has connected to


def check_reachable(client) -> None:
    """InputUnavailable at once when the client's endpoint does not resolve or refuses
    connections. botocore retries connection errors like throttling (S3_MAX_ATTEMPTS tries,
    over a minute with no network) and its retry handler cannot tell them apart, so one TCP
    connection per process and endpoint asks first; other failures (a timeout) are left to
    botocore's retries."""
    endpoint = client.meta.endpoint_url
    if endpoint in _REACHED:
        return
    parts = urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=TIMEOUT).close()
    except OSError as e:
        if unreachable(e):
            raise InputUnavailable(f"cannot reach S3 at {redact(endpoint)} "
                                   f"({type(e).__name__}: {e})") from None
        return
    _REACHED.add(endpoint)


def split_s3(url: str) -> tuple[str, str]:
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


class S3Reader(ResumingReader):
    def __init__(self, url: str, policy: RetryPolicy):
        self._bucket, self._key = split_s3(url)
        if not self._key or self._key.endswith("/"):
            raise InputUnavailable(f"an S3 prefix, not an object: {url}")
        self._client = client_for_s3()
        check_reachable(self._client)
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
                raise Transient(f"{type(e).__name__}: {e}") from None
            raise InputUnavailable(f"cannot reach S3 ({type(e).__name__}: {e}): "
                                   f"{self.shown}") from None
        body = response["Body"]
        length = response.get("ContentLength")
        if offset == 0:
            self._etag = response.get("ETag")
            self._size = int(length) if length is not None else None
            return body
        first, total = content_range(response.get("ContentRange"))
        if first != offset:
            body.close()
            raise InputUnavailable(
                f"S3 answered a range request from byte {offset} with Content-Range "
                f"{response.get('ContentRange')!r}: {self.shown}")
        if self._size is None and total is not None:
            self._size = total
        return body


def list_s3(name: str, bucket: str, prefix: str) -> list[str]:
    from botocore.exceptions import BotoCoreError, ClientError

    found = []
    client = client_for_s3()
    check_reachable(client)
    paginator = client.get_paginator("list_objects_v2")
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
