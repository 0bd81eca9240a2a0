"""Balanced sampling (ALGORITHM.md §5), pure Python + numpy.

Every coin is a hash of (seed, image_uuid, text, entry_id), so a pair's fate depends on
nothing else: not on partitioning, task retries or cluster size.
"""
from __future__ import annotations

import hashlib
import struct
from typing import Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate import schemas

_TWO_TO_MINUS_53 = 2.0 ** -53


def keep_probabilities(entry_counts: np.ndarray, t: int) -> np.ndarray:
    """p[e] = 1 for tail entries (count < t), t / count[e] for head entries."""
    counts = np.asarray(entry_counts, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(counts < t, 1.0, t / np.maximum(counts, 1.0))


def coin(seed: int, image_uuid: str, text: str, entry_id: int) -> float:
    """A uniform number in [0, 1) fixed by its arguments."""
    key = struct.pack("<q", seed)
    message = f"{image_uuid}\x1f{entry_id}\x1f{text}".encode("utf-8")
    bits = int.from_bytes(hashlib.blake2b(message, digest_size=8, key=key).digest(), "little")
    return (bits >> 11) * _TWO_TO_MINUS_53


def keep_pair(seed: int, image_uuid: str, text: str, entry_ids, p: np.ndarray) -> bool:
    """Algorithm 1: one coin per matched entry, kept if any succeeds: 1 - prod(1 - p[e])."""
    # A tail entry's coin always succeeds (p = 1), so no hash is needed for it.
    if any(p[e] >= 1.0 for e in entry_ids):
        return True
    return any(coin(seed, image_uuid, text, e) < p[e] for e in entry_ids)


def sample_batches(batches: Iterator[pa.RecordBatch], p_by_lang: Mapping[str, np.ndarray],
                   default_lang: str, seed: int) -> Iterator[pa.RecordBatch]:
    """Matched-schema batches in, the kept rows in curated schema out."""
    for batch in batches:
        langs = pc.fill_null(batch.column("lang"), default_lang).to_pylist()
        missing = set(langs) - set(p_by_lang)
        if missing:
            raise ValueError(f"matched rows in language(s) {sorted(missing)} have no counts; "
                             f"count this matched set first")
        keep = [
            keep_pair(seed, uuid, text, ids, p_by_lang[lang])
            for uuid, text, ids, lang in zip(batch.column("image_uuid").to_pylist(),
                                             batch.column("text").to_pylist(),
                                             batch.column("matched_entry_ids").to_pylist(),
                                             langs)
        ]
        kept = batch.select(schemas.CURATED.names).filter(pa.array(keep, pa.bool_()))
        if kept.num_rows:
            yield kept
