"""image_runs: one text per image picked inside sorted chunks, the chunks' first and last
images set aside, gives exactly what choose_texts (the shuffle's pick) gives over all rows;
an unsorted chunk is caught; runs_are_disjoint on hand-made cases."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from curate.image_runs import POSITION, ChunkPicker, runs_are_disjoint
from curate.sampling import ROW_KEY, choose_texts, row_keys, text_draw

SEED = 5


def sorted_rows(rng, n_images: int) -> pa.Table:
    """Rows of n_images images (1-4 texts each) sorted by image_uuid, with the draw column;
    one image in ten has a copy of one of its (image, text) rows with another url, so
    draws tie and the rest of the row must decide, as in unit_order."""
    uuids, texts, urls = [], [], []
    for i in range(n_images):
        uuid = f"{rng.integers(1 << 40):012x}-{i:06d}"
        k = int(rng.integers(1, 5))
        for j in range(k):
            uuids.append(uuid)
            texts.append(f"text {i}.{j}")
            urls.append(f"http://x/{i}/{j}")
        if i % 10 == 0:
            uuids.append(uuid)
            texts.append(f"text {i}.0")
            urls.append(f"http://x/{i}/copy")
    order = sorted(range(len(uuids)), key=lambda r: (uuids[r], texts[r], urls[r]))
    table = pa.table({"image_uuid": [uuids[r] for r in order], "text": [texts[r] for r in order],
                      "url": [urls[r] for r in order], "lang": ["en"] * len(order),
                      "matched_entry_ids": [[1]] * len(order)})
    return with_keys(table)


def with_keys(table: pa.Table) -> pa.Table:
    """The row key column the stage adds (Spark's long; the draws come from it)."""
    keys = row_keys(SEED, table["image_uuid"].to_pylist(), table["text"].to_pylist())
    return table.append_column(ROW_KEY, pa.array(keys.view(np.int64)))


def with_chunks(table: pa.Table, cuts: list[int]) -> pa.Table:
    """The rows cut at `cuts` into chunks, positioned as the stage gives them (a split's
    byte offset + the row's number in its file): every other chunk starts its file again
    (position 0), the others are later splits of files."""
    position = np.zeros(table.num_rows, np.int64)
    for k, (a, b) in enumerate(zip([0] + cuts, cuts + [table.num_rows])):
        position[a:b] = np.arange(b - a) + (k % 2) * (4096 * k + 1000)
    return table.append_column(POSITION, pa.array(position))


def pick_all(table: pa.Table, batch_rows: int):
    picker = ChunkPicker()
    picked = list(picker.pick(iter(table.to_batches(batch_rows))))
    return picker, picked


def chosen(batches, table_schema) -> set[tuple[str, str, str]]:
    rows = pa.Table.from_batches(batches, schema=table_schema) if batches else None
    if rows is None:
        return set()
    return set(zip(rows["image_uuid"].to_pylist(), rows["text"].to_pylist(),
                   rows["url"].to_pylist()))


@pytest.mark.parametrize("batch_rows", [1, 7, 64, 100_000])
def test_picks_plus_settled_edges_are_the_shuffles_pick(batch_rows):
    rng = np.random.default_rng(batch_rows)
    table = sorted_rows(rng, 600)
    cuts = sorted(set(rng.integers(1, table.num_rows, size=12).tolist()))
    table = with_chunks(table, cuts)
    picker, picked = pick_all(table, batch_rows)
    assert picker.sorted and picker.rows == table.num_rows
    want = chosen(list(choose_texts(iter(table.to_batches(50)), SEED)), table.schema)
    edges = pa.Table.from_batches(picker.edges, schema=table.schema).sort_by(
        [("image_uuid", "ascending")])
    settled = list(choose_texts(iter(edges.to_batches(50)), SEED)) if edges.num_rows else []
    got = chosen(picked, table.schema)
    assert got | chosen(settled, table.schema) == want
    assert not got & chosen(settled, table.schema)
    # Only the first and last image of each chunk were set aside, with all their rows.
    edge_images = set(edges["image_uuid"].to_pylist())
    uuids = table["image_uuid"].to_pylist()
    bounds = [0] + cuts + [table.num_rows]
    expected_edges = {uuids[a] for a in bounds[:-1]} | {uuids[b - 1] for b in bounds[1:]}
    assert edge_images == expected_edges
    assert edges.num_rows == sum(u in expected_edges for u in uuids)
    # One run per chunk: its first and last image_uuid.
    assert picker.runs == [[uuids[a], uuids[b - 1]] for a, b in zip(bounds[:-1], bounds[1:])]


def test_ties_are_settled_by_the_rest_of_the_row():
    """Two copies of (image, text) share a draw: the smaller url wins, as in unit_order."""
    copied, other = sorted(["same", "zzz"], key=lambda t: text_draw(SEED, "b", t))
    table = pa.table({"image_uuid": ["a", "b", "b", "b", "c"],
                      "text": ["t", copied, copied, other, "t"],
                      "url": ["u", "http://2", "http://1", "http://0", "u"],
                      "lang": ["en"] * 5, "matched_entry_ids": [[1]] * 5})
    table = with_chunks(with_keys(table), [])
    picker, picked = pick_all(table, 100)
    want = chosen(list(choose_texts(iter(table.slice(1, 3).to_batches()), SEED)), table.schema)
    assert chosen(picked, table.schema) == want
    assert want == {("b", copied, "http://1")}   # the copies' draw is the smallest


def test_an_unsorted_chunk_stops_the_picking():
    rng = np.random.default_rng(1)
    table = sorted_rows(rng, 200)
    rows = list(range(table.num_rows))
    rows[100], rows[150] = rows[150], rows[100]
    table = with_chunks(table.take(rows), [40])
    picker, _ = pick_all(table, 30)
    assert not picker.sorted
    # Out of order across chunks is fine: each chunk is sorted.
    table = sorted_rows(rng, 200)
    half = table.num_rows // 2
    swapped = pa.concat_tables([table.slice(half), table.slice(0, half)])
    picker, _ = pick_all(with_chunks(swapped, [table.num_rows - half]), 30)
    assert picker.sorted


@pytest.mark.parametrize("runs, disjoint", [
    ([("a", "c"), ("d", "f")], True),
    ([("d", "f"), ("a", "c")], True),
    ([("a", "c"), ("c", "f")], True),          # an image on both edges: settled apart
    ([("a", "c"), ("c", "c"), ("c", "e")], True),
    ([("a", "e"), ("c", "c")], False),         # c inside a..e
    ([("a", "e"), ("b", "f")], False),
    ([("a", "z"), ("b", "c"), ("d", "e")], False),
    ([], True),
])
def test_runs_are_disjoint(runs, disjoint):
    assert runs_are_disjoint([list(r) for r in runs]) is disjoint


@pytest.mark.parametrize("batch_rows", [1, 64, 100_000])
def test_whole_images_picks_every_image_and_sets_nothing_aside(batch_rows):
    """whole_images (after a shuffle by image_uuid and a sort): no position column, the
    first and last image are picked too, the picks are choose_texts' over all rows."""
    table = sorted_rows(np.random.default_rng(batch_rows), 300)
    picker = ChunkPicker(whole_images=True)
    picked = list(picker.pick(iter(table.to_batches(batch_rows))))
    want = chosen(list(choose_texts(iter(table.to_batches(50)), SEED)), table.schema)
    assert chosen(picked, table.schema) == want and len(want) == 300
    assert picker.sorted and not picker.edges
