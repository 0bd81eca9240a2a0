"""bench/scale.py at a tiny size (20,000 and 40,000 rows), in a process of its own (it starts
a SparkSession per size, in children): its figures and its pool are checked, never its
timings."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from curate import schemas
from curate.core.extract.text import image_uuid
from curate.stages.dedup import HEX_RANGES

ROOT = Path(__file__).resolve().parents[2]
SIZES = (20_000, 40_000)
# The warm-up runs every step on its own pool first (its code is exercised; a tiny pool:
# only the timings, which nothing here checks, would need a larger one).
WARMUP_ROWS = 1_000
STAGES = ("dedup", "match", "count", "sample")


@pytest.fixture(scope="module")
def scale_run(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("scale")
    figures = out / "figures.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scale.py"), "--rows",
         ",".join(map(str, SIZES)), "--out", str(out / "bench"), "--json", str(figures),
         "--warmup-rows", str(WARMUP_ROWS)],
        env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(figures.read_text()), done.stdout


def test_every_size_has_every_stage_and_the_counts_add_up(scale_run):
    figures, printed = scale_run
    assert [s["rows"] for s in figures["sizes"]] == list(SIZES)
    assert figures["checks_ok"] and "correctness: OK" in printed
    for size in figures["sizes"]:
        stages = size["stages"]
        assert set(stages) == {*STAGES, "floor"}
        assert stages["floor"]["rows_in"] == stages["floor"]["rows_out"] == size["rows"]
        # a read and a write: no shuffle but the count's few bytes
        assert stages["floor"]["shuffleWriteBytes"] < 1000
        for name in STAGES:
            st = stages[name]
            assert st["rows_in"] == st["rows_out"] + sum(st["dropped"].values())
            assert st["seconds"] > 0 and st["jvm_peak"] > 0
        assert stages["dedup"]["rows_in"] == size["rows"]
        assert stages["match"]["rows_in"] == stages["dedup"]["rows_out"]
        assert stages["count"]["rows_in"] == stages["match"]["rows_out"]
        assert stages["sample"]["rows_in"] == stages["match"]["rows_out"]
        assert stages["dedup"]["shuffleWriteBytes"] > 0   # the REST API answered
        assert stages["match"]["workers"] >= 1            # the Python workers were seen
    assert [c["stage"] for c in figures["comparison"]] == list(STAGES)


def test_dedup_keeps_the_generators_distinct_pairs_at_the_stated_rate(scale_run):
    figures, _ = scale_run
    for size in figures["sizes"]:
        rows, distinct = size["rows"], size["pool_info"]["distinct"]
        assert distinct == -(-rows // 5)                         # 80% duplicates
        assert size["stages"]["dedup"]["rows_out"] == distinct
        assert size["stages"]["dedup"]["dropped"] == {"duplicate": rows - distinct}
        # the pool's report is extract's (its uuids are): dedup cuts ranges from the hex
        assert size["stages"]["dedup"]["ranges"] == HEX_RANGES
        assert abs(size["pool_info"]["duplicate_rate"] - 0.8) < 1e-3


def test_the_pool_is_a_pairs_table_shaped_like_a_crawl(scale_run):
    figures, _ = scale_run
    size = figures["sizes"][-1]
    pool = pq.read_table(size["pool"])
    assert pool.schema.equals(schemas.PAIRS, check_metadata=False)
    assert pq.read_schema(next(Path(size["pool"]).glob("*.parquet"))).equals(
        schemas.PAIRS, check_metadata=False)
    assert pool.num_rows == size["rows"]
    # counted here, apart from the generator: its distinct (image_uuid, text)
    keys = pool.group_by(["image_uuid", "text"]).aggregate([])
    assert keys.num_rows == size["pool_info"]["distinct"]
    rows = pool.slice(0, 2000).to_pylist()
    assert all(r["image_uuid"] == image_uuid(r["url"]) for r in rows)
    assert all(r["lang"] is None and r["crawl"].startswith("CC-MAIN-") for r in rows)
    assert all(r["source_path"].startswith("s3://commoncrawl/crawl-data/CC-MAIN-")
               and r["source_path"].endswith(".warc.wat.gz") for r in rows)
    # images of a page share its page URL and record offset; pages take turns in a file
    pages = pool.group_by("page_url").aggregate([("image_uuid", "count")])
    assert pc.min(pages["image_uuid_count"]).as_py() >= 10
    offsets = [r["source_offset"] for r in rows]
    assert offsets == sorted(offsets)
    alt = pc.sum(pc.equal(pool["text_source"], "alt")).as_py() / pool.num_rows
    assert alt > 0.9
