"""open_input / list_inputs / client_for_s3 against loopback servers.

What is real and what is scripted:
- S3 is moto's server (real HTTP, real S3 wire protocol, real boto3 client with its retry
  handler); the objects are the real CommonCrawl files of ../shared/data.
- moto neither throttles, denies nor drops connections, so tests that need those go through
  servers.S3Front, which forwards to moto but answers the first N requests for a key with
  S3's real `503 SlowDown` (or `403 AccessDenied`) error document, or cuts a GET body after K
  bytes and closes the connection. Everything after that (botocore's adaptive retries and
  backoff, the ranged resume, the checks of Content-Range and If-Match) runs for real.
- HTTP is servers.DataServer (http.server on 127.0.0.1) serving the real files with byte
  ranges; its failures (503, 429 + Retry-After, 404/403/410, bodies cut short, no range
  support) are scripted per path because no real server misbehaves on demand.
Retry waits of our own code use backoff=0.01 s; botocore's own backoff for SlowDown is real
(about 1.5 s for two throttled attempts).
"""
from __future__ import annotations

import socket
import time

import botocore
import pytest
from botocore.response import StreamingBody
from warcio.archiveiterator import ArchiveIterator

from conftest_servers import put_files
from curate.sources import https, resuming
from curate.sources import s3 as s3_source
from curate.sources.s3 import client_for_s3
from curate.sources.streams import (InputUnavailable, is_remote, list_inputs, open_input,
                                    unreachable)

FAST = {"backoff": 0.01}
WARC_GZ = "commoncrawl/CC-MAIN-2020-34-sample.warc.gz"   # 135,896 bytes, 16 responses
WARC = "commoncrawl/CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2.internal.warc"


def read_in_chunks(fh, size: int = 1000) -> bytes:
    parts = []
    while chunk := fh.read(size):
        assert len(chunk) <= size
        parts.append(chunk)
    return b"".join(parts)


def records(fh) -> list[tuple[str, str | None]]:
    return [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI"))
            for r in ArchiveIterator(fh)]


# ----------------------------------------------------------------------------- local, names

def test_local_paths_as_before(data_dir, tmp_path):
    with open_input(str(data_dir / WARC_GZ)) as fh:
        assert fh.read() == (data_dir / WARC_GZ).read_bytes()
    with pytest.raises(InputUnavailable) as e:
        open_input(str(tmp_path / "absent.warc.gz"))
    assert e.value.reason == "missing file"
    with pytest.raises(InputUnavailable) as e:
        open_input(str(tmp_path))
    assert e.value.reason == "is a directory"


def test_is_remote():
    assert is_remote("s3://commoncrawl/crawl-data/x.warc.gz")
    assert is_remote("HTTPS://data.commoncrawl.org/x")
    assert is_remote("http://127.0.0.1/x")
    assert not is_remote("/data/x.warc.gz")
    assert not is_remote("s3_local_dir/x.warc")


# -------------------------------------------------------------------------------------- S3

def test_s3_streams_every_real_file_byte_for_byte(s3):
    assert len(s3.files) >= 16
    for key, local in s3.files.items():
        with open_input(s3.url(key)) as fh:
            assert read_in_chunks(fh, 1000) == local.read_bytes(), key


def test_s3_body_is_read_incrementally_never_whole(s3, monkeypatch):
    """Every read of boto3's StreamingBody asks for at most chunk_size bytes (never
    read() of everything), and opening or reading a little pulls only one chunk."""
    reads: list[tuple[int | None, int]] = []
    original = StreamingBody.read

    def counting_read(self, amt=None):
        data = original(self, amt)
        reads.append((amt, len(data)))
        return data

    monkeypatch.setattr(StreamingBody, "read", counting_read)
    key = f"data/{WARC}"
    size = s3.files[key].stat().st_size
    with open_input(s3.url(key), chunk_size=4096) as fh:
        assert reads == []                       # opening fetched no body bytes
        head = fh.read(100)
        assert sum(n for _, n in reads) <= 4096  # one chunk, not the object
        data = head + read_in_chunks(fh, 10_000)
    assert data == s3.files[key].read_bytes()
    assert all(amt is not None and amt <= 4096 for amt, _ in reads)
    assert max(n for _, n in reads) <= 4096 < size
    assert sum(n for _, n in reads) == size
    assert len(reads) >= size // 4096


