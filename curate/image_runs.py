"""One text per image without a shuffle, for input sorted by image_uuid (unit "image").

dedup writes its rows range-partitioned and sorted by image_uuid, and match keeps each
file's order, so every Parquet file the sample stage reads holds a sorted, disjoint range
of images. A Spark task reads contiguous pieces of such files ("chunks"). Inside a chunk,
every image other than its first and last one has all its rows right there, so its text
can be picked on the spot (sampling.unit_order, as the shuffle would). The first and last
image of a chunk may go on in the neighbouring chunk: their rows are set aside ("edges")
and settled together afterwards.

That holds only if no row outside a chunk falls strictly between the chunk's first and
last image_uuid. The tasks report each chunk's (first, last) and whether it was sorted;
`runs_are_disjoint` checks the condition over all of them, and the stage takes the
shuffle path instead whenever it does not hold, so the output is the same either way.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.sampling import _UNIT_ORDER_COLUMNS, ROW_KEY, text_draws, unit_order

# The column the Spark stage adds (besides sampling's row key, from which the text draws
# come: sampling.text_draws): where a row was read from (Spark's
# _metadata.file_block_start + _metadata.row_index: one number, so the JVM hands over one
# column). A chunk is a stretch of rows whose
# positions follow each other: a piece of one split. Rows of another split that happen to
# go on with the next number would join the chunk: then the chunk is out of order or
# overlaps others (and the stage takes the shuffle), or it is not, and picking inside it
# is right anyway.
POSITION = "position"


class ChunkPicker:
    """Picks one row per image inside chunks, streaming: `pick(batches)` yields the picked
    rows; afterwards `edges` holds the batches of rows set aside, `runs` the (first, last)
    image_uuid of each chunk and `sorted` whether every chunk was in order. A chunk found
    out of order stops the picking (the stage then takes the shuffle path)."""

    def __init__(self, whole_images: bool = False) -> None:
        # whole_images: the batches hold every row of each image they hold (a shuffle by
        # image_uuid put them together, then a sort): one chunk, nothing set aside, no
        # position column.
        self.whole_images = whole_images
        self.edges: list[pa.RecordBatch] = []
        self.runs: list[list[str]] = []
        self.sorted = True
        self.rows = 0

    def pick(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        carry, carry_starts_chunk = None, True
        for batch in batches:
            if not self.sorted or not batch.num_rows:
                continue   # (the rest is read but not looked at)
            self.rows += batch.num_rows
            if carry is not None:
                batch = pa.concat_batches([carry, batch])
            carry, carry_starts_chunk = yield from self._groups(batch, carry_starts_chunk,
                                                               last=False)
        if carry is not None and self.sorted:
            yield from self._groups(carry, carry_starts_chunk, last=True)

    def _groups(self, batch: pa.RecordBatch, first_starts_chunk: bool, last: bool):
        """Sorts out the groups (rows of one image in one chunk) of the batch; the last
        group is returned to be carried into the next batch (unless `last`): whether it
        ends its chunk is not known yet."""
        uuids = batch.column("image_uuid")
        if self.whole_images:
            same_chunk = np.ones(batch.num_rows - 1, bool)
        else:
            position = batch.column(POSITION).to_numpy(zero_copy_only=False)
            same_chunk = position[1:] == position[:-1] + 1
        if (_less(uuids[1:], uuids[:-1]) & same_chunk).any():
            self.sorted = False
            return None, True
        chunk_start = np.concatenate(([first_starts_chunk], ~same_chunk))
        group_start = chunk_start.copy()
        group_start[0] = True
        group_start[1:] |= _not_equal(uuids[1:], uuids[:-1])
        starts = np.flatnonzero(group_start)
        ends = np.append(starts[1:], batch.num_rows)
        done = len(starts) if last else len(starts) - 1   # groups settled in this call
        first_in_chunk = chunk_start[starts[:done]]
        last_in_chunk = np.append(chunk_start[starts[1:]], True)[:done]
        self._record_runs(uuids, starts[:done], first_in_chunk)
        edge = (first_in_chunk | last_in_chunk) & (not self.whole_images)
        if edge.any():
            self.edges.append(batch.take(pa.array(_ranges(starts[:done][edge],
                                                          ends[:done][edge]))))
        picked = _first_in_unit_order(batch, starts[:done], ends[:done], ~edge)
        if len(picked):
            yield batch.take(pa.array(picked, pa.int64()))
        if last:
            return None, True
        return batch.slice(starts[-1]), bool(chunk_start[starts[-1]])

    def _record_runs(self, uuids: pa.Array, group_starts: np.ndarray,
                     first_in_chunk: np.ndarray) -> None:
        if not len(group_starts):
            return
        for at in np.flatnonzero(first_in_chunk).tolist():
            if at > 0 and self.runs:
                self.runs[-1][1] = uuids[int(group_starts[at - 1])].as_py()
            first = uuids[int(group_starts[at])].as_py()
            self.runs.append([first, first])
        self.runs[-1][1] = uuids[int(group_starts[-1])].as_py()


def _less(a: pa.Array, b: pa.Array) -> np.ndarray:
    return pc.less(a, b).to_numpy(zero_copy_only=False)


def _not_equal(a: pa.Array, b: pa.Array) -> np.ndarray:
    return pc.not_equal(a, b).to_numpy(zero_copy_only=False)


def _first_in_unit_order(batch: pa.RecordBatch, starts: np.ndarray, ends: np.ndarray,
                         interior: np.ndarray) -> np.ndarray:
    """The row of each interior group (rows starts[g]:ends[g]) that comes first in
    sampling.unit_order: the smallest draw; where two rows of a group share it (only
    copies of one (image, text)), the rest of the row decides, as in unit_order."""
    starts, ends = starts[interior], ends[interior]
    if not len(starts):
        return starts
    rows, sizes = _ranges(starts, ends), ends - starts
    keys = batch.column(ROW_KEY).to_numpy(zero_copy_only=False)[rows].view(np.uint64)
    draws = text_draws(keys)
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    smallest = np.minimum.reduceat(draws, offsets)
    at_smallest = draws == np.repeat(smallest, sizes)
    # The first row at the smallest draw of each group, and how many share it.
    hits = np.flatnonzero(at_smallest)
    group = np.repeat(np.arange(len(starts)), sizes)[hits]
    first_hit = np.concatenate(([True], group[1:] != group[:-1]))
    picked = rows[hits[first_hit]]
    for g in np.flatnonzero(np.add.reduceat(at_smallest, offsets) > 1).tolist():
        group_rows = slice(offsets[g], offsets[g] + sizes[g])
        candidates = rows[group_rows][at_smallest[group_rows]]
        picked[g] = min(candidates.tolist(), key=lambda r: unit_order(
            int(smallest[g]), _row(batch, r)))
    return picked


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The concatenation of arange(starts[g], ends[g]) over g, without a Python loop."""
    sizes = ends - starts
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(sizes)[:-1])), sizes)
    return np.arange(sizes.sum()) + offsets


def _row(batch: pa.RecordBatch, at: int) -> dict:
    return {name: batch.column(name)[at].as_py() for name in _UNIT_ORDER_COLUMNS}


def runs_are_disjoint(runs: list[tuple[str, str]]) -> bool:
    """No chunk has another chunk's row strictly between its first and last image_uuid:
    ordered by their first, each chunk starts at or after every earlier chunk's last."""
    highest = None
    for first, last in sorted(runs):
        if highest is not None and first < highest:
            return False
        highest = last if highest is None else max(highest, last)
    return True
