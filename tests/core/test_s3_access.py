"""What the driver decides for its tasks' S3 requests (sources.s3.S3Access) and what a
process does with it: the driver's credentials from its environment or a profile are
carried, those of its machine are not, and with none at all requests are anonymous; a
process given the driver's credentials reads private objects with them, one whose driver
had machine credentials and that finds none of its own stops with one reason. In this
process, against moto on loopback (the Spark tasks: tests/spark/test_s3_credentials_spark.py)."""
from __future__ import annotations

import pickle

import botocore.credentials
import pytest

from curate.sources import s3 as s3_source
from curate.sources.s3 import S3Access, S3Credentials, s3_access, use_s3_access
from curate.sources.streams import InputUnavailable, open_input
from curate.stages import stores

KEY = "data/commoncrawl/CC-MAIN-2024-22-whirlwind.warc.gz"   # private (no public ACL)


@pytest.fixture(autouse=True)
def driver_again():
    """This process is the driver again after each test (use_s3_access is a task's)."""
    yield
    s3_source._TASK_ACCESS[0] = None
    s3_source.set_s3_endpoint(None)
    s3_source.client_for_s3.cache_clear()
    stores._s3.cache_clear()


def test_credentials_from_the_environment_are_carried(aws_env, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE1234")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "a-token")
    access = s3_access("http://127.0.0.1:9")
    assert access == S3Access("http://127.0.0.1:9",
                              S3Credentials("AKIAEXAMPLE1234", "very-secret", "a-token", "env"))
    assert pickle.loads(pickle.dumps(access)) == access   # as it travels with a task


def test_the_secret_never_shows(aws_env, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE1234")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "a-token")
    shown = repr(s3_access()) + str(s3_access())
    assert "very-secret" not in shown and "a-token" not in shown
    assert "AKIAEXAMPLE" not in shown and "...1234" in shown and "'env'" in shown


def test_credentials_from_a_profile_are_carried(aws_env, monkeypatch, tmp_path):
    credentials = tmp_path / "credentials"
    credentials.write_text("[work]\naws_access_key_id = AKIAPROFILE\n"
                           "aws_secret_access_key = from-the-profile\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_PROFILE", "work")
    assert s3_access().credentials == S3Credentials("AKIAPROFILE", "from-the-profile", None,
                                                    "shared-credentials-file")


@pytest.mark.parametrize("method", ["iam-role", "container-role",
                                    "assume-role-with-web-identity", "something-new"])
def test_credentials_of_the_machine_stay_there(aws_env, monkeypatch, method):
    found = botocore.credentials.Credentials("AKIAROLE", "role-secret", "role-token",
                                             method=method)
    monkeypatch.setattr("boto3.session.Session.get_credentials", lambda self: found)
    assert s3_access("http://e") == S3Access("http://e", None, method)


def test_no_credentials_anywhere(aws_env):
    assert s3_access("http://e") == S3Access("http://e", None, None)


def test_nothing_is_resolved_for_tasks_that_do_not_use_s3(aws_env, monkeypatch):
    def no_lookup(self):
        raise AssertionError("credentials looked up")

    monkeypatch.setattr("boto3.session.Session.get_credentials", no_lookup)
    monkeypatch.setenv(s3_source.S3_ENDPOINT_ENV, "http://from-env")
    assert s3_access(credentials=False) == S3Access("http://from-env")


def test_a_task_reads_a_private_object_with_the_carried_credentials(aws_env, moto_s3, s3_data):
    # aws_env: this process has no credentials of its own, as an executor started without
    access = S3Access(moto_s3.url, S3Credentials("testing", "testing", None, "env"))
    use_s3_access(access)
    with open_input(f"s3://curate-test/{KEY}") as fh:
        assert fh.read() == s3_data[KEY].read_bytes()
    filesystem, path = stores.filesystem(f"s3://curate-test/{KEY}")   # pyarrow's, too
    with filesystem.open_input_file(path) as fh:
        assert fh.read() == s3_data[KEY].read_bytes()


def test_without_them_the_same_task_is_refused(aws_env, moto_s3, s3_data):
    use_s3_access(S3Access(moto_s3.url))   # the driver had none: anonymous, as before
    with pytest.raises(InputUnavailable, match="access denied"):
        open_input(f"s3://curate-test/{KEY}")


def test_no_anonymous_fallback_when_the_driver_had_machine_credentials(aws_env, moto_s3,
                                                                        s3_data):
    use_s3_access(S3Access(moto_s3.url, None, "iam-role"))
    with pytest.raises(InputUnavailable) as refused:
        open_input(f"s3://curate-test/{KEY}")
    assert refused.value.reason.startswith("no AWS credentials on ")
    assert "the driver's came from its iam-role" in refused.value.reason
    with pytest.raises(InputUnavailable, match="no AWS credentials on "):
        stores.filesystem(f"s3://curate-test/{KEY}")


def test_the_executors_own_credentials_serve_when_the_driver_had_machine_ones(
        aws_env, monkeypatch, moto_s3, s3_data):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")   # the executor's own
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    use_s3_access(S3Access(moto_s3.url, None, "iam-role"))
    with open_input(f"s3://curate-test/{KEY}") as fh:
        assert fh.read() == s3_data[KEY].read_bytes()


def test_the_driver_keeps_its_own_chain(aws_env, moto_s3, s3_data, monkeypatch):
    monkeypatch.setenv(s3_source.S3_ENDPOINT_ENV, moto_s3.url)
    assert s3_source.task_credentials() == (None, None)
    with open_input(f"s3://curate-test/public/{KEY.rsplit('/', 1)[1]}") as fh:   # anonymous
        assert fh.read() == s3_data[KEY].read_bytes()
