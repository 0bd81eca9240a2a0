"""Sources, fixtures and checks shared by tests/core/test_metadata_build.py and
tests/spark/test_metadata_build_spark.py."""
from __future__ import annotations

import gzip
import json
import math
import unicodedata
from collections import Counter
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
WIKI = DATA / "wiki"


# ------------------------------------------------------------------ an independent tokenizer
# Written from the rule in curate/metadata_build/tokens.py, character by character.

JOINERS = set("-\u2010\u2011'\u2019\u00b7\u200c\u200d")


def ref_tokens(line: str) -> list[tuple[str, int, int]]:
    out, i, n = [], 0, len(line)
    while i < n:
        if not line[i].isalnum():
            i += 1
            continue
        j = i
        while True:
            while j < n and (line[j].isalnum() or unicodedata.category(line[j])[0] == "M"):
                j += 1
            if j + 1 < n and line[j] in JOINERS and line[j + 1].isalnum():
                j += 1
                continue
            break
        out.append((line[i:j], i, j))
        i = j
    return out


def ref_counts(texts: list[str]) -> tuple[Counter, Counter]:
    uni, bi = Counter(), Counter()
    for text in texts:
        for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
            prev = None
            for token, start, end in ref_tokens(line):
                uni[token] += 1
                gap = line[prev[2]:start] if prev else ""
                if prev and gap and all(c.isspace() for c in gap):
                    bi[prev[0], token] += 1
                prev = (token, start, end)
    return uni, bi


# ------------------------------------------------------------------ Wikipedia statistics

MIN_COUNT = 20
MIN_PMI = 13.7    # a few thousand bigrams of the summaries; none within 1e-9 of it


@pytest.fixture(scope="module")
def summaries(tmp_path_factory, data_dir):
    """The extracts of summaries_en-us.json as two plain text files, and the extracts."""
    extracts = [v["extract"] for v in json.loads(
        (data_dir / "wiki" / "summaries_en-us.json").read_text("utf-8")).values()]
    d = tmp_path_factory.mktemp("wiki")
    half = len(extracts) // 2
    (d / "a.txt").write_text("\n".join(extracts[:half]) + "\n", "utf-8")
    (d / "b.txt").write_text("\n".join(extracts[half:]) + "\n", "utf-8")
    return d, extracts


@pytest.fixture(scope="module")
def expected(summaries):
    """Unigrams >= MIN_COUNT and bigrams with PMI >= MIN_PMI, computed here."""
    uni, bi = ref_counts(summaries[1])
    n = sum(uni.values())
    pmis = {f"{a} {b}": math.log2(c) + math.log2(n) - math.log2(uni[a]) - math.log2(uni[b])
            for (a, b), c in bi.items()}
    assert not any(abs(v - MIN_PMI) < 1e-9 for v in pmis.values())
    return {"tokens": n,
            "unigrams": {w: c for w, c in uni.items() if c >= MIN_COUNT},
            "bigrams": {s: v for s, v in pmis.items() if v >= MIN_PMI},
            "distinct": (len(uni), len(bi))}


def check_statistics(stats, expected):
    assert stats.tokens == expected["tokens"]
    assert dict(stats.unigrams) == expected["unigrams"]
    assert [c for _, c in stats.unigrams] == sorted((c for _, c in stats.unigrams), reverse=True)
    got = {s: v for s, v, _ in stats.bigrams}
    assert got.keys() == expected["bigrams"].keys()
    assert all(math.isclose(got[s], v, rel_tol=1e-12) for s, v in expected["bigrams"].items())
    assert (stats.counters["distinct_unigrams"], stats.counters["distinct_bigrams"]) \
        == expected["distinct"]


HAND_CORPUS = "red fox\nred\tfox\nred car\nblue sky\nfox, sky\nblue\nsky\n"
# Tokens: red 3, fox 3, car 1, blue 2, sky 3: N = 12. Bigrams (whitespace gaps within a line
# only; "fox, sky" and "blue" / "sky" on two lines are none): red fox 2, red car 1, blue sky 1.
HAND_PMI = {"red fox": math.log2(2 * 12 / (3 * 3)),    # 1.415
            "red car": math.log2(1 * 12 / (3 * 1)),    # 2
            "blue sky": math.log2(1 * 12 / (2 * 3))}   # 1


DUMP = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10">
  <siteinfo><sitename>Wikipedia</sitename></siteinfo>
  <page><title>Fox</title><ns>0</ns><id>1</id>
    <revision><id>5</id><text xml:space="preserve">{{Infobox animal|name=Fox {{nested|x}}}}
'''Foxes''' are [[mammal|small mammals]] of the [[Canidae]] family.&lt;ref&gt;A source&lt;/ref&gt;
== Range ==
* Found in [[Europe]]s and [[2001: A Space Odyssey]] &amp;nbsp;[https://example.org Site]
{| class="wikitable"
| cell || cell
|}
[[File:Fox.jpg|thumb|A [[red fox]] in snow]]&lt;!-- hidden --&gt;
[[Category:Canids]] [[de:Füchse]]</text></revision></page>
  <page><title>Talk:Fox</title><ns>1</ns><id>2</id><revision><text>talk text</text></revision></page>
  <page><title>Foxes</title><ns>0</ns><id>3</id><redirect title="Fox" />
    <revision><text>#REDIRECT [[Fox]]</text></revision></page>
</mediawiki>
"""


# ------------------------------------------------------------------ pageviews

PAGEVIEWS_HOUR_1 = """en Main_Page 42 0
en.m Main_Page 10 0
de Main_Page 1000 0
en Albert_Einstein 69 0
en Special:Search 500 0
en Talk:Fox 100 0
en.b Some_Book 999 0
en Rare_page 5 0
en broken line
en Bad_count x 0
"""
PAGEVIEWS_HOUR_2 = """en Main_Page 8 0
en Albert_Einstein 1 0
en Main Page 20 0
de Albert_Einstein 75 0

"""


@pytest.fixture
def pageview_files(tmp_path):
    one = tmp_path / "pageviews-20240101-000000.gz"
    one.write_bytes(gzip.compress(PAGEVIEWS_HOUR_1.encode()))
    two = tmp_path / "pageviews-20240101-010000"
    two.write_text(PAGEVIEWS_HOUR_2)
    return [str(one), str(two)]


# ------------------------------------------------------------------ outputs and rebuilds

def default_sources(data_dir) -> dict:
    return {"wordnet": str(data_dir / "wordnet"),
            "unigram_counts": str(data_dir / "wiki" / "wikiwords_enwiki2012_unigram_counts.json"),
            "titles": str(data_dir / "wiki" / "titles_en-us.json"),
            "wordfreq": str(data_dir / "wiki" / "large_en.msgpack.gz")}
