"""One text per image (unit "image"), streaming over rows sorted by image_uuid.

The sample stage hands each task whole images: a whole file of match's output (whose files
hold disjoint, sorted image_uuid ranges, as dedup writes them) or a partition shuffled by
image_uuid and sorted. `TextPicker` keeps, for each image, its first row in
sampling.unit_order (the smallest text draw; the rest of the row settles ties between
copies of one (image, text)), and notices rows out of order, after which it stops: the
stage then shuffles instead, so the output is the same either way.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.core.sampling import ROW_KEY, UNIT_ORDER_COLUMNS, text_draws, unit_order


class TextPicker:
    """`pick(batches)` yields one row per image; afterwards `rows` is the number of rows
    read and `sorted` whether they all came in image_uuid order."""

    def __init__(self) -> None:
        self.sorted = True
        self.rows = 0

    def pick(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        carry = None   # the rows of the last image of a batch: it may go on in the next
        for batch in batches:
            if not self.sorted or not batch.num_rows:
                continue   # (the rest is read but not looked at)
            self.rows += batch.num_rows
            if carry is not None:
                batch = pa.concat_batches([carry, batch])
            carry = yield from self._images(batch, last=False)
        if carry is not None and self.sorted:
            yield from self._images(carry, last=True)

    def _images(self, batch: pa.RecordBatch, last: bool):
        """Picks the batch's images but the last one (unless `last`), which is returned to
        be carried into the next batch."""
        uuids = batch.column("image_uuid")
        if _less(uuids[1:], uuids[:-1]).any():
            self.sorted = False
            return None
        image_start = np.concatenate(([True], _not_equal(uuids[1:], uuids[:-1])))
        starts = np.flatnonzero(image_start)
        ends = np.append(starts[1:], batch.num_rows)
        done = len(starts) if last else len(starts) - 1
        picked = _first_in_unit_order(batch, starts[:done], ends[:done])
        if len(picked):
            yield batch.take(pa.array(picked, pa.int64()))
        return None if last else batch.slice(starts[-1])


def _less(a: pa.Array, b: pa.Array) -> np.ndarray:
    return pc.less(a, b).to_numpy(zero_copy_only=False)


def _not_equal(a: pa.Array, b: pa.Array) -> np.ndarray:
    return pc.not_equal(a, b).to_numpy(zero_copy_only=False)


def _first_in_unit_order(batch: pa.RecordBatch, starts: np.ndarray, ends: np.ndarray
                         ) -> np.ndarray:
    """The row of each image (rows starts[g]:ends[g]) that comes first in
    sampling.unit_order: the smallest draw; where two rows of an image share it (only
    copies of one (image, text)), the rest of the row decides, as in unit_order."""
    if not len(starts):
        return starts
    rows, sizes = _ranges(starts, ends), ends - starts
    keys = batch.column(ROW_KEY).to_numpy(zero_copy_only=False)[rows].view(np.uint64)
    draws = text_draws(keys)
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    smallest = np.minimum.reduceat(draws, offsets)
    at_smallest = draws == np.repeat(smallest, sizes)
    # The first row at the smallest draw of each image, and how many share it.
    hits = np.flatnonzero(at_smallest)
    image = np.repeat(np.arange(len(starts)), sizes)[hits]
    first_hit = np.concatenate(([True], image[1:] != image[:-1]))
    picked = rows[hits[first_hit]]
    for g in np.flatnonzero(np.add.reduceat(at_smallest, offsets) > 1).tolist():
        image_rows = slice(offsets[g], offsets[g] + sizes[g])
        candidates = rows[image_rows][at_smallest[image_rows]]
        picked[g] = min(candidates.tolist(), key=lambda r: unit_order(
            int(smallest[g]), _row(batch, r)))
    return picked


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The concatenation of arange(starts[g], ends[g]) over g, without a Python loop."""
    sizes = ends - starts
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(sizes)[:-1])), sizes)
    return np.arange(sizes.sum()) + offsets


def _row(batch: pa.RecordBatch, at: int) -> dict:
    return {name: batch.column(name)[at].as_py() for name in UNIT_ORDER_COLUMNS}


def ranges_are_disjoint(ranges: list[tuple[str, str]]) -> bool:
    """No (first, last) image_uuid range overlaps another: ordered by their first, each
    starts after every earlier range's last (files sharing an image would split it)."""
    highest = None
    for first, last in sorted(ranges):
        if highest is not None and first <= highest:
            return False
        highest = last if highest is None else max(highest, last)
    return True