def test_s3_missing_key_and_bucket(s3):
    with pytest.raises(InputUnavailable) as e:
        open_input(s3.url("data/absent.warc.gz"))
    assert e.value.reason == "missing key: s3://curate-test/data/absent.warc.gz"
    with pytest.raises(InputUnavailable) as e:
        open_input("s3://curate-no-such-bucket/x.warc.gz")
    assert e.value.reason == "missing bucket: s3://curate-no-such-bucket"
    with pytest.raises(InputUnavailable) as e:
        open_input(s3.url("data/"))
    assert e.value.reason.startswith("an S3 prefix, not an object")


def test_s3_access_denied_is_final(s3_fronted, s3_front):
    key = f"data/{WARC_GZ}"
    s3_front.fail(f"/curate-test/{key}", 5, 403, "AccessDenied", "Access Denied")  # scripted
    with pytest.raises(InputUnavailable) as e:
        open_input(s3_fronted.url(key), **FAST)
    assert e.value.reason == f"access denied: s3://curate-test/{key}"
    assert len(s3_front.requests(f"/curate-test/{key}", "GET")) == 1   # not retried


def test_s3_slowdown_twice_then_success(s3_fronted, s3_front):
    """Scripted: the front answers the first two GETs with S3's real 503 SlowDown error.
    Real: botocore's adaptive retry mode recognises it as throttling, backs off, retries."""
    key = f"data/{WARC_GZ}"
    s3_front.slowdown(f"/curate-test/{key}", 2)
    with open_input(s3_fronted.url(key), **FAST) as fh:
        assert fh.read() == s3_fronted.files[key].read_bytes()
    assert len(s3_front.requests(f"/curate-test/{key}", "GET")) == 3


def test_s3_dropped_body_resumes_with_a_range(s3_fronted, s3_front, data_dir):
    """Scripted: the front cuts the first GET's body after 5,000 bytes (headers promise
    the whole object) and drops the connection. Real: urllib3/botocore raise, and the
    stream resumes with `Range: bytes=5000-` and If-Match on the ETag."""
    key = f"data/{WARC_GZ}"
    s3_front.cut(f"/curate-test/{key}", 5000)
    with open_input(s3_fronted.url(key), **FAST) as fh:
        assert records(fh) == records(open(data_dir / WARC_GZ, "rb"))
    gets = s3_front.requests(f"/curate-test/{key}", "GET")
    assert len(gets) == 2
    assert "range" not in gets[0].headers
    assert gets[1].headers["range"] == "bytes=5000-"
    assert gets[1].headers["if-match"].strip('"')            # the ETag of the first answer
    s3_front.cut(f"/curate-test/{key}", 5000)
    with open_input(s3_fronted.url(key), **FAST) as fh:    # and the bytes are the same
        assert fh.read(7000) == s3_fronted.files[key].read_bytes()[:7000]
        assert fh.tell() == 7000
        assert fh.read() == s3_fronted.files[key].read_bytes()[7000:]


def test_s3_body_that_keeps_failing_gives_up(s3_fronted, s3_front):
    key = f"data/{WARC_GZ}"
    s3_front.cut(f"/curate-test/{key}", 5000, 0, 0, 0, 0)
    delivered = bytearray()
    with pytest.raises(InputUnavailable) as e:
        with open_input(s3_fronted.url(key), tries=3, chunk_size=1000, **FAST) as fh:
            while chunk := fh.read(1000):
                delivered += chunk
    assert e.value.reason.startswith("connection kept failing after 3 tries at byte 5000")
    assert bytes(delivered) == s3_fronted.files[key].read_bytes()[:5000]
    assert len(s3_front.requests(f"/curate-test/{key}", "GET")) == 3


