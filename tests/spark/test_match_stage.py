"""The match stage on Spark: languages (identified or assumed), per-language metadata,
v1/v2 keys, every row counted by language and reason, and the metadata fingerprint
carried to count. Texts are real sentences; identification is the real lid.176 model."""
from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate import api, schemas
from curate.core import lid
from cli_helpers import assert_verified, run_cli
from curate.core.matching import Matcher
from curate.core.metadata import load_metadata_set
from curate.options import resolve_count, resolve_match
from curate.stages.io import read_report

TEXTS = [
    ("en", "a black cat sleeping on a red sofa"),
    ("en", "the old bridge over the river at night"),
    ("en", "nothing in here can be found anywhere whatsoever"),
    ("de", "eine schwarze Katze schläft auf dem roten Sofa"),
    ("de", "die alte Brücke über den Fluss bei Nacht"),
    ("zh", "我在东京看到一只黑色的猫在沙发上睡觉"),
    ("zh", "夜晚河上的老桥非常漂亮"),
    ("fr", "un chat noir qui dort sur un canapé rouge"),
]
LISTS = {
    "en": ["cat", "black cat", "sofa", "bridge", "river", "night", "red"],
    "de": ["Katze", "Sofa", "Brücke", "Fluss", "Nacht"],
    "zh": ["猫", "沙发", "东京", "桥", "河"],
}


@pytest.fixture(scope="module")
def dedup_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("dedup")
    rows = {name: [None] * len(TEXTS) for name in schemas.DEDUP.names}
    rows.update(image_uuid=[f"{i:024x}" for i in range(len(TEXTS))],
                url=[f"http://img.example/{i}.jpg" for i in range(len(TEXTS))],
                text=[text for _, text in TEXTS], text_source=["alt"] * len(TEXTS),
                source_path=["test"] * len(TEXTS))
    pq.write_table(pa.Table.from_pydict(rows, schema=schemas.DEDUP), path / "part-0.parquet")
    return path


@pytest.fixture(scope="module")
def lists_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("lists")
    for code, entries in LISTS.items():
        (path / f"{code}.json").write_text(json.dumps(entries, ensure_ascii=False), "utf-8")
    return path


def test_the_texts_are_identified_as_written():
    assert lid.identify([text for _, text in TEXTS]) == [code for code, _ in TEXTS]


def _matched(out) -> dict[str, tuple[str, list[int]]]:
    table = pd.read_parquet(out)
    return {text: (lang, list(ids)) for text, lang, ids in
            zip(table.text, table.lang, table.matched_entry_ids)}


def _expected(code: str, text: str, version: str) -> list[int]:
    return Matcher(LISTS[code], version).match(text)


def test_worldwide_matches_each_language_with_its_list(spark, dedup_dir, lists_dir, tmp_path):
    out = tmp_path / "matched"
    report = api.match(str(dedup_dir), str(out),
                       resolve_match(metadata=str(lists_dir), languages="all"), spark)
    expected = {text: (code, _expected(code, text, "v2")) for code, text in TEXTS
                if code in LISTS and _expected(code, text, "v2")}
    assert _matched(out) == expected
    # the Chinese entries match inside unspaced text (v2 keys)
    assert expected["夜晚河上的老桥非常漂亮"][1] == [3, 4]
    assert report.dropped == {"no_match:en": 1, "no_metadata:fr": 1}
    assert report.details["matched_by_language"] == {"de": 2, "en": 2, "zh": 2}
    assert report.rows_in == len(TEXTS) == report.rows_out + sum(report.dropped.values())
    assert report.details["spacing"] == "v2" and report.details["languages"] == "all"
    assert set(report.details["metadata"]["languages"]) == {"de", "en", "zh"}


def test_languages_en_keeps_english_with_v1_keys(spark, dedup_dir, lists_dir, tmp_path):
    out = tmp_path / "matched"
    report = api.match(str(dedup_dir), str(out),
                       resolve_match(metadata=str(lists_dir), languages="en"), spark)
    expected = {text: ("en", _expected("en", text, "v1")) for code, text in TEXTS
                if code == "en" and _expected("en", text, "v1")}
    assert _matched(out) == expected
    assert report.dropped == {"language_not_selected:de": 2, "language_not_selected:zh": 2,
                              "no_match:en": 1, "no_metadata:fr": 1}
    assert report.details["spacing"] == "v1"


