"""Source names as curate writes them: credentials and signed-URL tokens masked by one rule
(curate.sources.redact), while the reading uses the real name. HTTP is servers.DataServer
on 127.0.0.1 serving the real CommonCrawl files."""
from __future__ import annotations

import base64

import pytest

from conftest_servers import data_server  # noqa: F401 (fixture)
from curate.core.extract.records import FileReport, iter_file_pairs
from curate.errors import RunFailed, UserError
from curate.sources.redact import is_secret, redact, redact_text
from curate.sources.streams import InputUnavailable, open_input

WARC = "commoncrawl/CC-MAIN-2020-34-sample.warc.gz"


@pytest.mark.parametrize("name, shown", [
    # user information, whatever it holds
    ("https://user:pass@127.0.0.1:8080/x.warc.gz", "https://***@127.0.0.1:8080/x.warc.gz"),
    ("https://ghp_token@host/x", "https://***@host/x"),
    ("https://a:b@c@host/x?y=1", "https://***@host/x?y=1"),
    # AWS SigV4 and v2, GCS, Azure SAS: the secret values go, the rest stays as it was
    ("https://b.s3.amazonaws.com/k.warc.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256"
     "&X-Amz-Credential=AKIA%2F20240101%2Fus-east-1&X-Amz-Date=20240101T000000Z"
     "&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Security-Token=FQo"
     "&X-Amz-Signature=abc123",
     "https://b.s3.amazonaws.com/k.warc.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256"
     "&X-Amz-Credential=***&X-Amz-Date=20240101T000000Z"
     "&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Security-Token=***"
     "&X-Amz-Signature=***"),
    ("https://b.s3.amazonaws.com/k?AWSAccessKeyId=AKIA&Expires=1&Signature=s%2B",
     "https://b.s3.amazonaws.com/k?AWSAccessKeyId=***&Expires=1&Signature=***"),
    ("https://storage.googleapis.com/b/o?X-Goog-Credential=sa%40p&X-Goog-Signature=0f",
     "https://storage.googleapis.com/b/o?X-Goog-Credential=***&X-Goog-Signature=***"),
    ("https://a.blob.core.windows.net/c/b?sv=2022-11-02&se=2030&sp=r&sig=Zm9v%3D",
     "https://a.blob.core.windows.net/c/b?sv=2022-11-02&se=2030&sp=r&sig=***"),
    # generic names, in any case and spelling; a name's last word decides
    ("http://h/p?token=t&access_token=a&apiKey=k&key=v&password=p&client_secret=s&page=2",
     "http://h/p?token=***&access_token=***&apiKey=***&key=***&password=***"
     "&client_secret=***&page=2"),
    ("http://h/p?monkey=1&keyword=2&Key-Pair-Id=K&sig&=v&X%2DAmz%2DSignature=x",
     "http://h/p?monkey=1&keyword=2&Key-Pair-Id=K&sig&=v&X%2DAmz%2DSignature=***"),
    # the fragment too (OAuth's implicit grant puts tokens there)
    ("https://h/cb#access_token=abc&state=1", "https://h/cb#access_token=***&state=1"),
    # no secret: unchanged, byte for byte
    ("s3://commoncrawl/crawl-data/CC-MAIN-2024-22/x.warc.gz",
     "s3://commoncrawl/crawl-data/CC-MAIN-2024-22/x.warc.gz"),
    ("https://data.commoncrawl.org/a%20b/x.warc.gz?partNumber=1",
     "https://data.commoncrawl.org/a%20b/x.warc.gz?partNumber=1"),
    # a local path is a path, @ and ? included
    ("/data/user:pass@host/x.warc.gz?token=1", "/data/user:pass@host/x.warc.gz?token=1"),
])
def test_the_rule(name, shown):
    assert redact(name) == shown
    assert redact(shown) == shown   # idempotent: a written name is written the same again