def test_s3_client_is_built_once_with_adaptive_retries(s3):
    client = client_for_s3()
    assert client_for_s3() is client
    # botocore's max_attempts counts retries: 10 retries, 11 attempts in all
    assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 11}
    assert client.meta.config.signature_version is not botocore.UNSIGNED
    assert client.meta.endpoint_url == s3.endpoint


def test_s3_endpoint_falls_back_to_aws_endpoint_url(s3, monkeypatch):
    monkeypatch.delenv(s3_source.S3_ENDPOINT_ENV)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)   # boto3's own setting
    s3_source.client_for_s3.cache_clear()
    assert client_for_s3().meta.endpoint_url == s3.endpoint
    key = f"data/{WARC_GZ}"
    with open_input(s3.url(key)) as fh:
        assert fh.read() == s3.files[key].read_bytes()


def test_s3_anonymous_without_credentials(aws_env, monkeypatch, s3_front, s3_data):
    """aws_env removed every credential variable and points the config and credentials
    files at empty files (and turns instance metadata off): boto3 finds no credentials."""
    import boto3

    assert boto3.session.Session().get_credentials() is None
    monkeypatch.setenv(s3_source.S3_ENDPOINT_ENV, s3_front.url)
    s3_front.reset()
    client = client_for_s3()
    assert client.meta.config.signature_version is botocore.UNSIGNED
    key = f"public/{WARC_GZ.split('/')[-1]}"     # ACL public-read, like s3://commoncrawl
    with open_input(f"s3://curate-test/{key}") as fh:
        assert fh.read() == s3_data[key].read_bytes()
    (get,) = s3_front.requests(f"/curate-test/{key}", "GET")
    assert "authorization" not in get.headers
    # moto refuses unsigned requests for private objects, as S3 does
    with pytest.raises(InputUnavailable) as e:
        open_input(f"s3://curate-test/data/{WARC_GZ}")
    assert e.value.reason == f"access denied: s3://curate-test/data/{WARC_GZ}"


def test_s3_signed_with_credentials(s3_fronted, s3_front):
    key = f"data/{WARC_GZ}"
    with open_input(s3_fronted.url(key)) as fh:
        fh.read(10)
    (get,) = s3_front.requests(f"/curate-test/{key}", "GET")
    assert get.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")


def test_list_inputs_lists_an_s3_prefix_by_pages(s3_fronted, s3_front, moto_s3, monkeypatch):
    put_files(moto_s3.url, "curate-test", {
        "list/a/one.warc.gz": b"x", "list/a/two.wat.gz": b"x", "list/b/three.warc": b"x",
        "list/b/four.wat": b"x", "list/c/five.arc.gz": b"x", "list/c/six.arc": b"x",
        "list/notes.txt": b"x", "list/c/seven.wet.gz": b"x", "list/c/eight.warc.gz.md5": b"x",
        "listing-elsewhere/nine.warc.gz": b"x",
    })
    monkeypatch.setattr(s3_source, "S3_PAGE_SIZE", 3)
    assert list_inputs("s3://curate-test/list/") == [
        "s3://curate-test/list/a/one.warc.gz", "s3://curate-test/list/a/two.wat.gz",
        "s3://curate-test/list/b/four.wat", "s3://curate-test/list/b/three.warc",
        "s3://curate-test/list/c/five.arc.gz", "s3://curate-test/list/c/six.arc",
    ]
    assert len(s3_front.requests("/curate-test", "GET")) == 3   # 9 keys, 3 a page
    assert list_inputs("s3://curate-test/list/nothing-here/") == []
    with pytest.raises(InputUnavailable) as e:
        list_inputs("s3://curate-no-such-bucket/")
    assert e.value.reason == "missing bucket: s3://curate-no-such-bucket"


