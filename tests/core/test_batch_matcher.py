"""BatchMatcher.match_many (v1, a whole batch in one walk) gives Matcher(entries, "v1").match
on every text: the real captions against the shipped English list, and the edge cases of
its token coding (separator, unknown and empty tokens, duplicates, unbatchable inputs)."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from curate.core.matching import BatchMatcher, Matcher
from curate.core.metadata import load_metadata_set

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

EDGE_ENTRIES = ["Adult", "T-shirt", "shirt", "3", "5", "3 . 5", "U.S.", "U", "S", "cat",
                "cat  dog", "dog", "cat dog", "", " cat", "dog ", "a\tb", "東京", "cat",
                "new york city", "new york", "york city", "new", "city", "new york", "york"]
EDGE_TEXTS = ["Adult T-shirt", "3.5", "made in the U.S.", "cat  dog", "cat dog", "", " ",
              "  ", "cat\tdog", "a\tb", "東京 cat", "in new york city at night", "new new york",
              "cat,dog", "xqzv", "cat\x00dog", "dog \x00 cat"]


def expected(entries, texts):
    matcher = Matcher(entries, "v1")
    return [matcher.match(text) for text in texts]


@pytest.mark.parametrize("texts", [EDGE_TEXTS, [t for t in EDGE_TEXTS if "\x00" not in t],
                                   [], ["cat"], EDGE_TEXTS[::-1] * 3])
def test_edge_cases_equal_the_matcher(texts):
    got = BatchMatcher(EDGE_ENTRIES).match_many(texts).to_pylist()
    assert got == expected(EDGE_ENTRIES, texts)


def test_an_entry_holding_the_separator_token_matches_text_by_text():
    entries = EDGE_ENTRIES + ["cat \x00 dog", "\x00"]
    texts = ["cat \x00 dog", "cat", "dog \x00", "\x00"]
    matcher = BatchMatcher(entries)
    assert matcher.match_many(texts).to_pylist() == expected(entries, texts)


@pytest.mark.parametrize("entries", [["cat", "dog", "cat"], ["cat dog"], ["\x00"]])
def test_lists_without_entries_of_two_tokens_or_without_one_token_ones(entries):
    """No entry of two tokens or more leaves the automaton empty (pyahocorasick cannot walk
    an empty trie); no one-token entry leaves only the walk."""
    texts = EDGE_TEXTS + ["a cat and a dog", "cat dog cat"]
    assert BatchMatcher(entries).match_many(texts).to_pylist() == expected(entries, texts)
    assert [BatchMatcher(entries).match(t) for t in texts] == expected(entries, texts)


def test_real_captions_against_the_shipped_list():
    entries = list(load_metadata_set(None).lists["en"].entries)
    with open(DATA / "captions" / "Validation_GCC-1.1.0-Validation.tsv",
              encoding="utf-8", newline="") as f:
        captions = [row[0] for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    texts = list(dict.fromkeys(captions)) + EDGE_TEXTS
    got = BatchMatcher(entries).match_many(texts).to_pylist()
    want = expected(entries, texts)
    assert got == want
    assert sum(map(len, want)) > 10 * len(captions) // 2   # real matches, not empty lists