def test_secret_parameter_names():
    secret = ["X-Amz-Signature", "x-amz-credential", "X-Amz-Security-Token", "X-Goog-Signature",
              "X-Goog-Credential", "sig", "Signature", "token", "access_token", "accessToken",
              "id_token", "key", "api_key", "apikey", "password", "passwd", "secret",
              "client_secret", "AWSAccessKeyId", "auth"]
    public = ["X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Algorithm", "se",
              "sp", "sv", "Expires", "Key-Pair-Id", "monkey", "keys", "tokens_used", "page", ""]
    assert [n for n in secret if not is_secret(n)] == []
    assert [n for n in public if is_secret(n)] == []


def test_messages_quoting_names_are_redacted():
    assert redact_text("not found (HTTP 404): https://u:p@h/x?token=abc: see 'https://h/y?"
                       "sig=1'.") == ("not found (HTTP 404): https://***@h/x?token=***: see "
                                      "'https://h/y?sig=***'.")
    assert str(UserError("https://u:p@h/x.paths: not found")) == "https://***@h/x.paths: not found"
    assert str(RunFailed("1 of 1 input files failed, first http://h/x?token=t: gone")) == \
        "1 of 1 input files failed, first http://h/x?token=***: gone"


def test_reading_uses_the_real_url_and_the_rows_name_it_redacted(data_server, data_dir):
    """user:pass@ goes to the server as basic authentication (urllib would take it for part
    of the host), the query as given; the rows and errors name the file redacted."""
    base = data_server.url.replace("http://", "http://us%40er:p%3Ass@")
    url = f"{base}/{WARC}?X-Amz-Signature=abc&X-Amz-Credential=AKIA&page=1"
    with open_input(url) as stream:
        assert stream.read() == (data_dir / WARC).read_bytes()
    seen = data_server.requests(f"/{WARC}?X-Amz-Signature=abc&X-Amz-Credential=AKIA&page=1")
    assert [s.headers["authorization"] for s in seen] == [
        "Basic " + base64.b64encode(b"us@er:p:ss").decode()]

    report = FileReport()
    rows = list(iter_file_pairs(url, report))
    shown = f"{base.replace('us%40er:p%3Ass', '***')}/{WARC}?X-Amz-Signature=***" \
            "&X-Amz-Credential=***&page=1"
    assert rows and {row[5] for row in rows} == {shown}   # source_path
    assert report.errors == []

    missing = f"{base}/absent.warc.gz?token=secret-value"
    with pytest.raises(InputUnavailable) as raised:
        open_input(missing, tries=1)
    assert raised.value.reason == (f"not found (HTTP 404): "
                                   f"{redact(missing)}")
    report = FileReport()
    assert list(iter_file_pairs(missing, report)) == []
    assert report.errors == [(None, f"not found (HTTP 404): {redact(missing)}")]
    assert "secret-value" not in repr(report.errors) and "p%3Ass" not in repr(report.errors)


def test_an_s3_endpoint_with_user_info_is_named_redacted(monkeypatch):
    """--s3-endpoint-url http://user:pass@host (S3 signs with AWS keys, so the user info
    is of no use, but a user may write it): the unreachable endpoint's message masks it.
    Port 1 of 127.0.0.1 refuses connections."""
    from curate.sources import s3

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    s3.set_s3_endpoint("http://user:s3cret@127.0.0.1:1")
    try:
        with pytest.raises(InputUnavailable) as raised:
            open_input("s3://bucket/key.warc.gz", tries=1)
    finally:
        s3.set_s3_endpoint(None)
    assert raised.value.reason == ("cannot reach S3 at http://***@127.0.0.1:1 "
                                   "(ConnectionRefusedError: [Errno 111] Connection refused)")


def test_a_refused_option_value_is_printed_redacted(capsys):
    """click quotes the value it refused: a URL given to the wrong option is masked too."""
    from curate.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["run", "-o", "work", "--limit", "https://u:pw-77@h/x.warc.gz?sig=s1g"])
    assert (exit_info.value.code, capsys.readouterr().err) == (2, (
        "curate: error: Invalid value for '--limit': 'https://***@h/x.warc.gz?sig=***' is not "
        "a valid integer range.\n"))
