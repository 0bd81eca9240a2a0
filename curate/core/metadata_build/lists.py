"""Sources that come as ready lists: unigram counts, titles, wordfreq frequencies.

* ``--unigram-counts FILE``: a JSON object ``{word: count}`` (like PyPI wikiwords'
  ``wikiwords_enwiki2012_unigram_counts.json``); words with count >= ``min_count`` are
  unigrams, by count descending, then word. Instead of ``--wiki-text``.
* ``--titles FILE``: a JSON object whose keys are titles (like ``titles_en-us.json``,
  ``{title: category}``; no statistic, sorted) or a JSON list of titles (statistic: the
  1-based rank, in list order). ``_`` becomes a space; titles are kept whole (colons
  included: these are article titles, not request paths). Instead of ``--pageviews``.
* ``--wordfreq FILE``: wordfreq's ``large_XX.msgpack.gz`` / ``small_XX.msgpack.gz`` (read by
  curate.core.metadata_build.wordfreq). A word is a unigram when its frequency times an assumed
  corpus size (``corpus_tokens``) reaches ``min_count``, i.e. when a corpus of that many
  tokens with wordfreq's frequencies would hold it ``min_count`` times; by frequency
  descending, then word. Only words that are one token (curate.core.metadata_build.tokens) and
  not one of wordfreq's number shapes (every digit of a multi-digit number is stored as
  ``0``: ``0000``, ``0.00``) are used. In the list they follow the Wikipedia unigrams (source
  tag ``f``), so they fill in what the counts lack, and share ``--budget-unigrams``.
"""
from __future__ import annotations

import json
import os
import re

from curate.errors import UserError
from curate.core.metadata_build.tokens import TOKEN

__all__ = ["read_unigram_counts", "read_titles", "wordfreq_unigrams",
           "DEFAULT_CORPUS_TOKENS"]

# Median of count / frequency over the 90,104 words in both the wikiwords 2012 Wikipedia
# counts and wordfreq's large_en list: the corpus size at which wordfreq's frequencies give
# the Wikipedia counts.
DEFAULT_CORPUS_TOKENS = 3_500_000_000

# wordfreq.numbers: a digit followed by digits, "." or ","; such runs are stored with every
# digit replaced by "0", so a word holding one stands for many numbers, never itself.
_NUMBER_SHAPE = re.compile(r"\d[\d.,]+")


def _read_json(path: str, option: str):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise UserError(f"{option} {path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{option} {path}: is a directory, not a JSON file") from None
    except UnicodeDecodeError:
        raise UserError(f"{option} {path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{option} {path}: not valid JSON ({exc.msg} at line {exc.lineno})"
                        ) from None


def read_unigram_counts(path: str, min_count: int) -> tuple[list[tuple[str, int]], int]:
    """((word, count) with count >= min_count by count descending then word, words read)."""
    from curate.core.metadata_build.pmi import select_unigrams

    counts = _read_json(os.fspath(path), "--unigram-counts")
    if not isinstance(counts, dict):
        raise UserError(f"--unigram-counts {path}: expected a JSON object {{word: count}}")
    for word, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise UserError(f"--unigram-counts {path}: the count of {word!r} is "
                            f"{json.dumps(count)[:40]}, not a count")
    return select_unigrams(counts.items(), min_count), len(counts)


def read_titles(path: str) -> tuple[list[tuple[str, int | None]], str | None]:
    """((title, rank or None), the statistic's name: "rank" for a list, None for an object)."""
    value = _read_json(os.fspath(path), "--titles")
    if isinstance(value, dict):
        items, statistic = [(t, None) for t in value], None
    elif isinstance(value, list):
        items, statistic = [(t, i) for i, t in enumerate(value, 1)], "rank"
    else:
        raise UserError(f"--titles {path}: expected a JSON object (titles as keys) or a list")
    for title, _ in items:
        if not isinstance(title, str):
            raise UserError(f"--titles {path}: {json.dumps(title)[:40]} is not a title string")
    return [(t.replace("_", " "), s) for t, s in items], statistic


def wordfreq_unigrams(path: str, min_count: int, corpus_tokens: float
                      ) -> tuple[list[tuple[str, float]], int]:
    """((word, frequency) with frequency * corpus_tokens >= min_count, one token and not a
    number shape; by frequency descending then word), words read above the threshold)."""
    from curate.core.metadata_build.wordfreq import wordfreq_words

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError(f"--wordfreq {path}: no such file")
    try:
        # A little below the threshold; the exact rule is applied here.
        words = wordfreq_words(path, min_frequency=min_count / corpus_tokens * (1 - 1e-9))
    except (OSError, EOFError, ValueError) as exc:
        raise UserError(f"--wordfreq {path}: not a wordfreq list ({exc})") from None
    words = [(w, f) for w, f in words if f * corpus_tokens >= min_count]
    kept = [(w, f) for w, f in words
            if TOKEN.fullmatch(w) and not _NUMBER_SHAPE.search(w)]
    kept.sort(key=lambda wf: (-wf[1], wf[0]))
    return kept, len(words)
