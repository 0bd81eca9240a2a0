"""The tokenizer of the Wikipedia statistics (unigram counts, bigram PMI).

The one definition, used by the pure core and, inside every task, by the Spark job:

* A **token** is a run of letters and digits (``str.isalnum()``: Unicode L* and N*),
  combining marks (Unicode M*) inside or after it, and single joiners between two such runs:
  hyphens (``-`` U+2010 U+2011), apostrophes (``'`` ``’``), the middle dot ``·`` and
  ZWNJ/ZWJ. It starts with a letter or digit. ``T-shirt``, ``O'Brien``, ``don't``,
  ``हिन्दी``, ``col·lecció`` are one token each; ``U.S.`` is ``U`` and ``S``; ``3.5`` is
  ``3`` and ``5``; ``snake_case`` is ``snake`` and ``case``.
* **Case is kept** as written: matching is case-sensitive (ALGORITHM.md §3), so "Paris" and
  "paris" are different entries and each is admitted by its own count.
* A **bigram** is two consecutive tokens of one line separated by whitespace only: its entry
  ``"w1 w2"`` (one space) is then what the matcher sees there, since spacing() turns any
  whitespace into spaces. ``Paris, France`` has no bigram: the key `` Paris France `` never
  occurs in the spaced text. Bigrams never cross a line break (paragraphs, list items).

Why joiners join: the matcher splits a text only at whitespace and ``, . ; : ? ! ``` ``
(spacing()), never at ``-`` or ``'``, so ``shirt`` inside ``T-shirt`` can never match
(ALGORITHM.md §3); counting it there would admit strings by occurrences that no text can
match. For the same reason ``.`` separates: ``3.5`` matches ``3`` and ``5``. Combining marks
are part of words (the vowel signs of Devanagari, Thai, ...), which ``re``'s ``\\w`` leaves out.

Languages written without spaces (Chinese, Japanese, Thai ...) come out as runs of a whole
phrase: this tokenizer does not segment them; use `--wordfreq` (segmented by wordfreq) or
titles for such languages.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter

__all__ = ["TOKEN", "JOINERS", "tokens", "count_line"]

JOINERS = "-\u2010\u2011'\u2019\u00b7\u200c\u200d"


def _mark_class() -> str:
    """A regex character class body holding every combining mark (Unicode M*). They all lie
    in planes 0, 1 and 14 (tests/test_metadata_build.py checks against a scan of all)."""
    ranges: list[list[int]] = []
    for block in (range(0, 0x20000), range(0xE0000, 0xE1000)):
        for cp in block:
            if unicodedata.category(chr(cp))[0] == "M":
                if ranges and ranges[-1][1] == cp - 1:
                    ranges[-1][1] = cp
                else:
                    ranges.append([cp, cp])
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
                   for a, b in ranges)


# [^\W_] is str.isalnum(); marks are tried only where a run of letters ends, which keeps the
# pattern about as fast as a plain \w+ scan on text with few marks.
_RUN = rf"[^\W_]+(?:[{_mark_class()}]+[^\W_]*)*"
TOKEN = re.compile(rf"{_RUN}(?:[{re.escape(JOINERS)}]{_RUN})*")


def tokens(line: str) -> list[str]:
    """The tokens of one line, in order."""
    return TOKEN.findall(line)


def count_line(line: str, unigrams: Counter, bigrams: Counter) -> int:
    """Add the line's tokens to `unigrams` and its bigrams ((w1, w2) tuples) to `bigrams`;
    returns the number of tokens."""
    prev = None
    prev_end = 0
    n = 0
    for m in TOKEN.finditer(line):
        token = m.group()
        start = m.start()
        unigrams[token] += 1
        if prev is not None and line[prev_end:start].isspace():
            bigrams[prev, token] += 1
        prev = token
        prev_end = m.end()
        n += 1
    return n
