"""`curate metadata build` / `stats`: the sources, their statistics (pure core), the
list's order and outputs, and the CLI. The Spark jobs: tests/spark/test_metadata_build_spark.py."""
from __future__ import annotations

import bz2
import json
import math
import subprocess
import sys
import unicodedata
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cli_helpers import run_cli
from curate import api
from curate.errors import UserError
from curate.core.metadata import load_metadata, load_metadata_set
from curate.core.metadata_build import tokens as tok
from curate.core.metadata_build.assemble import Block, assemble
from curate.core.metadata_build.build import canonical_json
from curate.core.metadata_build.pageviews import pageview_titles
from curate.core.metadata_build.pmi import wiki_statistics
from curate.core.metadata_build.wikitext import iter_lines, markup_to_text
from curate.core.metadata_build.wordnet import head_lemmas
from wordfreq_helpers import write_cbpack
from metadata_build_helpers import (REPO, ref_tokens, MIN_COUNT, MIN_PMI, summaries, expected,
                                    check_statistics, HAND_CORPUS, HAND_PMI, DUMP,
                                    pageview_files, default_sources)  # noqa: F401


def test_tokenizer_rule_on_examples():
    line = "An Adult T-shirt, O'Brien's don’t U.S. 3.5 snake_case हिन्दी col·lecció a--b x-"
    assert tok.tokens(line) == [t for t, _, _ in ref_tokens(line)] == [
        "An", "Adult", "T-shirt", "O'Brien's", "don’t", "U", "S", "3", "5", "snake", "case",
        "हिन्दी", "col·lecció", "a", "b", "x"]
    uni, bi = Counter(), Counter()
    tok.count_line("Paris, France  and\tParis (city)", uni, bi)
    assert bi == Counter({("France", "and"): 1, ("and", "Paris"): 1})   # whitespace gaps only
    assert uni["Paris"] == 2


def test_the_mark_class_holds_every_combining_mark():
    marks = "".join(chr(c) for c in range(sys.maxunicode + 1)
                    if unicodedata.category(chr(c))[0] == "M")
    # Every mark continues a token after a letter.
    assert all(tok.tokens("a" + m) == ["a" + m] for m in marks)


# ------------------------------------------------------------------ WordNet

def test_wordnet_head_lemmas_within_one_percent_of_metaclip(data_dir):
    lemmas = head_lemmas(str(data_dir / "wordnet"))
    assert abs(len(lemmas) - 86_654) / 86_654 <= 0.01, len(lemmas)
    assert len(set(lemmas)) == len(lemmas) and lemmas == sorted(lemmas)
    entries = set(lemmas)
    for lemma in ("entity", "physical entity", "move involuntarily", "used to", "regardant"):
        assert lemma in entries
    for not_head in ("abstract entity", "physical_entity", "used to(p)", "wont to"):
        assert not_head not in entries


def test_wiki_statistics_pure_core_on_the_summaries(summaries, expected):
    stats = wiki_statistics(sorted(str(p) for p in summaries[0].iterdir()), MIN_COUNT, MIN_PMI)
    assert len(stats.unigrams) > 3000 and len(stats.bigrams) > 10_000
    check_statistics(stats, expected)


@pytest.mark.parametrize("min_pmi, kept", [
    (0.0, {"red fox", "red car", "blue sky"}),    # "fox sky" would have PMI 0.415
    (0.5, {"red fox", "red car", "blue sky"}),
    (1.0, {"red fox", "red car", "blue sky"}),    # equal to the threshold: kept
    (1.2, {"red fox", "red car"}),
    (math.log2(12 / 3), {"red car"}),             # exactly 2
    (2.0001, set()),
])
def test_pmi_threshold_on_a_hand_made_corpus(tmp_path, min_pmi, kept):
    (tmp_path / "c.txt").write_text(HAND_CORPUS)
    stats = wiki_statistics([str(tmp_path / "c.txt")], 1, min_pmi)
    assert stats.tokens == 12
    assert dict(stats.unigrams) == {"red": 3, "fox": 3, "sky": 3, "blue": 2, "car": 1}
    assert {s: v for s, v, _ in stats.bigrams} == {s: HAND_PMI[s] for s in kept}
    assert [s for s, _, _ in stats.bigrams] == sorted(kept, key=lambda s: -HAND_PMI[s])


