"""Global count of matches per metadata entry (ALGORITHM.md §4), pure Python + numpy.

Each batch of matched rows becomes one count vector per language (`np.bincount` over the
flattened entry ids); a partition sums its batches' vectors and sends on one sparse
vector per language (its nonzero entries, as bytes); the partitions' vectors are summed
by a tree reduce. No row-level data moves, and the cost does not grow with the number of
matches per text beyond the bincount. A text counts once per entry because its matched
set holds each id once.
"""
from __future__ import annotations

from typing import Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate import schemas

# {lang: (texts, dense count vector)}: what merge_totals adds up.
Totals = dict


def ids_by_language(batch: pa.RecordBatch, default_lang: str
                    ) -> Iterator[tuple[str, np.ndarray, pa.ListArray]]:
    """(language, its rows' positions, their matched_entry_ids) for each language of a
    batch (a null lang is default_lang); a one-language batch's lists are not copied."""
    langs = pc.dictionary_encode(pc.fill_null(batch.column("lang"), default_lang))
    yield from ids_by_language_code(langs.indices.to_numpy(zero_copy_only=False),
                                    batch.column("matched_entry_ids"),
                                    langs.dictionary.to_pylist())


def ids_by_language_code(codes: np.ndarray, ids: pa.ListArray, languages: list[str]
                         ) -> Iterator[tuple[str | None, np.ndarray, pa.ListArray]]:
    """ids_by_language for rows whose language comes as its index in `languages` (-1: a
    language not among them, given as None)."""
    present = np.unique(codes)
    if len(present) == 1:
        code = int(present[0])
        yield (languages[code] if code >= 0 else None), np.arange(len(codes)), ids
        return
    for code in present.tolist():
        rows = np.flatnonzero(codes == code)
        yield (languages[code] if code >= 0 else None), rows, ids.take(rows)


def batch_entry_ids(batch: pa.RecordBatch, n_entries: Mapping[str, int], default_lang: str
                    ) -> dict[str, np.ndarray]:
    """The batch's matched entry ids, flattened, per language (checked against its list)."""
    found = {}
    for lang, _rows, ids in ids_by_language(batch, default_lang):
        if lang not in n_entries:
            raise ValueError(f"matched rows in language {lang!r}, which the metadata has no "
                             f"list for (it has {', '.join(sorted(n_entries))})")
        flat = pc.list_flatten(ids).to_numpy(zero_copy_only=False)
        if len(flat) and (flat.max() >= n_entries[lang] or flat.min() < 0):
            raise ValueError(f"entry id {int(flat.max())} outside the {lang} metadata "
                             f"({n_entries[lang]} entries)")
        found[lang] = flat
    return found


# Ids are gathered to about this many before one bincount: a bincount costs the list's
# length (500k entries) however few ids it counts.
_BINCOUNT_IDS = 4_000_000


def partition_entry_counts(batches: Iterator[pa.RecordBatch], n_entries: Mapping[str, int],
                           default_lang: str) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """One partition's (texts per language, count vector per language): all that leaves it."""
    totals: dict[str, np.ndarray] = {}
    texts: dict[str, int] = {}
    pending: dict[str, list[np.ndarray]] = {}

    def count(lang: str) -> None:
        flat = np.concatenate(pending.pop(lang))
        vector = np.bincount(flat, minlength=n_entries[lang]).astype(np.int64)
        if lang in totals:
            totals[lang] += vector
        else:
            totals[lang] = vector

    for batch in batches:
        langs = pc.fill_null(batch.column("lang"), default_lang)
        for item in pc.value_counts(langs).to_pylist():
            texts[item["values"]] = texts.get(item["values"], 0) + item["counts"]
        for lang, flat in batch_entry_ids(batch, n_entries, default_lang).items():
            pending.setdefault(lang, []).append(flat)
            if sum(map(len, pending[lang])) >= _BINCOUNT_IDS:
                count(lang)
    for lang in list(pending):
        count(lang)
    return texts, totals


def sparse(vector: np.ndarray) -> tuple[bytes, bytes]:
    """A count vector's nonzero entries: (int32 ids, int64 counts) as raw bytes, what a
    task sends (a few of a 500k-entry list's entries are nonzero in one partition)."""
    ids = np.flatnonzero(vector)
    return ids.astype(np.int32).tobytes(), vector[ids].astype(np.int64).tobytes()


def dense(entry_ids: bytes, counts: bytes, size: int) -> np.ndarray:
    """sparse's bytes back as a count vector of `size` entries."""
    vector = np.zeros(size, dtype=np.int64)
    vector[np.frombuffer(entry_ids, dtype=np.int32)] = np.frombuffer(counts, dtype=np.int64)
    return vector


def merge_totals(a: Totals, b: Totals) -> Totals:
    """a + b, language by language (a is updated in place: tree-reduce friendly)."""
    for lang, (texts, vector) in b.items():
        if lang in a:
            a_texts, a_vector = a[lang]
            a_vector += vector
            a[lang] = (a_texts + texts, a_vector)
        else:
            a[lang] = (texts, vector.copy())
    return a


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