def test_list_inputs_keeps_exact_names_without_opening_them(s3_fronted, s3_front, data_server):
    exact = ["s3://curate-test/data/absent.warc.gz", f"{data_server.url}/absent.warc.gz",
             "https://data.commoncrawl.org/crawl-data/CC-MAIN-2024-22/x.warc.gz"]
    for name in exact:
        assert list_inputs(name) == [name]
    assert s3_front.requests() == []
    assert data_server.requests("/absent.warc.gz") == []
    with pytest.raises(ValueError):
        list_inputs("/local/path")


# ------------------------------------------------------------------------------------ HTTP

def test_http_whole_file_in_small_chunks(data_server, data_dir):
    for name in (WARC_GZ, WARC):
        url = data_server.script(f"/{name}?case=plain")
        with open_input(url) as fh:
            assert read_in_chunks(fh, 777) == (data_dir / name).read_bytes()
        assert len(data_server.requests(f"/{name}?case=plain")) == 1


def test_http_503_twice_then_success(data_server, data_dir):
    path = f"/{WARC_GZ}?case=503-twice"
    url = data_server.script(path, status=503, times=2)
    with open_input(url, **FAST) as fh:
        assert fh.read() == (data_dir / WARC_GZ).read_bytes()
    assert len(data_server.requests(path)) == 3


def test_http_429_honours_retry_after(data_server, data_dir):
    path = f"/{WARC_GZ}?case=429"
    url = data_server.script(path, status=429, times=1, retry_after="0")
    start = time.monotonic()
    with open_input(url, backoff=5.0) as fh:  # Retry-After: 0 wins over a 2.5-5 s backoff
        assert fh.read() == (data_dir / WARC_GZ).read_bytes()
    assert time.monotonic() - start < 2.0
    assert len(data_server.requests(path)) == 2


def test_http_503_forever_gives_up(data_server):
    path = f"/{WARC_GZ}?case=503-forever"
    url = data_server.script(path, status=503)
    with pytest.raises(InputUnavailable) as e:
        open_input(url, tries=3, **FAST)
    assert e.value.reason.startswith("still failing after 3 tries (HTTP 503)")
    assert len(data_server.requests(path)) == 3


@pytest.mark.parametrize("status, reason", [(404, "not found"), (403, "access denied"),
                                            (410, "gone")])
def test_http_final_statuses_are_not_retried(data_server, status, reason):
    path = f"/{WARC_GZ}?case={status}"
    url = data_server.script(path, status=status)
    with pytest.raises(InputUnavailable) as e:
        open_input(url, **FAST)
    assert e.value.reason == f"{reason} (HTTP {status}): {url}"
    assert len(data_server.requests(path)) == 1


def test_http_cut_body_resumes_with_a_range(data_server, data_dir):
    path = f"/{WARC_GZ}?case=cut-ranges"
    url = data_server.script(path, cuts=(1000,))
    with open_input(url, **FAST) as fh:
        assert records(fh) == records(open(data_dir / WARC_GZ, "rb"))
    first, second = data_server.requests(path)
    assert "range" not in first.headers
    assert second.headers["range"] == "bytes=1000-"
    assert second.headers["if-range"].startswith('"')  # the strong ETag of the first answer
    url = data_server.script(path + "-bytes", cuts=(1000, 20_000))
    with open_input(url, **FAST) as fh:
        assert fh.read() == (data_dir / WARC_GZ).read_bytes()
    assert [r.headers.get("range") for r in data_server.requests(path + "-bytes")] == [
        None, "bytes=1000-", "bytes=21000-"]


def test_http_cut_body_without_range_support_is_unavailable(data_server, data_dir):
    path = f"/{WARC_GZ}?case=cut-no-ranges"
    url = data_server.script(path, cuts=(1000,), ranges=False)
    delivered = bytearray()
    with pytest.raises(InputUnavailable) as e:
        with open_input(url, **FAST) as fh:
            while chunk := fh.read(100):
                delivered += chunk
    assert e.value.reason.startswith(
        "body cut short at byte 1000 and the server does not allow ranges")
    assert bytes(delivered) == (data_dir / WARC_GZ).read_bytes()[:1000]
    assert len(data_server.requests(path)) == 1


