"""Files written by tasks, read back by Spark as the stage's schema, in the session's
codec (curate.stages.task_files)."""
from __future__ import annotations

import pytest

from curate import schemas
from curate.errors import UserError
from curate.stages import task_files
from curate.stages.task_files import TaskFiles
from task_files_helpers import FETCHED, curated_batch  # noqa: F401


def test_spark_reads_the_files_as_the_stage_schema(spark, tmp_path):
    files = TaskFiles(str(tmp_path), schemas.CURATED, max_rows_per_file=1000, codec="snappy")
    task_files.commit(str(tmp_path), [(0, files.write(iter([curated_batch(0, 40)]), 0, 0))],
                      schemas.CURATED)
    frame = spark.read.parquet(str(tmp_path))
    assert frame.schema.simpleString() == spark.createDataFrame(
        [], schemas.spark_schema(schemas.CURATED)).schema.simpleString()
    rows = sorted(frame.collect(), key=lambda row: row.text)
    assert len(rows) == 40
    assert rows[0].asDict() == {"image_uuid": f"{0:024x}", "url": "http://a.example/0.jpg",
                                "text": "text 0", "lang": "de", "matched_entry_ids": [0, 7],
                                "page_url": "http://a.example/page0", "crawl": "CC-MAIN-2014-35",
                                "fetch_time": FETCHED.replace(tzinfo=None)}


def test_the_codec_is_the_sessions(spark):
    key = "spark.sql.parquet.compression.codec"
    before = spark.conf.get(key)
    try:
        for spark_name, ours in (("zstd", "zstd"), ("SNAPPY", "snappy"), ("uncompressed", "none"),
                                 ("lz4_raw", "lz4")):
            spark.conf.set(key, spark_name)
            assert task_files.codec(spark) == ours
        spark.conf.set(key, "lzo")
        with pytest.raises(UserError, match="lzo"):
            task_files.codec(spark)
    finally:
        spark.conf.set(key, before)
