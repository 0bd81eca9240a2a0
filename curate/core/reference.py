"""The reference: the executable form of ../shared/ALGORITHM.md, written for reading.

Each rule here works one row or one text at a time, as the algorithm states it; nothing in
the stages calls this module. The tests check the production path against it row for row
(core.sampling.sample_keyed_batches against sample_batches and keep_pair, core.pick against
choose_texts, core.matching.match_batches against match_texts, the extract readers against
parse_wat), and the benchmarks use it as the plain baseline.
"""
from __future__ import annotations

from typing import Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
from xxhash import xxh64_intdigest

from curate.core.counting import ids_by_language
from curate.core.extract.wat import wat_page, wat_text
from curate.core.sampling import (UNIT_ORDER_COLUMNS, _chain_seed, _kept, coins, text_draws,
                                  unit_order)


# ------------------------------------------------------------- §5: the keep rule

def row_keys(seed: int, image_uuids: list[str], texts: list[str]) -> np.ndarray:
    """The row key of each (image_uuid, text): 64 bits fixed by (seed, image_uuid, text),
    from which every coin of the pair derives. Spark's xxhash64(seed as a long,
    image_uuid, text) (the sample stage's row key column), as uint64 (the long's two's complement)."""
    h = _chain_seed(seed)
    return np.array([xxh64_intdigest(t.encode("utf-8"), xxh64_intdigest(u.encode("utf-8"), h))
                     for u, t in zip(image_uuids, texts)], dtype=np.uint64)


def coin(seed: int, image_uuid: str, text: str, entry_id: int) -> float:
    """The coin of one (pair, entry): a uniform number in [0, 1) fixed by its arguments."""
    return float(coins(row_keys(seed, [image_uuid], [text]), np.array([entry_id]))[0])


def text_draw(seed: int, image_uuid: str, text: str) -> int:
    """The draw that picks an image's text (unit "image"): its texts' draws are distinct
    uniform 64-bit numbers, the smallest wins, so each text is equally likely to be picked.
    A hash of the row key (row_keys): Spark's xxhash64(DRAW_SALT, row key) as a signed
    long so the Python tasks compute it from the key the JVM already
    sends (text_draws) and the JVM hashes each text once. XXH64 of one long is a bijection
    of it, so two texts share a draw only if they share a key."""
    return int(text_draws(row_keys(seed, [image_uuid], [text]))[0])


def keep_pair(seed: int, image_uuid: str, text: str, entry_ids, p: np.ndarray) -> bool:
    """Algorithm 1: one coin per matched entry, kept if any succeeds: 1 - prod(1 - p[e])."""
    # A tail entry's coin always succeeds (p = 1), so no hash is needed for it.
    if any(p[e] >= 1.0 for e in entry_ids):
        return True
    return any(coin(seed, image_uuid, text, e) < p[e] for e in entry_ids)


def sample_batches(batches: Iterator[pa.RecordBatch], p_by_lang: Mapping[str, np.ndarray],
                   default_lang: str, seed: int, stats: dict | None = None
                   ) -> Iterator[pa.RecordBatch]:
    """Matched-schema batches in, the kept rows in curated schema out. `stats`, when
    given, gets "rows" and "expected" (the sum of the rows' keep probabilities) added."""
    for batch in batches:
        keys = row_keys(seed, batch.column("image_uuid").to_pylist(),
                        batch.column("text").to_pylist())
        yield from _kept(batch, keys, ids_by_language(batch, default_lang), p_by_lang, stats)


def choose_texts(batches: Iterator[pa.RecordBatch], seed: int) -> Iterator[pa.RecordBatch]:
    """One row per image: the first in unit_order. The batches must hold each image's rows
    together (sorted by image_uuid), possibly across batch ends. (The Spark stage picks the
    same rows with core.pick.TextPicker.)"""
    pending = None   # (image_uuid, order, batch, row) of the image still open at a batch end
    for batch in batches:
        rows = batch.select(("image_uuid",) + UNIT_ORDER_COLUMNS).to_pylist()
        picked: list[int] = []
        carried = None
        best: tuple | None = pending
        for at, row in enumerate(rows):
            uuid = row["image_uuid"]
            order = unit_order(text_draw(seed, uuid, row["text"]), row)
            if best is not None and best[0] == uuid:
                if order < best[1]:
                    best = (uuid, order, batch, at)
                continue
            if best is not None:
                if best[2] is batch:
                    picked.append(best[3])
                else:
                    carried = best
            best = (uuid, order, batch, at)
        if carried is not None:
            yield carried[2].slice(carried[3], 1)
        if picked:
            yield batch.take(pa.array(picked, pa.int64()))
        pending = best
    if pending is not None:
        yield pending[2].slice(pending[3], 1)

# ------------------------------------------------------------- §4: matching


def match_texts(matcher, texts: Sequence[str | None]) -> list[list[int]]:
    """The matched entry ids of each text (None: no match), one text at a time with
    `matcher.match` (core.matching.Matcher), each distinct text matched once."""
    seen: dict[str, list[int]] = {}
    out = []
    for text in texts:
        ids = seen.get(text)
        if ids is None:
            ids = seen[text] = matcher.match(text) if text is not None else []
        out.append(ids)
    return out


# ------------------------------------------------------------- §1: WAT records


def parse_wat(payload: bytes) -> tuple[str | None, str | None, list[dict[str, str]]] | None:
    """wat_page with the images in the HTML extractor's shape: dicts with `src` and the
    text attributes present, character references decoded."""
    page = wat_page(payload)
    if page is None:
        return None
    page_url, base, links = page
    images = [{attr: wat_text(value) for attr, value in zip(("src", "alt", "title"), link)
               if value is not None} for link in links]
    return page_url, base, images
