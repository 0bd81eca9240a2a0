"""Substring matching of texts against metadata (ALGORITHM.md §3), pure Python.

`Matcher` holds one Aho-Corasick automaton over the English (v1) keys of all entries.
On Spark, `worker_matcher` builds it once per Python worker and reuses it across
batches and tasks.
"""
from __future__ import annotations

from typing import Iterator

import ahocorasick
import pyarrow as pa

from curate import schemas
from curate.metadata import Metadata

WRAPPED_PUNCTUATION = (",", ".", ";", ":", "?", "!", "`")
SPACED_CHARACTERS = ("\t", "\n", "\r")


def spacing(text: str) -> str:
    """MetaCLIP's normalisation: pad the text, wrap punctuation in spaces, whitespace to space."""
    spaced = f" {text} "
    for punct in WRAPPED_PUNCTUATION:
        spaced = spaced.replace(punct, f" {punct} ")
    for char in SPACED_CHARACTERS:
        spaced = spaced.replace(char, " ")
    return spaced


def entry_key(entry: str) -> str:
    """English (v1) key: the entry between two spaces, so only whole words match."""
    return f" {entry} "


class Matcher:
    def __init__(self, metadata: Metadata):
        self.metadata = metadata
        self._automaton = _build_automaton(metadata.entries)

    def match(self, text: str) -> list[int]:
        """Sorted ids of every entry whose key occurs in spacing(text)."""
        found: set[int] = set()
        for _end, entry_ids in self._automaton.iter(spacing(text)):
            found.update(entry_ids)
        return sorted(found)

    def match_texts(self, texts: list[str | None]) -> list[list[int]]:
        # Web texts repeat heavily ("image", "logo"): match each distinct text once.
        seen: dict[str, list[int]] = {}
        out = []
        for text in texts:
            if text is None:
                out.append([])
                continue
            ids = seen.get(text)
            if ids is None:
                ids = seen[text] = self.match(text)
            out.append(ids)
        return out

    def match_batches(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """Dedup-schema batches in, matched-schema batches out; rows with no match leave."""
        for batch in batches:
            ids = self.match_texts(batch.column("text").to_pylist())
            keep = pa.array([bool(i) for i in ids], pa.bool_())
            columns = [batch.column(name) for name in schemas.DEDUP.names]
            columns.append(pa.array(ids, schemas.MATCHED.field("matched_entry_ids").type))
            matched = pa.RecordBatch.from_arrays(columns, schema=schemas.MATCHED).filter(keep)
            if matched.num_rows:
                yield matched


def _build_automaton(entries) -> ahocorasick.Automaton:
    automaton = ahocorasick.Automaton()
    ids_by_key: dict[str, list[int]] = {}
    for entry_id, entry in enumerate(entries):
        ids_by_key.setdefault(entry_key(entry), []).append(entry_id)
    # Duplicate entries share a key; each keeps its own id (ids are positions).
    for key, ids in ids_by_key.items():
        automaton.add_word(key, tuple(ids))
    automaton.make_automaton()
    return automaton


_WORKER_MATCHERS: dict[str, Matcher] = {}


def worker_matcher(metadata: Metadata) -> Matcher:
    """This Python worker's matcher for that metadata, built on first use and kept."""
    matcher = _WORKER_MATCHERS.get(metadata.fingerprint)
    if matcher is None:
        matcher = _WORKER_MATCHERS[metadata.fingerprint] = Matcher(metadata)
    return matcher