def test_assume_lang_skips_identification(spark, dedup_dir, tmp_path, monkeypatch):
    def no_identification(texts):
        raise AssertionError("identify() must not run with --assume-lang")
    monkeypatch.setattr(lid, "identify", no_identification)   # only in this (driver) process
    out = tmp_path / "matched"
    report = api.match(str(dedup_dir), str(out),
                       resolve_match(assume_lang="en", spacing="v1"), spark)
    entries = load_metadata_set(None).lists["en"].entries
    matcher = Matcher(entries, "v1")
    expected = {text: ("en", matcher.match(text)) for _, text in TEXTS if matcher.match(text)}
    assert _matched(out) == expected
    assert report.dropped == ({"no_match:en": len(TEXTS) - len(expected)}
                              if len(expected) < len(TEXTS) else {})


def test_count_gives_one_vector_per_language_and_refuses_other_metadata(
        spark, dedup_dir, lists_dir, tmp_path, capsys):
    matched, counts = tmp_path / "matched", tmp_path / "counts"
    api.match(str(dedup_dir), str(matched),
              resolve_match(metadata=str(lists_dir), languages="all"), spark)
    report = api.count(str(matched), str(counts), resolve_count(metadata=str(lists_dir)), spark)
    table = pd.read_parquet(counts)
    for code, entries in LISTS.items():
        rows = table[table.lang == code].sort_values("entry_id")
        assert rows.entry.tolist() == entries
        expected = [0] * len(entries)
        for lang, ids in _matched(matched).values():
            if lang == code:
                for i in ids:
                    expected[i] += 1
        assert rows["count"].tolist() == expected
    assert report.rows_in == 6
    summary = json.loads((counts / "__curate__/summary.json").read_text("utf-8"))["languages"]
    assert summary["en"]["texts"] == 3 and summary["en"]["matched_texts"] == 2
    assert summary["zh"]["texts"] == 2 and summary["zh"]["matched_texts"] == 2
    assert read_report(str(counts)).details["metadata"]["fingerprint"] == \
        load_metadata_set(str(lists_dir)).fingerprint

    other = tmp_path / "other.json"
    other.write_text(json.dumps(["cat", "dog"]), "utf-8")
    capsys.readouterr()   # (the progress lines of the stages above)
    code = run_cli("count", str(matched), "-o", str(tmp_path / "c2"), "--metadata", str(other))
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "is not the metadata" in err and "de: 5 entries" in err and "en: 2 entries" in err
    assert not (tmp_path / "c2").exists()


@pytest.mark.parametrize("args, message", [
    (["--languages", "de"], "has no list for de"),
    (["--assume-lang", "zh"], "has no list for zh"),
    (["--metadata", "LISTS", "--languages", "en", "--assume-lang", "de"],
     "--assume-lang de is not among --languages en"),
    (["--spacing", "v3"], "'v3' is not one of"),
])
def test_match_option_errors_are_one_line(args, message, dedup_dir, lists_dir, tmp_path,
                                          capsys):
    args = [str(lists_dir) if a == "LISTS" else a for a in args]
    code = run_cli("match", str(dedup_dir), "-o", str(tmp_path / "m"), *args)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "m").exists()


def test_worldwide_run_uses_the_shipped_lists_end_to_end(spark, data_dir, tmp_path):
    """`curate run --languages all` with no --metadata: the shipped worldwide directory,
    v2 keys; count and sample without --metadata follow the matched set's metadata."""
    work = tmp_path / "work"
    sample = data_dir / "commoncrawl" / "CC-MAIN-2020-34-sample.warc.gz"
    assert run_cli("run", str(sample), "-o", str(work), "--languages", "all") == 0
    assert_verified(work)   # per-language counts equal a recount of matched
    worldwide = load_metadata_set(resolve_match(languages="all").metadata)
    assert len(worldwide.languages) >= 40 and {"en", "zh", "ja"} <= set(worldwide.languages)
    matched = pd.read_parquet(work / "matched")
    zh = matched[matched.lang == "zh"]
    assert len(zh) > 0
    matcher = Matcher(worldwide.lists["zh"].entries, "v2")
    assert [list(ids) for ids in zh.matched_entry_ids] == [matcher.match(t) for t in zh.text]
    report = read_report(str(work / "matched"))
    assert report.details["spacing"] == "v2"
    assert report.details["metadata"]["fingerprint"] == worldwide.fingerprint
    summary = json.loads((work / "counts" / "__curate__/summary.json").read_text("utf-8"))["languages"]
    assert summary["zh"]["matched_texts"] == len(zh)
    assert set(read_report(str(work / "curated")).details["t"]) == set(worldwide.languages)
    # count on its own, without --metadata, counts with the matched set's lists
    assert run_cli("count", str(work / "matched"), "-o", str(tmp_path / "counts")) == 0
    assert read_report(str(tmp_path / "counts")).details["metadata"]["fingerprint"] == \
        worldwide.fingerprint