def test_a_bzip2_dump_gives_the_articles_plain_text(tmp_path):
    path = tmp_path / "enwiki-pages-articles.xml.bz2"
    path.write_bytes(bz2.compress(DUMP.encode("utf-8")))
    counters = Counter()
    lines = [line for line in iter_lines(str(path), counters) if line.strip()]
    assert lines == ["Foxes are small mammals of the Canidae family.", "Range",
                     "Found in Europes and 2001: A Space Odyssey \xa0Site"]
    assert counters == Counter(dumps=1, pages=3, articles=1, pages_other_namespace=1,
                               pages_redirect=1)
    assert markup_to_text("a [[b|c]] {{d|{{e}}}} f") == "a c  f"


def test_pageviews_are_summed_per_title_across_files_and_hours(pageview_files):
    titles, counters = pageview_titles(pageview_files, "en", 70)
    assert titles == [("Albert Einstein", 70)]     # 69 + 1 in the next hour: just enough
    # Main Page: 42 + 10 (mobile) + 8; "en Main Page 20 0" has five fields: malformed.
    titles, _ = pageview_titles(pageview_files, "en", 1)
    assert titles == [("Albert Einstein", 70), ("Main Page", 60), ("Rare page", 5)]
    assert counters == {"files": 2, "lines": 14, "lines_kept": 6, "lines_malformed": 3,
                        "lines_dropped_title": 2, "lines_other_domain": 3,
                        "distinct_titles": 3}
    titles, _ = pageview_titles(pageview_files, "de", 70)
    assert titles == [("Main Page", 1000), ("Albert Einstein", 75)]


# ------------------------------------------------------------------ assembly

def test_order_filtering_duplicates_budgets_and_numbers():
    blocks = [
        Block("t", [("Zebra", 80), ("Apple", 90), ("Mango", 80), ("!", 100)], "views"),
        Block("u", [("the", 10), ("of", 10), ("an", 12), ("7", 11), ("", 50), ("zebra", 1)],
              "count"),
        Block("w", [("entity", None), ("Apple", None), ("  ", None)]),
        Block("b", [("new york", 31.5), ("los angeles", 33.0)], "pmi"),
    ]
    got = assemble(blocks, {"unigrams": 3, "titles": 1})
    assert [(e.entry, e.source) for e in got.entries] == [
        ("Apple", "w"), ("entity", "w"),                      # WordNet: by string; "  " empty
        ("an", "u"), ("7", "u"), ("of", "u"),                 # count desc, string; budget 3
        ("los angeles", "b"), ("new york", "b"),              # PMI desc
        ("Mango", "t"),                   # views desc, string: "!" dropped, Apple placed; 1
    ] + [(str(i), "n") for i in range(100) if i != 7]         # numbers: never capped
    assert got.dropped == {"duplicate": 2, "empty": 2, "over_budget": 3, "punctuation": 1}
    assert got.kept == {"w": 2, "u": 3, "b": 2, "t": 1, "n": 99}
    assert sum(got.offered.values()) == len(got.entries) + sum(got.dropped.values())


def test_wordfreq_words_fill_in_by_the_corpus_size_rule(tmp_path):
    buckets = [[] for _ in range(760)]
    buckets[0] = ["the"]
    buckets[300] = ["zebra", "don't", "u.s", "00", "3d", "!", "7"]
    buckets[754] = ["edge"]        # 10**-7.54 * 3.5e9 = 100.9: in
    buckets[755] = ["below"]       # 10**-7.55 * 3.5e9 = 98.6: out
    write_cbpack(tmp_path / "large_xx.msgpack.gz", buckets)
    (tmp_path / "u.json").write_text(json.dumps({"the": 500, "7": 120, "rare": 99}))
    api.metadata_build(str(tmp_path / "out"), unigram_counts=str(tmp_path / "u.json"),
                       wordfreq=str(tmp_path / "large_xx.msgpack.gz"))
    entries = load_metadata(tmp_path / "out" / "metadata.json").entries
    assert entries[:7] == ("the", "7", "3d", "don't", "zebra", "edge", "0")
    rows = pq.read_table(tmp_path / "out" / "entries.parquet").to_pylist()
    assert [r["source"] for r in rows[:7]] == ["u", "u", "f", "f", "f", "f", "n"]
    assert rows[2]["statistic"] == 10 ** (-300 / 100)


