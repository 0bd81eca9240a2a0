"""Balanced sampling through Spark (~50k rows): count + sample give the same curated set
for 1 vs 16 input partitions, whole sorted files and on a re-run, and a different seed a
different set of the expected size, for unit "image" and unit "pair"; --target-size
through run_sample; per-language t through run_count and run_sample; the whole-file pick
and its fallbacks. The pure-core statistics: tests/core/test_balance.py.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate import schemas
from curate.options import CountOptions, SampleOptions, Thresholds
from curate.core.reference import choose_texts, keep_pair, sample_batches
from curate.core.sampling import expected_kept, keep_probabilities, t_for_size, tail_proportion

from balance_helpers import (SEED, zipf_pool, row_keep_probability, run_sample_batches,
                             sample_options, image_boundaries, pairs_of, hand_table, EN_COUNTS,
                             DE_COUNTS, SPARK_TEXTS, SPARK_ENTRIES, SPARK_T, curated_pairs,
                             reference_units, as_match_output)  # noqa: F401


def test_language_thresholds_through_spark(spark, tmp_path):
    """run_count on an en + de matched set with those counts (one single-entry text per
    match, plus one English text matching entries 5 and 6) and metadata en.txt + de.txt:
    its __curate__/summary.json and report have t_en = 7 and the derived t_de = 6."""
    from curate.stages.count import run_count
    from curate.stages.io import SUMMARY_FILE, read_counts

    sets, langs = [], []
    for code, counts in (("en", EN_COUNTS), ("de", DE_COUNTS)):
        for entry, count in enumerate(counts):
            sets += [[entry]] * count
            langs += [code] * count
    # Two-entry texts too: entries 5 and 6 of English once more each, in one text.
    sets.append([5, 6])
    langs.append("en")
    matched = tmp_path / "matched"
    matched.mkdir()
    table = hand_table(sets, langs=langs)
    pq.write_table(table, matched / "part-0.parquet")
    as_match_output(matched)
    metadata = tmp_path / "metadata"
    metadata.mkdir()
    for code, counts in (("en", EN_COUNTS), ("de", DE_COUNTS)):
        (metadata / f"{code}.txt").write_text(
            "".join(f"{code}-entry{i}\n" for i in range(len(counts))), "utf-8")

    report = run_count(spark, str(matched), str(tmp_path / "counts"),
                       CountOptions(str(metadata), Thresholds(t=7)))
    en = np.array(EN_COUNTS) + np.array([0, 0, 0, 0, 0, 1, 1])   # 31 and 51: still head
    got = read_counts(str(tmp_path / "counts"))
    assert got["en"].tolist() == en.tolist() and got["de"].tolist() == DE_COUNTS
    summary = json.loads((tmp_path / "counts" / SUMMARY_FILE).read_text("utf-8"))
    # English: tail 12 of 102 matches; p = 12/102 = .1176; de shares .10 is still closest.
    assert summary["languages"]["en"]["t"] == 7
    assert summary["languages"]["de"]["t"] == 6
    assert summary["languages"]["en"]["tail_proportion"] == pytest.approx(12 / 102)
    assert summary["languages"]["de"]["tail_proportion"] == pytest.approx(4 / 100)
    assert report.details["t"] == {"en": 7, "de": 6}
    assert report.rows_in == len(sets)

    # sample keeps, language by language at its own t, exactly the rows the core keeps
    # (the stage hands each row's language to Python as an index into the counted ones).
    from curate.stages.sample import run_sample

    p = {code: keep_probabilities(got[code], t) for code, t in (("en", 7), ("de", 6))}
    for seed in (SEED, SEED + 1):
        out = tmp_path / f"curated-{seed}"
        report = run_sample(spark, str(matched), str(out), sample_options(7, seed, "pair"),
                            counts=str(tmp_path / "counts"))
        want = pa.Table.from_batches(list(sample_batches(iter(table.to_batches(50)), p, "en",
                                                         seed)))
        assert curated_pairs(out) == pairs_of(want)
        assert 0 < report.rows_out < len(sets)


@pytest.fixture(scope="module")
def one_split_per_file(spark):
    """Spark packs small files together (each costs a 4 MB "open cost"; the split size is
    a core's share of the total), so 16 files of ~80 kB would be 2 partitions. With 2 MB
    splits each file is a partition of its own and the 1.3 MB single file still one.
    Restored afterwards for the other test modules."""
    key = "spark.sql.files.maxPartitionBytes"
    before = spark.conf.get(key)
    spark.conf.set(key, str(2 * 1024 * 1024))
    yield
    spark.conf.set(key, before)


@pytest.fixture(scope="module")
def spark_pool(spark, tmp_path_factory, one_split_per_file):
    """The same ~50k matched rows as 1 Parquet file and as 16, each in another row order
    (so 1 vs 16 input partitions), each counted by run_count."""
    from curate.stages.count import run_count
    from curate.stages.io import read_counts

    root = tmp_path_factory.mktemp("balance_spark")
    pool = zipf_pool(SPARK_TEXTS, SPARK_ENTRIES, rng_seed=2)
    table = pool["table"]
    metadata = root / "metadata.txt"
    metadata.write_text("".join(f"entry{i}\n" for i in range(SPARK_ENTRIES)), "utf-8")
    rng = np.random.default_rng(3)
    for n_files in (1, 16):
        matched = root / f"matched{n_files}"
        matched.mkdir()
        shuffled = rng.permutation(SPARK_TEXTS)
        for k, part in enumerate(np.array_split(shuffled, n_files)):
            pq.write_table(table.take(part), matched / f"part-{k:02d}.parquet")
        as_match_output(matched)
        assert spark.read.parquet(str(matched)).rdd.getNumPartitions() == n_files
        report = run_count(spark, str(matched), str(root / f"counts{n_files}"),
                           CountOptions(str(metadata), Thresholds(t=SPARK_T)))
        assert report.rows_in == SPARK_TEXTS
        got = read_counts(str(root / f"counts{n_files}"))
        assert got["en"].tolist() == pool["counts"].tolist(), n_files
    # As dedup and match write them: files of disjoint image_uuid ranges, sorted inside
    # (the pool is sorted by image_uuid), so sample picks in whole files without a shuffle.
    ordered = root / "matched16sorted"
    ordered.mkdir()
    cuts = image_boundaries(table, 16)
    for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
        pq.write_table(table.slice(a, b - a), ordered / f"part-{k:02d}.parquet")
    as_match_output(ordered, like=root / "matched16")   # the same rows: counts16 applies
    pool["root"] = root
    assert (pool["counts"] >= SPARK_T).sum() >= 15
    return pool


@pytest.mark.parametrize("unit", ["image", "pair"])
def test_spark_sample_does_not_depend_on_partitioning_reruns_or_seed_size(spark, spark_pool,
                                                                          unit):
    from curate.stages.io import SUMMARY_FILE
    from curate.stages.sample import run_sample

    root, table, counts = spark_pool["root"], spark_pool["table"], spark_pool["counts"]
    p = keep_probabilities(counts, SPARK_T)
    n_images = len(spark_pool["image_sizes"])

    def sample(n_files, seed, name):
        out = root / f"{unit}-{name}"
        report = run_sample(spark, str(root / f"matched{n_files}"), str(out),
                            sample_options(SPARK_T, seed, unit),
                            counts=str(root / f"counts{str(n_files).replace('sorted', '')}"))
        summary = json.loads((out / SUMMARY_FILE).read_text("utf-8"))
        sorted_input = str(n_files).endswith("sorted")
        assert summary["image_pick"] == (None if unit == "pair" else
                                         "sorted_files" if sorted_input else "shuffle")
        pairs = curated_pairs(out)
        assert report.rows_out == summary["size"] == len(pairs)
        assert report.rows_in == SPARK_TEXTS
        units = SPARK_TEXTS if unit == "pair" else n_images
        assert report.dropped["not_sampled"] == units - len(pairs)
        if unit == "image":
            assert report.dropped["other_text_of_image"] == SPARK_TEXTS - n_images
            assert len({u for u, _ in pairs}) == len(pairs)          # one text per image
        return pairs, summary

    one, summary_one = sample(1, SEED, "1")
    sixteen, _ = sample(16, SEED, "16")
    assert one == sixteen
    assert sample("16sorted", SEED, "16sorted")[0] == one
    rerun, _ = sample(1, SEED, "1")                                   # same output dir again
    assert rerun == one
    other, summary_other = sample(1, SEED + 1, "1-other-seed")
    assert other != one

    for seed, got, summary in ((SEED, one, summary_one), (SEED + 1, other, summary_other)):
        units = reference_units(table, unit, seed)
        want = expected_kept(iter(units.to_batches(8192)), {"en": counts},
                             {"en": np.array([SPARK_T])}, "en")[0]
        q = row_keep_probability(units["matched_entry_ids"], p)
        assert want == pytest.approx(q.sum(), rel=1e-9)
        assert summary["expected_size"] == pytest.approx(want, abs=0.06)
        assert summary["t"] == {"en": SPARK_T}
        assert abs(len(got) - want) <= 4 * math.sqrt((q * (1 - q)).sum()), (seed, len(got))
        # The very pairs the pure core keeps.
        assert got == pairs_of(run_sample_batches(units, p, seed, 8192))
    # About the same size, yet another set: a share of the pairs differ.
    assert len(one ^ other) > 0.05 * len(one)


def test_spark_target_size(spark, spark_pool):
    """--target-size N through run_sample: expected_size within 1% of N; the realised size
    within 4 sigma of expected_size (4 sigma is ~1.4% of N here, so not within 1% of N)."""
    from curate.stages.io import SUMMARY_FILE
    from curate.stages.sample import run_sample

    root, table, counts = spark_pool["root"], spark_pool["table"], spark_pool["counts"]
    target = 20_000
    out = root / "target"
    report = run_sample(spark, str(root / "matched1"), str(out),
                        SampleOptions(seed=SEED, unit="pair", target_size=target),
                        counts=str(root / "counts1"))
    summary = json.loads((out / SUMMARY_FILE).read_text("utf-8"))
    t = summary["t"]["en"]
    assert summary["target_size"] == target
    assert abs(summary["expected_size"] - target) <= 0.01 * target, summary
    p = keep_probabilities(counts, t)
    q = row_keep_probability(table["matched_entry_ids"], p)
    assert summary["expected_size"] == pytest.approx(q.sum(), abs=0.06)
    assert report.rows_out == summary["size"] == curated_pairs(out).__len__()
    assert abs(summary["size"] - q.sum()) <= 4 * math.sqrt((q * (1 - q)).sum()), summary
    assert report.details["warnings"] == []


def test_spark_sample_warns_of_what_it_cannot_do(spark, spark_pool, capsys):
    """A target no t can reach (more rows than there are) and a --t-lang of a language
    without counts are said, in the report and on the terminal, not passed over."""
    from cli_helpers import run_cli
    from curate.stages.io import read_report

    root = spark_pool["root"]
    out = root / "too-big"
    assert run_cli("sample", str(root / "matched1"), "--counts", str(root / "counts1"),
                   "-o", str(out), "--unit", "pair", "--target-size", "1000000",
                   "--t-lang", "de=5000") == 0
    warnings = read_report(str(out)).details["warnings"]
    assert warnings[0] == "--t-lang de=5000: the counts have no de list; ignored"
    assert warnings[1].startswith("--target-size 1000000: no t gives it; the nearest "
                                  f"expected size is {SPARK_TEXTS:,} rows")
    printed = capsys.readouterr().out
    for warning in warnings:
        assert f"sample: warning: {warning}" in printed


def test_spark_sample_files_are_flat_bounded_and_the_sessions_codec(spark, spark_pool):
    """The tasks write the kept rows themselves (stages.task_files): flat files of at most
    max_rows_per_file rows, Spark's codec of the session (zstd in conf/spark-local.conf),
    the same rows as the core keeps, nothing left of the attempts."""
    from curate.stages.io import SUMMARY_FILE
    from curate.stages.sample import run_sample

    root, table, counts = spark_pool["root"], spark_pool["table"], spark_pool["counts"]
    out = root / "bounded"
    report = run_sample(spark, str(root / "matched1"), str(out),
                        SampleOptions(Thresholds(SPARK_T), SEED, "pair", max_rows_per_file=4000),
                        counts=str(root / "counts1"))
    files = sorted(p for p in out.iterdir() if p.suffix == ".parquet")
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")
                  if p.is_file() and p not in files) == ["__curate__/stage.json", SUMMARY_FILE]
    sizes = [pq.ParquetFile(p).metadata.num_rows for p in files]
    assert max(sizes) == 4000 and sum(sizes) == report.rows_out
    assert len(files) > report.rows_out // 4000
    assert {pq.ParquetFile(p).metadata.row_group(0).column(2).compression for p in files} == {
        "ZSTD"}
    p = keep_probabilities(counts, SPARK_T)
    assert curated_pairs(out) == pairs_of(run_sample_batches(table, p, SEED, 8192))


def test_spark_image_pick_in_whole_files_and_its_fallbacks(spark, spark_pool):
    """--unit image on one sorted file of many row groups and small splits (one task reads
    it whole all the same) picks in whole files; on files whose ranges are disjoint by
    their footers but one of them not sorted inside, the tasks see it and the stage takes
    the shuffle; files that share an image (cut at a row number) overlap by their footers
    and take the shuffle at once. All keep the very pairs the pure core keeps, and leave
    nothing but the output's files."""
    from curate.stages.io import SUMMARY_FILE
    from curate.stages.sample import files_hold_disjoint_images, run_sample

    root, table, counts = spark_pool["root"], spark_pool["table"], spark_pool["counts"]
    want = pairs_of(run_sample_batches(reference_units(table, "image", SEED),
                                       keep_probabilities(counts, SPARK_T), SEED, 8192))
    whole = root / "matched1sorted"
    whole.mkdir()
    pq.write_table(table, whole / "part-0.parquet", row_group_size=1000)
    unsorted = root / "matched2unsorted"
    unsorted.mkdir()
    half = image_boundaries(table, 2)[1]
    rows = np.arange(half)
    rows[[10, 5000]] = rows[[5000, 10]]
    pq.write_table(table.take(rows), unsorted / "part-0.parquet")
    pq.write_table(table.slice(half), unsorted / "part-1.parquet")
    assert files_hold_disjoint_images(str(unsorted))   # only the tasks can tell
    straddling = root / "matched2straddling"
    straddling.mkdir()
    cut = half - 1 if table["image_uuid"][half - 1] == table["image_uuid"][half - 2] else half + 1
    assert table["image_uuid"][cut] == table["image_uuid"][cut - 1]   # an image cut in two
    pq.write_table(table.slice(0, cut), straddling / "part-0.parquet")
    pq.write_table(table.slice(cut), straddling / "part-1.parquet")
    assert not files_hold_disjoint_images(str(straddling))
    for relaid in (whole, unsorted, straddling):   # matched1's rows: counts1 applies
        as_match_output(relaid, like=root / "matched1")
    key = "spark.sql.files.maxPartitionBytes"
    before = spark.conf.get(key)
    spark.conf.set(key, str(64 * 1024))
    try:
        assert spark.read.parquet(str(whole)).rdd.getNumPartitions() > 4
        for matched, pick in ((whole, "sorted_files"), (unsorted, "shuffle"),
                              (straddling, "shuffle")):
            out = root / f"image-{matched.name}"
            report = run_sample(spark, str(matched), str(out),
                                sample_options(SPARK_T, SEED, "image"),
                                counts=str(root / "counts1"))
            summary = json.loads((out / SUMMARY_FILE).read_text("utf-8"))
            assert summary["image_pick"] == pick
            assert curated_pairs(out) == want
            assert report.rows_in == SPARK_TEXTS and report.rows_out == len(want)
            assert report.dropped["other_text_of_image"] == SPARK_TEXTS - len(
                spark_pool["image_sizes"])
            assert sorted(str(p.relative_to(out)) for p in out.rglob("*")
                          if p.is_file() and p.suffix != ".parquet") == [
                "__curate__/stage.json", SUMMARY_FILE]
        assert spark.conf.get(key) == str(64 * 1024)   # the whole-file setting is undone
    finally:
        spark.conf.set(key, before)


@pytest.mark.parametrize("unit", ["image", "pair"])
def test_spark_sample_of_no_rows_is_one_empty_file(spark, spark_pool, unit):
    """An empty matched set (a file with no rows): no row in, none out, one empty file
    with the curated schema; for --unit image the pick in whole files has nothing to pick."""
    from curate.stages.io import SUMMARY_FILE
    from curate.stages.count import run_count
    from curate.stages.sample import run_sample

    root = spark_pool["root"]
    empty = root / "matched-empty"
    empty.mkdir(exist_ok=True)
    pq.write_table(spark_pool["table"].slice(0, 0), empty / "part-0.parquet")
    as_match_output(empty)
    counts = root / f"counts-empty-{unit}"   # its own counts: another pool's are refused
    run_count(spark, str(empty), str(counts),
              CountOptions(str(root / "metadata.txt"), Thresholds(t=SPARK_T)))
    out = root / f"curated-empty-{unit}"
    report = run_sample(spark, str(empty), str(out), sample_options(SPARK_T, SEED, unit),
                        counts=str(counts))
    assert (report.rows_in, report.rows_out) == (0, 0)
    assert sum(report.dropped.values()) == 0
    files = sorted(out.glob("*.parquet"))
    assert len(files) == 1 and pq.read_table(files[0]).schema.equals(schemas.CURATED)
    summary = json.loads((out / SUMMARY_FILE).read_text("utf-8"))
    assert summary["size"] == 0
    assert summary["image_pick"] == ("sorted_files" if unit == "image" else None)
