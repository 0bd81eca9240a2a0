"""One metadata list from the candidates of its sources (ALGORITHM.md §3).

Sources, in list order, each with a one-letter tag and the statistic that admitted a string:

    tag  source                                statistic        order within the source
    w    WordNet synset head lemmas            none             string
    u    Wikipedia unigrams (counts)           count            count descending, string
    f    wordfreq unigrams                     frequency        frequency descending, string
    b    Wikipedia bigrams                     PMI              PMI descending, string
    t    Wikipedia titles (pageviews)          views            views descending, string
         (or a titles file)                    rank / none      rank, string / string
    n    the numbers "0" ... "99"              the number       the number

So the order is (source, statistic, string) and a rebuild from the same inputs gives the same
ids. Then, walking that order: empty (or whitespace-only) strings and single punctuation
characters are removed; a string already placed is a duplicate and is kept once, at its first
place; a source past its budget (``--budget-*``: ``u`` and ``f`` share the unigram budget)
places nothing more. The numbers are always placed (they have no budget).
"""
from __future__ import annotations

import string
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["SOURCE_TAGS", "BUDGET_GROUPS", "Block", "Entry", "Assembled", "is_dropped",
           "numbers", "assemble"]

# tag -> (what it is, its budget group)
SOURCE_TAGS = {
    "w": "WordNet synset head lemmas",
    "u": "Wikipedia unigrams",
    "f": "wordfreq unigrams",
    "b": "Wikipedia bigrams",
    "t": "Wikipedia titles",
    "n": 'the numbers "0" ... "99"',
}
BUDGET_GROUPS = {"w": "wordnet", "u": "unigrams", "f": "unigrams", "b": "bigrams",
                 "t": "titles"}


@dataclass
class Block:
    """A source's candidates: (string, statistic) pairs, in any order."""
    tag: str
    items: list[tuple[str, float | int | None]]
    statistic: str | None = None      # its name: "count", "pmi", "views", "rank" ...
    descending: bool = True           # larger statistic first (False: rank, number)
    details: dict = field(default_factory=dict)   # what the source read, for the summary

    def ordered(self) -> list[tuple[str, float | int | None]]:
        if self.statistic is None:
            return sorted(self.items, key=lambda item: item[0])
        sign = -1 if self.descending else 1
        return sorted(self.items, key=lambda item: (sign * item[1], item[0]))


@dataclass(frozen=True)
class Entry:
    entry: str
    source: str
    statistic: float | int | None


@dataclass
class Assembled:
    entries: list[Entry]
    offered: dict[str, int]              # per tag: candidates
    kept: dict[str, int]                 # per tag: entries placed
    dropped: dict[str, int]              # per reason
    statistics: dict[str, str | None]    # per tag: the statistic's name
    details: dict[str, dict]             # per tag: what the source read

    @property
    def strings(self) -> list[str]:
        return [e.entry for e in self.entries]


def is_dropped(s: str) -> str | None:
    """The reason a string is not an entry (ALGORITHM.md §3), or None."""
    if not s.strip():
        return "empty"
    if len(s) == 1 and (unicodedata.category(s).startswith("P") or s in string.punctuation):
        return "punctuation"
    return None


def numbers() -> Block:
    return Block("n", [(str(i), i) for i in range(100)], "number", descending=False)


def assemble(blocks: list[Block], budgets: dict[str, int | None] | None = None) -> Assembled:
    """The list from the blocks (any order; numbers are added when missing)."""
    budgets = budgets or {}
    if not any(b.tag == "n" for b in blocks):
        blocks = [*blocks, numbers()]
    order = list(SOURCE_TAGS)
    for b in blocks:
        if b.tag not in SOURCE_TAGS:
            raise ValueError(f"unknown source tag {b.tag!r}")
    tags = [b.tag for b in blocks]
    if len(set(tags)) != len(tags):
        raise ValueError(f"one block per source: {tags}")
    blocks = sorted(blocks, key=lambda b: order.index(b.tag))

    seen: set[str] = set()
    entries: list[Entry] = []
    offered: dict[str, int] = {}
    kept: dict[str, int] = {}
    dropped: Counter = Counter()
    used: Counter = Counter()   # per budget group
    for block in blocks:
        offered[block.tag] = len(block.items)
        kept[block.tag] = 0
        group = BUDGET_GROUPS.get(block.tag)
        budget = budgets.get(group) if group else None
        for text, statistic in block.ordered():
            reason = is_dropped(text)
            if reason is None and text in seen:
                reason = "duplicate"
            if reason is None and budget is not None and used[group] >= budget:
                reason = "over_budget"
            if reason is not None:
                dropped[reason] += 1
                continue
            seen.add(text)
            entries.append(Entry(text, block.tag, statistic))
            kept[block.tag] += 1
            if group:
                used[group] += 1
    return Assembled(entries, offered, kept, dict(sorted(dropped.items())),
                     {b.tag: b.statistic for b in blocks}, {b.tag: b.details for b in blocks})