def test_http_body_that_keeps_failing_gives_up(data_server):
    path = f"/{WARC_GZ}?case=cut-always"
    url = data_server.script(path, cuts=(1000, 0, 0, 0, 0))
    with pytest.raises(InputUnavailable) as e:
        with open_input(url, tries=3, **FAST) as fh:
            fh.read()
    assert e.value.reason.startswith("connection kept failing after 3 tries at byte 1000")
    assert len(data_server.requests(path)) == 3


def test_http_file_changed_between_requests_is_unavailable(data_server, tmp_path):
    """If-Range carries the first answer's ETag: a file that changed before the resume
    comes back whole (200), and the stream refuses to splice two versions."""
    local = tmp_path / "changing.warc"
    local.write_bytes(b"a" * 5000)
    data_server.aliases["/changing.warc"] = local
    url = data_server.script("/changing.warc", cuts=(1000,))
    with open_input(url, chunk_size=512, **FAST) as fh:
        assert fh.read(10) == b"aaaaaaaaaa"
        local.write_bytes(b"b" * 6000)   # new size -> new ETag
        with pytest.raises(InputUnavailable) as e:
            fh.read()
    assert "sent the whole file again" in e.value.reason


def test_http_connection_refused_before_any_byte_is_final_at_once():
    """A host that refuses the first connection is not waited for as throttling is (the
    default policy would wait minutes over 8 tries): final at once, the cause named."""
    with pytest.raises(InputUnavailable) as e:
        open_input(f"http://127.0.0.1:{closed_port()}/x.warc.gz")
    assert e.value.reason.startswith("host unreachable (ConnectionRefusedError")
    assert "tries" not in e.value.reason


def closed_port() -> int:
    with socket.socket() as s:             # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("endpoint, cause", [
    ("http://127.0.0.1:{port}", "ConnectionRefusedError"),
    ("http://no-such-host.invalid:9000", "gaierror"),
], ids=["refused", "no-such-name"])
def test_s3_endpoint_that_cannot_be_reached_is_final_at_once(aws_env, monkeypatch, endpoint,
                                                             cause):
    """botocore retries connection errors as it retries SlowDown (10 attempts, over a
    minute): an endpoint that refuses or does not resolve fails at once, the cause named,
    when a file is opened and when a prefix is listed."""
    endpoint = endpoint.format(port=closed_port())
    monkeypatch.setenv(s3_source.S3_ENDPOINT_ENV, endpoint)
    for attempt in (lambda: open_input("s3://bucket/a.warc.gz"),
                    lambda: list_inputs("s3://bucket/crawl/")):
        with pytest.raises(InputUnavailable) as e:
            attempt()
        assert f"cannot reach S3 at {endpoint} ({cause}" in e.value.reason
    assert endpoint not in s3_source._REACHED


def test_what_counts_as_unreachable():
    assert unreachable(ConnectionRefusedError())
    assert unreachable(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))
    assert not unreachable(socket.gaierror(socket.EAI_AGAIN, "Temporary failure"))
    assert not unreachable(TimeoutError()) and not unreachable(ConnectionResetError())


def test_retry_policy_delays():
    policy = resuming.RetryPolicy(tries=5, backoff=1.0, backoff_cap=4.0, max_retry_time=60,
                                 timeout=1, chunk_size=1)
    for failures, (low, high) in {1: (0.5, 1), 2: (1, 2), 3: (2, 4), 4: (2, 4), 9: (2, 4)}.items():
        assert all(low <= policy.delay(failures) <= high for _ in range(50))
    assert policy.delay(1, retry_after=0) == 0
    assert policy.delay(1, retry_after=3600) == 4.0      # Retry-After is capped
    assert https.retry_after_seconds("7") == 7.0
    assert https.retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0   # in the past
    assert https.retry_after_seconds("soon") is None
