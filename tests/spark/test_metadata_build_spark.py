"""`curate metadata build` on Spark: Wikipedia text and pageviews counted by Spark jobs
equal the pure core's statistics (tests/core/test_metadata_build.py has the rest)."""
from __future__ import annotations

import json
import math

import pyarrow.parquet as pq

from curate import api
from curate.core.metadata import load_metadata
from curate.core.metadata_build.pageviews import pageview_titles
from metadata_build_helpers import (MIN_COUNT, MIN_PMI, summaries, expected, HAND_CORPUS,
                                    HAND_PMI, pageview_files)  # noqa: F401


def test_wiki_statistics_spark_job_on_the_summaries(spark, summaries, expected, tmp_path,
                                                    monkeypatch):
    from curate.stages import metadata_build as stage

    monkeypatch.setattr(stage, "FLUSH_AT", 50_000)   # several partial counts per task
    report = api.metadata_build(str(tmp_path / "out"), wiki_text=[str(summaries[0])],
                                min_unigram_count=MIN_COUNT, min_bigram_pmi=MIN_PMI,
                                session=spark)
    rows = pq.read_table(tmp_path / "out" / "entries.parquet").to_pylist()
    uni = [(r["entry"], r["statistic"]) for r in rows if r["source"] == "u"]
    big = {r["entry"]: r["statistic"] for r in rows if r["source"] == "b"}
    assert dict(uni) == expected["unigrams"]
    assert uni == sorted(uni, key=lambda u: (-u[1], u[0]))   # the stable order
    assert big.keys() == expected["bigrams"].keys()
    assert all(math.isclose(big[s], v, rel_tol=1e-12) for s, v in expected["bigrams"].items())
    summary = json.loads((tmp_path / "out" / "__curate__/summary.json").read_text())["languages"]["en"]
    assert summary["sources"]["u"]["read"]["tokens"] == expected["tokens"]
    assert summary["sources"]["u"]["read"]["files"] == 2
    assert report.rows_out == len(load_metadata(tmp_path / "out" / "metadata.json").entries)


def test_pmi_threshold_on_spark_at_the_exact_value(spark, tmp_path):
    from curate.stages.metadata_build import wiki_statistics_spark

    (tmp_path / "c.txt").write_text(HAND_CORPUS)
    for min_pmi, kept in ((2.0, {"red car"}), (1.0, set(HAND_PMI)), (2.0001, set())):
        stats = wiki_statistics_spark(spark, [str(tmp_path / "c.txt")], 3, min_pmi)
        assert dict(stats.unigrams) == {"red": 3, "fox": 3, "sky": 3}
        assert {s for s, _, _ in stats.bigrams} == kept


def test_pageviews_on_spark_equal_the_pure_core(spark, pageview_files):
    from curate.stages.metadata_build import pageview_titles_spark

    for lang, min_views in (("en", 1), ("en", 70), ("de", 70)):
        assert pageview_titles_spark(spark, pageview_files, lang, min_views) \
            == pageview_titles(pageview_files, lang, min_views)
