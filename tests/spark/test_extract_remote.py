"""The extract stage on Spark reading S3 (moto on loopback) and HTTP (a local server) through
a CommonCrawl-style listing: the same rows as the local files, failures recorded, the
failed-file threshold enforced. The servers' faults are scripted (see tests/servers.py)."""
from __future__ import annotations

import gzip

import pandas as pd
import pytest

from curate import api
from curate.errors import RunFailed
from curate.core.extract.records import FileReport, iter_file_pairs
from curate.options import ExtractOptions
from curate.stages.io import ERRORS_DIR, INPUTS_FILE

KEYS = {  # listing key -> the real local file the server holds under it
    "crawl-data/CC-MAIN-2020-34/segments/1/warc/CC-MAIN-2020-34-sample.warc.gz":
        "commoncrawl/CC-MAIN-2020-34-sample.warc.gz",
    "crawl-data/CC-MAIN-2024-22/segments/2/warc/CC-MAIN-2024-22-whirlwind.warc.gz":
        "commoncrawl/CC-MAIN-2024-22-whirlwind.warc.gz",
}
MISSING = "crawl-data/CC-MAIN-2024-22/segments/3/warc/not-there.warc.gz"


def local_rows(data_dir, local: str) -> set[tuple]:
    rows = iter_file_pairs(str(data_dir / local), FileReport())
    return {(r[0], r[2], r[3]) for r in rows}   # image_uuid, text, text_source


def write_listing(tmp_path, keys) -> str:
    listing = tmp_path / "warc.paths.gz"
    listing.write_bytes(gzip.compress("".join(k + "\n" for k in keys).encode()))
    return str(listing)


def check_rows(out, data_dir, base_url):
    pairs = pd.read_parquet(out)
    for key, local in KEYS.items():
        got = pairs[pairs.source_path == base_url + key]
        assert {(u, t, s) for u, t, s in zip(got.image_uuid, got.text, got.text_source)} == \
            local_rows(data_dir, local)
        assert len(got) > 0
    return pairs


def test_listing_on_s3_anonymous_with_a_missing_key(spark, s3, moto_s3, tmp_path, data_dir,
                                                    monkeypatch):
    from conftest_servers import put_files

    # Workers read anonymously (their environment has no credentials), as CommonCrawl's
    # public bucket allows: the objects are public-read.
    put_files(moto_s3.url, s3.bucket, {k: data_dir / v for k, v in KEYS.items()}, public=True)
    base = f"s3://{s3.bucket}/"
    out = tmp_path / "pairs"
    report = api.extract([write_listing(tmp_path, [*KEYS, MISSING])], str(out),
                         ExtractOptions(input_base_url=base, max_failed_fraction=0.5), spark)
    check_rows(out, data_dir, base)
    errors = pd.read_parquet(out / ERRORS_DIR)
    assert errors.path.tolist() == [base + MISSING]
    assert errors.reason.iloc[0].startswith("missing key")
    assert report.details["files"] == 3 and report.details["files_failed"] == 1
    listed = (out / INPUTS_FILE).read_text().split()
    assert listed == [base + k for k in [*KEYS, MISSING]]


def test_too_many_failed_files_fail_the_run_but_keep_the_output(spark, s3, tmp_path):
    base = f"s3://{s3.bucket}/"
    out = tmp_path / "pairs"
    with pytest.raises(RunFailed, match="1 of 1 input files failed"):
        api.extract([write_listing(tmp_path, [MISSING])], str(out),
                    ExtractOptions(input_base_url=base), spark)
    assert pd.read_parquet(out / ERRORS_DIR).path.tolist() == [base + MISSING]


def test_listing_over_http_with_503s_and_a_cut_body(spark, data_server, tmp_path, data_dir):
    keys = list(KEYS)
    data_server.aliases.update({"/" + k: data_dir / v for k, v in KEYS.items()})
    data_server.script("/" + keys[0], status=503, times=2)        # fails twice, then serves
    data_server.script("/" + keys[1], cuts=(700,))                # first body cut at 700 bytes
    base = data_server.url + "/"
    out = tmp_path / "pairs"
    report = api.extract([write_listing(tmp_path, keys)], str(out),
                         ExtractOptions(input_base_url=base), spark)
    check_rows(out, data_dir, base)
    assert report.details["files_failed"] == 0
    assert len(data_server.requests("/" + keys[0])) == 3
    assert len(data_server.requests("/" + keys[1])) == 2   # the cut, then a ranged resume


def test_sample_fraction_and_limit_choose_the_same_files_every_time(spark, tmp_path):
    keys = [f"crawl-data/CC-MAIN-2024-22/segments/{i}/warc/f{i}.warc.gz" for i in range(200)]
    listing = write_listing(tmp_path, keys)
    from curate.sources.inputs import resolve_inputs

    chosen = [resolve_inputs([listing], ExtractOptions(input_base_url="s3://commoncrawl/",
                                                       sample_fraction=0.1, seed=7))
              for _ in range(2)]
    assert chosen[0] == chosen[1] and 5 < len(chosen[0]) < 40
    limited = resolve_inputs([listing], ExtractOptions(
        input_base_url="https://data.commoncrawl.org/", limit=3))
    assert limited == ["https://data.commoncrawl.org/" + k for k in keys[:3]]
