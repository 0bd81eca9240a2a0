"""Global count of matches per metadata entry (ALGORITHM.md §4), pure Python + numpy.

Each batch of matched rows becomes one count vector per language (`np.bincount` over the
flattened entry ids); partitions' vectors are summed. A text counts once per entry
because its matched set holds each id once.
"""
from __future__ import annotations

from typing import Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate import schemas

# A partition's output: nonzero (lang, entry_id, count) rows, plus one row per language
# with entry_id TEXTS_ROW whose count is the number of matched texts of that language.
TEXTS_ROW = -1
ENTRY_COUNT_ROWS = pa.schema([
    pa.field("lang", pa.string(), nullable=False),
    pa.field("entry_id", pa.int32(), nullable=False),
    pa.field("count", pa.int64(), nullable=False),
])


def batch_entry_counts(batch: pa.RecordBatch, n_entries: Mapping[str, int], default_lang: str
                       ) -> dict[str, np.ndarray]:
    """One count vector per language of the batch (`n_entries[lang]` long: its list's size)."""
    langs = pc.fill_null(batch.column("lang"), default_lang)
    ids = batch.column("matched_entry_ids")
    counts = {}
    for lang in pc.unique(langs).to_pylist():
        if lang not in n_entries:
            raise ValueError(f"matched rows in language {lang!r}, which the metadata has no "
                             f"list for (it has {', '.join(sorted(n_entries))})")
        rows = ids.filter(pc.equal(langs, lang))
        flat = rows.flatten().to_numpy(zero_copy_only=False)
        if len(flat) and (flat.max() >= n_entries[lang] or flat.min() < 0):
            raise ValueError(f"entry id {int(flat.max())} outside the {lang} metadata "
                             f"({n_entries[lang]} entries)")
        counts[lang] = np.bincount(flat, minlength=n_entries[lang]).astype(np.int64)
    return counts


def partition_entry_counts(batches: Iterator[pa.RecordBatch], n_entries: Mapping[str, int],
                           default_lang: str) -> Iterator[pa.RecordBatch]:
    """One partition's nonzero (lang, entry_id, count) rows: the only rows that leave it."""
    totals: dict[str, np.ndarray] = {}
    texts: dict[str, int] = {}
    for batch in batches:
        langs = pc.fill_null(batch.column("lang"), default_lang)
        for item in pc.value_counts(langs).to_pylist():
            texts[item["values"]] = texts.get(item["values"], 0) + item["counts"]
        for lang, vector in batch_entry_counts(batch, n_entries, default_lang).items():
            if lang in totals:
                totals[lang] += vector
            else:
                totals[lang] = vector
    for lang, vector in totals.items():
        nonzero = np.flatnonzero(vector)
        yield pa.RecordBatch.from_arrays(
            [pa.array([lang] * (len(nonzero) + 1), pa.string()),
             pa.array(np.append(nonzero, TEXTS_ROW).astype(np.int32)),
             pa.array(np.append(vector[nonzero], texts[lang]).astype(np.int64))],
            schema=ENTRY_COUNT_ROWS)


def summarize(vector: np.ndarray, texts: int | None, matched_texts: int) -> dict:
    total = int(vector.sum())
    return {
        "texts": texts,
        "matched_texts": matched_texts,
        "total_matches": total,
        "mean_matches_per_matched_text": total / matched_texts if matched_texts else 0.0,
        "entries": int(len(vector)),
        "entries_with_zero_matches": int((vector == 0).sum()),
    }


def count_rows(entry_ids: np.ndarray, entries_by_lang: Mapping[str, Sequence[str]],
               vectors: dict[str, np.ndarray]) -> Iterator[pa.RecordBatch]:
    """COUNTS rows for these entry ids (those a language's list has), one batch per language."""
    for code, vector in sorted(vectors.items()):
        entries = entries_by_lang[code]
        own = entry_ids[entry_ids < len(entries)]
        yield pa.RecordBatch.from_arrays(
            [pa.array(own.astype(np.int32)), pa.array([entries[i] for i in own], pa.string()),
             pa.array([code] * len(own), pa.string()), pa.array(vector[own])],
            schema=schemas.COUNTS)