@pytest.mark.slow
def test_a_rebuild_gives_the_same_ids(tmp_path, data_dir):
    sources = default_sources(data_dir)
    api.metadata_build(str(tmp_path / "one"), **sources)
    api.metadata_build(str(tmp_path / "two"), **sources)
    # The same counts and titles in another order in their files: the same list.
    counts = json.loads(Path(sources["unigram_counts"]).read_text())
    (tmp_path / "counts.json").write_text(json.dumps(dict(reversed(list(counts.items())))))
    titles = json.loads(Path(sources["titles"]).read_text())
    (tmp_path / "titles.json").write_text(json.dumps(dict(sorted(titles.items(), reverse=True))))
    api.metadata_build(str(tmp_path / "three"), **sources | {
        "unigram_counts": str(tmp_path / "counts.json"), "titles": str(tmp_path / "titles.json")})
    one = (tmp_path / "one" / "metadata.json").read_bytes()
    assert one == (tmp_path / "two" / "metadata.json").read_bytes()
    assert one == (tmp_path / "three" / "metadata.json").read_bytes()
    assert (tmp_path / "one" / "entries.tsv").read_bytes() \
        == (tmp_path / "three" / "entries.tsv").read_bytes()
    # The list file is canonical JSON: its sha256 is the fingerprint the pipeline records.
    meta = load_metadata(tmp_path / "one" / "metadata.json")
    import hashlib
    assert hashlib.sha256(one).hexdigest() == meta.fingerprint
    # entries.parquet / .tsv describe the list row by row.
    rows = pq.read_table(tmp_path / "one" / "entries.parquet").to_pylist()
    assert [r["entry"] for r in rows] == list(meta.entries)
    assert [r["entry_id"] for r in rows] == list(range(len(rows)))
    assert {r["lang"] for r in rows} == {"en"}
    tsv = (tmp_path / "one" / "entries.tsv").read_text("utf-8").split("\n")
    assert tsv[0] == "lang\tentry_id\tentry\tsource\tstatistic"
    assert len(tsv) == len(rows) + 2 and tsv[-1] == ""


def test_metaclip_format_json_in_the_same_list_out(tmp_path, capsys):
    # MetaCLIP writes json.dump(list): ASCII escapes, ", " separators. A duplicate and a
    # single punctuation mark are kept as they are: ids are positions.
    entries = ["photo", "Śāriputra", "東京", "hot dog", "photo", "3", ",", 'say "hi"']
    (tmp_path / "metadata.json").write_text(json.dumps(entries))
    meta = load_metadata(tmp_path / "metadata.json")
    assert list(meta.entries) == entries
    (tmp_path / "out.json").write_bytes(canonical_json(list(meta.entries)))
    again = load_metadata(tmp_path / "out.json")
    assert list(again.entries) == entries and again.fingerprint == meta.fingerprint
    stats = api.metadata_stats(str(tmp_path / "metadata.json"))
    en = stats["languages"]["en"]
    assert en["entries"] == 8 and en["fingerprint"] == meta.fingerprint
    assert en["sources"] is None          # a plain list: no build beside it
    assert en["duplicates"] == 1 and en["duplicate_examples"] == [{"entry": "photo", "ids": [0, 4]}]
    assert en["empty_or_punctuation"] == {"punctuation": 1}
    assert en["longest"][0] == {"id": 1, "length": 9, "entry": "Śāriputra"}
    assert run_cli("metadata", "stats", str(tmp_path / "metadata.json")) == 0
    out = capsys.readouterr().out
    assert "en: 8 entries" in out and "duplicates: 1 ('photo' at 0, 4)" in out
    assert "sources: unknown" in out and "punctuation 1" in out


