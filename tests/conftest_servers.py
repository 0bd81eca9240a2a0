"""Pytest fixtures for the loopback servers of tests/servers.py.

Not a conftest.py (pytest does not load it by itself): test modules import the fixtures
they use, e.g. `from conftest_servers import data_server, s3  # noqa: F401`. Servers are
module-scoped; the AWS environment is per test (monkeypatch), so no test sees the machine's
AWS configuration, instance metadata or proxies, and every client talks to 127.0.0.1 only.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from curate.sources import s3 as s3_source
from servers import DataServer, MotoS3, S3Front

BUCKET = "curate-test"
REGION = "us-east-1"

_AWS_VARS = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
    "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS", s3_source.S3_ENDPOINT_ENV,
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
)


def direct_client(endpoint: str):
    """A plain boto3 client for test setup (uploads), with dummy credentials."""
    import boto3

    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION,
    ).client("s3", endpoint_url=endpoint)


def put_files(endpoint: str, bucket: str, files: dict[str, Path | bytes],
              public: bool = False) -> None:
    """Create `bucket` (if needed) and put each key's file (or bytes); `public` objects
    are readable without credentials (ACL public-read, as CommonCrawl's bucket)."""
    client = direct_client(endpoint)
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)
    extra = {"ACL": "public-read"} if public else {}
    for key, content in files.items():
        body = content if isinstance(content, bytes) else Path(content).read_bytes()
        client.put_object(Bucket=bucket, Key=key, Body=body, **extra)


@pytest.fixture(scope="module")
def moto_s3():
    """moto's S3 server on 127.0.0.1:<ephemeral>; .url is its endpoint."""
    with MotoS3() as server:
        yield server


@pytest.fixture(scope="module")
def s3_front(moto_s3):
    """The scripted front (SlowDown, dropped bodies) forwarding to moto_s3."""
    with S3Front(moto_s3.url) as front:
        yield front


@pytest.fixture(scope="module")
def data_server(data_dir):
    """Files of ../shared/data over HTTP on 127.0.0.1, with ranges and scripts."""
    with DataServer(data_dir) as server:
        yield server


@pytest.fixture(scope="module")
def s3_data(moto_s3, data_dir) -> dict[str, Path]:
    """Every real CommonCrawl file of ../shared/data/commoncrawl in moto, as
    s3://curate-test/data/commoncrawl/NAME (private) and s3://curate-test/public/NAME
    (public-read); returns key -> local file."""
    files = {f"data/commoncrawl/{p.name}": p
             for p in sorted((data_dir / "commoncrawl").iterdir()) if p.is_file()}
    put_files(moto_s3.url, BUCKET, files)
    put_files(moto_s3.url, BUCKET, {f"public/{p.name}": p for p in files.values()}, public=True)
    files.update({f"public/{p.name}": p for p in list(files.values())})
    return files


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """No AWS settings from the machine: empty config and credentials files, no instance
    metadata lookups, no proxies; curate's S3 client cache cleared before and after."""
    for var in _AWS_VARS:
        monkeypatch.delenv(var, raising=False)
    config, credentials = tmp_path / "aws-config", tmp_path / "aws-credentials"
    config.write_text("")
    credentials.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    s3_source.client_for_s3.cache_clear()
    yield
    s3_source.client_for_s3.cache_clear()


@dataclass
class S3:
    endpoint: str          # what CURATE_S3_ENDPOINT_URL points at
    bucket: str
    files: dict[str, Path]  # key -> the local file it holds

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


@pytest.fixture
def s3(aws_env, monkeypatch, moto_s3, s3_data) -> S3:
    """curate's S3 client pointed straight at moto, with dummy credentials."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv(s3_source.S3_ENDPOINT_ENV, moto_s3.url)
    return S3(moto_s3.url, BUCKET, s3_data)


@pytest.fixture
def s3_fronted(s3, monkeypatch, s3_front) -> S3:
    """Like `s3`, but through the scripted front (reset for each test)."""
    s3_front.reset()
    monkeypatch.setenv(s3_source.S3_ENDPOINT_ENV, s3_front.url)
    s3_source.client_for_s3.cache_clear()
    return S3(s3_front.url, s3.bucket, s3.files)
