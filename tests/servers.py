"""Loopback servers for the remote-input tests (127.0.0.1 only, ephemeral ports).

- `MotoS3`: moto's S3 in server mode (a real HTTP endpoint that boto3 talks to).
- `S3Front`: a small HTTP front between boto3 and moto. It forwards every request unchanged
  (moto does the S3 work) except for what a test scripts per object path: the first N
  requests answered with S3's real `503 SlowDown` error, or a GET whose body is cut after
  K bytes (real headers with the full Content-Length, then the connection is dropped).
  Other S3 errors (403 AccessDenied) can be scripted the same way. moto never throttles,
  denies nor drops connections by itself; this is how boto3's retries and our ranged
  resume meet real HTTP failures.
- `DataServer`: serves files (from a root directory plus explicit aliases) with byte ranges
  (206 + Content-Range, If-Range), and scripted misbehaviour per path (query included, so
  each test can use a fresh path to the same file): a status for the first N requests
  (503, 429 + Retry-After, 404, 403 ...), bodies cut after K bytes, no range support.

Both HTTP servers record every request (method, path, headers) for the tests to count.
"""
from __future__ import annotations

import email.utils
import http.client
import os
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Seen:
    """One request as a server saw it."""
    method: str
    path: str
    headers: dict[str, str]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """A client that drops a connection (as the code under test does when it abandons
        a broken body) is expected here; anything else is printed as usual."""
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _LoopbackServer:
    """A ThreadingHTTPServer on 127.0.0.1:<ephemeral> in a daemon thread, with a request log."""

    handler: type[BaseHTTPRequestHandler]

    def __init__(self):
        self._lock = threading.Lock()
        self._seen: list[Seen] = []
        self._httpd = _QuietServer((LOOPBACK, 0), self.handler)
        self._httpd.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        name=type(self).__name__)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def record(self, handler: BaseHTTPRequestHandler) -> int:
        """Log the request; its 1-based number among requests to the same path."""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        seen = Seen(handler.command, handler.path, headers)
        with self._lock:
            self._seen.append(seen)
            return sum(1 for s in self._seen if s.path == seen.path)

    def requests(self, path: str | None = None, method: str | None = None) -> list[Seen]:
        """Requests seen, to `path` (exactly; or, for a path without a query, with any
        query) and with `method`, in arrival order."""
        def matches(seen: Seen) -> bool:
            if path is None or seen.path == path:
                return True
            return "?" not in path and seen.path.split("?", 1)[0] == path

        with self._lock:
            return [s for s in self._seen
                    if matches(s) and (method is None or s.method == method)]


def _drop_connection(handler: BaseHTTPRequestHandler) -> None:
    """End the response here: the client sees the connection close mid-body."""
    handler.close_connection = True
    handler.wfile.flush()


# ------------------------------------------------------------------------------- moto S3

class MotoS3:
    """moto's ThreadedMotoServer on 127.0.0.1 with an ephemeral port."""

    def __init__(self):
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request
        self._server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"

    def close(self) -> None:
        self._server.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
               "trailer", "trailers", "transfer-encoding", "upgrade", "content-length"}

# The error document S3 sends (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html)
S3_ERROR_XML = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                '<Message>{message}</Message><Resource>{resource}</Resource>'
                '<RequestId>{rid}</RequestId><HostId>{rid}</HostId></Error>')


class _FrontHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "S3Front"

    def log_message(self, format, *args):  # quiet
        pass

    def _handle(self):
        front: S3Front = self.server.owner  # type: ignore[attr-defined]
        front.record(self)
        body = self._request_body()
        key_path = self.path.split("?", 1)[0]
        error = front._take_error(key_path, self.command)
        kind = front._take_every(self.command)
        if kind == "drop":
            _drop_connection(self)
            return
        if kind == "slowdown":
            error = (503, "SlowDown", "Please reduce your request rate.")
        if error is not None:
            status, code, message = error
            payload = S3_ERROR_XML.format(code=code, message=message, resource=key_path,
                                          rid=uuid.uuid4().hex[:16].upper()).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        status, reason, headers, payload = front._forward(self.command, self.path,
                                                          dict(self.headers.items()), body)
        cut = front._take_cut(key_path) if self.command == "GET" else None
        self.send_response(status, reason)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        if self.command == "HEAD":
            self.send_header("Content-Length", dict((k.lower(), v) for k, v in headers)
                             .get("content-length", "0"))
        else:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if cut is None:
            self.wfile.write(payload)
        else:
            self.wfile.write(payload[:cut])
            _drop_connection(self)

    def _request_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else None

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _handle