def test_languages_built_into_one_directory_make_a_worldwide_set(tmp_path):
    for lang, titles in (("de", ["Berlin", "Haus"]), ("fr", ["Paris"]), ("de", ["Bonn"])):
        (tmp_path / f"{lang}.titles.json").write_text(json.dumps(titles))
        api.metadata_build(str(tmp_path / "lists"), lang=lang,
                           titles=str(tmp_path / f"{lang}.titles.json"))
    lists = tmp_path / "lists"
    assert sorted(str(p.relative_to(lists)) for p in lists.rglob("*") if p.is_file()) == [
        "__curate__/stage.json", "__curate__/summary.json", "de.json", "entries.parquet",
        "entries.tsv", "fr.json"]
    meta = load_metadata_set(lists)
    assert meta.worldwide and meta.languages == ("de", "fr")
    assert meta.lists["de"].entries[0] == "Bonn" and meta.lists["fr"].entries[0] == "Paris"
    rows = pq.read_table(lists / "entries.parquet").to_pylist()
    assert [(r["lang"], r["entry"]) for r in rows if r["source"] == "t"] == [
        ("de", "Bonn"), ("fr", "Paris")]
    stats = api.metadata_stats(str(lists))
    assert stats["languages"]["de"]["sources"] == {"t": 1, "n": 100}
    assert set(json.loads((lists / "__curate__/summary.json").read_text())["languages"]) == {"de", "fr"}
    with pytest.raises(UserError, match="per-language lists"):
        api.metadata_build(str(lists), titles=str(tmp_path / "fr.titles.json"))


# ------------------------------------------------------------------ CLI

def test_cli_builds_and_prints_stats(tmp_path, capsys, data_dir):
    (tmp_path / "titles.json").write_text(json.dumps(["Main_Page", "Zebra"]))
    assert run_cli("metadata", "build", "-o", str(tmp_path / "m"), "--wordnet",
                   str(data_dir / "wordnet"), "--titles", str(tmp_path / "titles.json"),
                   "--budget-wordnet", "10") == 0
    out = capsys.readouterr().out
    assert "metadata.json (en): w 10, t 2, n 100" in out
    assert load_metadata(tmp_path / "m" / "metadata.json").entries[10:12] == ("Main Page", "Zebra")
    assert run_cli("metadata", "stats", str(tmp_path / "m")) == 0
    out = capsys.readouterr().out
    assert "en: 112 entries" in out and "sources: w 10, t 2, n 100" in out
    assert run_cli("metadata", "stats", str(tmp_path / "m" / "metadata.json"), "--json") == 0
    assert json.loads(capsys.readouterr().out)["languages"]["en"]["sources"]["w"] == 10


@pytest.mark.parametrize("args, message", [
    (["metadata", "build", "-o", "x", "--wordnet", "/nonexistent/wordnet"],
     "--wordnet /nonexistent/wordnet: no such directory"),
    (["metadata", "build", "-o", "x"], "no source given"),
    (["metadata", "build", "-o", "x", "--wiki-text", "/nonexistent/*.bz2"], "--wiki-text"),
    (["metadata", "build", "-o", "x", "--titles", "/nonexistent.json", "--lang", "EN"],
     "--lang EN"),
    (["metadata", "stats", "/nonexistent.json"], "does not exist"),
])
def test_user_errors_are_one_line_and_exit_2(args, message, tmp_path):
    done = subprocess.run([sys.executable, "-m", "curate.cli", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert not (tmp_path / "x").exists()


def test_help_has_an_example_and_the_job_takes_the_same_options():
    for command in (["metadata"], ["metadata", "build"], ["metadata", "stats"]):
        done = subprocess.run([sys.executable, "-m", "curate.cli", *command, "--help"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0
        assert f"Example:  curate {' '.join(command)}" in done.stdout
    job = subprocess.run([sys.executable, str(REPO / "jobs" / "metadata_build.py"), "--help"],
                         capture_output=True, text=True, timeout=60)
    cli = subprocess.run([sys.executable, "-m", "curate.cli", "metadata", "build", "--help"],
                         capture_output=True, text=True, timeout=60)
    assert job.returncode == cli.returncode == 0 and job.stdout == cli.stdout
