"""HTTP(S) inputs: the standard library only; connection errors, 429 and 5xx gateway errors
are retried with exponential backoff and jitter (Retry-After honoured up to a cap); 403,
404 and 410 are final at once; a body cut short resumes with a ranged request (If-Range on
a strong ETag) when the server allows ranges."""
from __future__ import annotations

import email.utils
import http.client
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request

from curate.sources.redact import split_user_info
from curate.sources.resuming import ResumingReader, RetryPolicy, Transient, content_range
from curate.sources.streams import InputUnavailable, unreachable

HTTP_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_HTTP_FINAL = {403: "access denied", 404: "not found", 410: "gone"}
USER_AGENT = "curate/0.1 (python urllib)"


class HTTPReader(ResumingReader):
    def __init__(self, url: str, policy: RetryPolicy):
        # urllib takes `user:pass@` for part of the host name: it is sent as basic
        # authentication instead, to the URL without it (as curl does).
        self._url, user_info = split_user_info(url)
        self._authorization = basic_authorization(user_info) if user_info else None
        self._accept_ranges = False
        self._validator: str | None = None   # a strong ETag, sent as If-Range on resumes
        super().__init__(url, policy)

    def _open_body(self, offset: int):
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if self._validator:
                headers["If-Range"] = self._validator
        request = urllib.request.Request(self._url, headers=headers)
        if self._authorization:   # not carried to where a redirect leads (another host)
            request.add_unredirected_header("Authorization", self._authorization)
        try:
            response = urllib.request.urlopen(request, timeout=self._policy.timeout)
        except urllib.error.HTTPError as e:
            status, retry_after = e.code, retry_after_seconds(e.headers.get("Retry-After"))
            e.close()
            if status in _HTTP_FINAL:
                raise InputUnavailable(f"{_HTTP_FINAL[status]} (HTTP {status}): {self.shown}") \
                    from None
            if status in HTTP_RETRY_STATUSES:
                raise Transient(f"HTTP {status}", retry_after) from None
            raise InputUnavailable(f"HTTP {status} {e.reason}: {self.shown}") from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, ssl.SSLCertVerificationError):  # no retry will fix it
                raise InputUnavailable(f"TLS certificate rejected ({e.reason}): "
                                       f"{self.shown}") from None
            if not self._opened_once and unreachable(e.reason):
                # A host that has no address or refuses every connection before the first
                # byte: waiting minutes for it (as for throttling) only hides the cause.
                raise InputUnavailable(f"host unreachable ({type(e.reason).__name__}: "
                                       f"{e.reason}): {self.shown}") from None
            raise Transient(f"{type(e.reason).__name__}: {e.reason}") from None
        except (OSError, http.client.HTTPException) as e:
            raise Transient(f"{type(e).__name__}: {e}") from None
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
                raise InputUnavailable(f"unexpected HTTP {status}: {self.shown}")
            self._accept_ranges = headers.get("Accept-Ranges", "").strip().lower() == "bytes"
            etag = headers.get("ETag")
            self._validator = etag if etag and not etag.startswith("W/") else None
            length = headers.get("Content-Length")
            self._size = int(length) if length and length.isdigit() else None
            return
        if status == 200:
            raise InputUnavailable(
                f"body cut short at byte {offset} and the server sent the whole file again "
                f"instead of the rest (it changed, or ignores ranges): {self.shown}")
        if status != 206:
            raise InputUnavailable(f"unexpected HTTP {status} to a range request: {self.shown}")
        first, total = content_range(headers.get("Content-Range"))
        if first != offset or (self._size is not None and total not in (None, self._size)):
            raise InputUnavailable(
                f"the server answered a range request from byte {offset} with "
                f"Content-Range {headers.get('Content-Range')!r}: {self.shown}")
        if self._size is None and total is not None:
            self._size = total

    def _cut_short(self, reason: str) -> None:
        if not self._accept_ranges:
            raise InputUnavailable(f"body cut short at byte {self._pos} and the server does "
                                   f"not allow ranges ({reason}): {self.shown}")


def basic_authorization(user_info: str) -> str:
    """The Authorization header of a URL's `user:password` (percent-escapes decoded)."""
    import base64

    user, _, password = user_info.partition(":")
    pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


def retry_after_seconds(value: str | None) -> float | None:
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