class S3Front(_LoopbackServer):
    """A forwarding front for moto with scripted S3 throttling and dropped bodies."""

    handler = _FrontHandler

    def __init__(self, upstream: str):
        self._upstream = upstream.removeprefix("http://").rstrip("/")
        self._errors: dict[str, list] = {}   # key path -> [times left, (status, code, msg)]
        self._cuts: dict[str, list[int]] = {}
        self._every: dict[str, list[tuple[int, str]]] = {}   # method -> [(n, kind)]
        self._counts: dict[str, int] = {}
        self.misbehaved: dict[str, int] = {}           # "METHOD kind" -> times done
        super().__init__()

    def every(self, n: int, method: str, kind: str) -> None:
        """Misbehave on every n-th request of `method` (of any key): "slowdown" answers 503
        SlowDown; "drop" reads the request, then closes the connection unanswered (an
        upload cut mid-way, as far as the client can tell)."""
        with self._lock:
            self._every.setdefault(method, []).append((n, kind))

    def _take_every(self, method: str) -> str | None:
        with self._lock:
            if method not in self._every:
                return None
            self._counts[method] = self._counts.get(method, 0) + 1
            kind = next((kind for n, kind in self._every[method]
                         if self._counts[method] % n == 0), None)
            if kind is None:
                return None
            key = f"{method} {kind}"
            self.misbehaved[key] = self.misbehaved.get(key, 0) + 1
            return kind

    def slowdown(self, key_path: str, times: int, method: str | None = None) -> None:
        """Answer the next `times` requests for `/bucket/key` (of `method` only, when
        given) with 503 SlowDown."""
        self.fail(key_path, times, 503, "SlowDown", "Please reduce your request rate.", method)

    def fail(self, key_path: str, times: int, status: int, code: str, message: str,
             method: str | None = None) -> None:
        """Answer the next `times` requests for `/bucket/key` (of `method` only, when
        given) with this S3 error."""
        with self._lock:
            self._errors[key_path] = [times, (status, code, message), method]

    def cut(self, key_path: str, *afters: int) -> None:
        """Cut the body of the i-th next GET of `/bucket/key` after afters[i] bytes."""
        with self._lock:
            self._cuts[key_path] = list(afters)

    def reset(self) -> None:
        with self._lock:
            self._errors.clear()
            self._cuts.clear()
            self._seen.clear()
            self._every.clear()
            self._counts.clear()
            self.misbehaved.clear()

    def _take_error(self, key_path: str, method: str) -> tuple[int, str, str] | None:
        with self._lock:
            entry = self._errors.get(key_path)
            if not entry or entry[0] <= 0 or entry[2] not in (None, method):
                return None
            entry[0] -= 1
            return entry[1]

    def _take_cut(self, key_path: str) -> int | None:
        with self._lock:
            afters = self._cuts.get(key_path)
            return afters.pop(0) if afters else None

    def _forward(self, method, path, headers, body):
        conn = http.client.HTTPConnection(self._upstream, timeout=30)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
            if body is not None:
                sent["Content-Length"] = str(len(body))
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            payload = response.read()
            return response.status, response.reason, response.getheaders(), payload
        finally:
            conn.close()


# --------------------------------------------------------------------------- file server

@dataclass
class Script:
    """Misbehaviour of DataServer for one path (query included)."""
    status: int | None = None        # answer this status instead of the file ...
    times: int | None = None         # ... for the first `times` requests (None: every one)
    retry_after: str | None = None   # Retry-After header sent with `status`
    cuts: tuple[int, ...] = ()       # the i-th request's body is cut after cuts[i] bytes
    ranges: bool = True              # Accept-Ranges: bytes, and Range honoured


class _DataHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "DataServer"

    def log_message(self, format, *args):  # quiet
        pass

    def do_GET(self):
        self._serve()

    def do_HEAD(self):
        self._serve()

    def _serve(self):
        server: DataServer = self.server.owner  # type: ignore[attr-defined]
        n = server.record(self)
        script = server.scripts.get(self.path, Script())
        if script.status is not None and (script.times is None or n <= script.times):
            extra = {"Retry-After": script.retry_after} if script.retry_after is not None else {}
            return self._send(script.status, f"scripted {script.status}\n".encode(), extra)
        file = server.resolve(self.path.split("?", 1)[0])
        if file is None:
            return self._send(404, b"not found\n")
        data = file.read_bytes()
        stat = file.stat()
        etag = f'"{stat.st_mtime_ns:x}-{len(data):x}"'
        headers = {"ETag": etag, "Content-Type": "application/octet-stream",
                   "Last-Modified": email.utils.formatdate(stat.st_mtime, usegmt=True)}
        if script.ranges:
            headers["Accept-Ranges"] = "bytes"
        status, body = 200, data
        wanted = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if script.ranges and wanted and (if_range is None or if_range == etag):
            span = _parse_range(wanted, len(data))
            if span is None:
                headers["Content-Range"] = f"bytes */{len(data)}"
                return self._send(416, b"", headers)
            first, last = span
            status, body = 206, data[first:last + 1]
            headers["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
        cut = script.cuts[n - 1] if n - 1 < len(script.cuts) else None
        self._send(status, body, headers, cut)

    def _send(self, status, body, headers=None, cut=None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if cut is None:
            self.wfile.write(body)
        else:
            self.wfile.write(body[:cut])
            _drop_connection(self)


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    """(first, last) of a single `bytes=N-` / `bytes=N-M` range; None if unsatisfiable."""
    unit, _, spec = value.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    if not first:   # suffix range
        n = int(last)
        return (max(0, size - n), size - 1) if n else None
    first_i = int(first)
    last_i = min(int(last), size - 1) if last else size - 1
    return (first_i, last_i) if first_i < size and first_i <= last_i else None


class DataServer(_LoopbackServer):
    """Files under `root` (read-only) and `aliases` (URL path -> file), with scripts."""

    handler = _DataHandler

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        self.aliases: dict[str, Path] = {}
        self.scripts: dict[str, Script] = {}
        super().__init__()

    def resolve(self, url_path: str) -> Path | None:
        from urllib.parse import unquote

        if url_path in self.aliases:
            return self.aliases[url_path]
        if unquote(url_path) in self.aliases:   # as a web server decodes a path
            return self.aliases[unquote(url_path)]
        candidate = (self.root / unquote(url_path).lstrip("/")).resolve()
        if self.root not in candidate.parents or not candidate.is_file():
            return None
        return candidate

    def script(self, path: str, **behaviour) -> str:
        """Script `path` (e.g. '/commoncrawl/x.warc.gz?case=cut'); returns its full URL."""
        self.scripts[path] = Script(**behaviour)
        return self.url + path
