"""Matching against ALGORITHM.md §3: the spec's examples, and Aho-Corasick equal to a
brute-force substring scan written here from the spec, on 15,833 real captions."""
from __future__ import annotations

import csv

import pyarrow as pa
import pytest

from curate import schemas
from collections import Counter

from curate.core.matching import MatchPlan, Matcher, match_batches, spacing
from curate.core.metadata import Metadata, MetadataSet, load_metadata


def metadata_set(lists: dict) -> MetadataSet:
    return MetadataSet({lang: Metadata(tuple(entries), lang, f"test-{lang}", "test")
                        for lang, entries in lists.items()}, "test", "test", len(lists) > 1)


def brute_force(entries, text: str) -> list[int]:
    return brute_force_with_keys(keys_of(entries), text)


def keys_of(entries) -> dict[str, list[int]]:
    keys: dict[str, list[int]] = {}
    for i, entry in enumerate(entries):
        keys.setdefault(" " + entry + " ", []).append(i)
    return keys


def brute_force_with_keys(keys, text):
    """Spec, by another route: every substring of the spaced text that starts and ends
    with a space, looked up in a dict of all keys."""
    spaced = " " + text + " "
    for punct in ",.;:?!`":
        spaced = spaced.replace(punct, " " + punct + " ")
    spaced = spaced.replace("\t", " ").replace("\n", " ").replace("\r", " ")
    spaces = [i for i, c in enumerate(spaced) if c == " "]
    found = set()
    for a_index, a in enumerate(spaces):
        for b in spaces[a_index + 1:]:
            found.update(keys.get(spaced[a:b + 1], ()))
    return sorted(found)


def test_spacing_wraps_punctuation_and_whitespace():
    assert spacing("U.S.") == " U . S .  "
    assert spacing("a,b\tc\nd\re`f") == " a , b c d e ` f "
    assert spacing("") == "  "


@pytest.mark.parametrize("text, expected", [
    ("Adult T-shirt", {"Adult", "T-shirt"}),          # not "shirt"
    ("3.5", {"3", "5"}),
    ("made in the U.S.", {"made", "in", "the"}),      # "U.S." can never match
    ("Washington, D.C. at night", {"Washington", "at", "night"}),
    ("adult t-shirt", set()),                          # case-sensitive
    ("photo of a cat", {"photo", "of", "a", "cat", "photo of a cat"}),
    ("", set()),
    ("   \t  ", set()),
])
def test_examples_of_the_spec(text, expected):
    entries = ["Adult", "T-shirt", "shirt", "3", "5", "3.5", "U.S.", "made", "in", "the",
               "Washington", "Washington, D.C.", "at", "night", "photo", "of", "a", "cat",
               "photo of a cat"]
    ids = Matcher(entries).match(text)
    assert {entries[i] for i in ids} == expected
    assert ids == brute_force(entries, text)


def test_duplicate_entries_each_keep_their_id():
    assert Matcher(["dog", "cat", "dog"]).match("a dog") == [0, 2]


@pytest.fixture(scope="module")
def captions(data_dir):
    with open(data_dir / "captions" / "Validation_GCC-1.1.0-Validation.tsv",
              encoding="utf-8", newline="") as f:
        return [row[0] for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]


def test_aho_corasick_equals_brute_force_on_real_captions(captions):
    default = load_metadata(None)
    matcher = Matcher(default.entries)
    assert len(captions) == 15_833
    keys = keys_of(default.entries)
    mismatches, matched = [], 0
    for text in captions:
        expected = brute_force_with_keys(keys, text)
        got = matcher.match(text)
        matched += bool(got)
        if got != expected:
            mismatches.append((text, got, expected))
    assert mismatches == []
    # Conceptual Captions are written to describe the image: nearly all match something.
    assert matched > 0.95 * len(captions)



def test_match_batches_drops_unmatched_rows_and_keeps_columns():
    rows = {name: [None] * 3 for name in schemas.DEDUP.names}
    rows.update(image_uuid=["a", "b", "c"], url=["u1", "u2", "u3"],
                text=["a cat", "nothing here", "dog and cat"],
                text_source=["alt"] * 3, source_path=["f"] * 3)
    batch = pa.RecordBatch.from_pydict(rows, schema=schemas.DEDUP)
    counters = Counter()
    plan = MatchPlan(frozenset({"en"}), "en", "v1")
    out = pa.Table.from_batches(list(match_batches(iter([batch]),
                                                   metadata_set({"en": ["cat", "dog"]}),
                                                   plan, counters)))
    assert out.schema.names == schemas.MATCHED.names
    assert out["image_uuid"].to_pylist() == ["a", "c"]
    assert out["matched_entry_ids"].to_pylist() == [[0], [0, 1]]
    assert out["lang"].to_pylist() == ["en", "en"]
    assert counters == {"matched:en": 2, "no_match:en": 1}
