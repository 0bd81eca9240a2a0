"""core.pick: one text per image picked from rows sorted by image_uuid (a whole file, or
a partition after a shuffle) gives exactly what choose_texts (the reference) gives; rows
out of order are caught; ranges_are_disjoint on hand-made cases."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from curate.core.pick import TextPicker, ranges_are_disjoint
from curate.core.sampling import ROW_KEY
from curate.core.reference import choose_texts, row_keys, text_draw

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


def pick_all(table: pa.Table, batch_rows: int):
    picker = TextPicker()
    picked = list(picker.pick(iter(table.to_batches(batch_rows))))
    return picker, picked


def chosen(batches, table_schema) -> set[tuple[str, str, str]]:
    rows = pa.Table.from_batches(batches, schema=table_schema) if batches else None
    if rows is None:
        return set()
    return set(zip(rows["image_uuid"].to_pylist(), rows["text"].to_pylist(),
                   rows["url"].to_pylist()))


@pytest.mark.parametrize("batch_rows", [1, 7, 64, 100_000])
def test_the_picks_are_choose_texts(batch_rows):
    """Every image picked once, its first image and its last too, whatever the batches
    (images straddle batch ends), exactly as the reference."""
    table = sorted_rows(np.random.default_rng(batch_rows), 600)
    picker, picked = pick_all(table, batch_rows)
    assert picker.sorted and picker.rows == table.num_rows
    want = chosen(list(choose_texts(iter(table.to_batches(50)), SEED)), table.schema)
    assert chosen(picked, table.schema) == want and len(want) == 600
    assert sum(batch.num_rows for batch in picked) == 600


def test_ties_are_settled_by_the_rest_of_the_row():
    """Two copies of (image, text) share a draw: the smaller url wins, as in unit_order."""
    copied, other = sorted(["same", "zzz"], key=lambda t: text_draw(SEED, "b", t))
    table = pa.table({"image_uuid": ["a", "b", "b", "b", "c"],
                      "text": ["t", copied, copied, other, "t"],
                      "url": ["u", "http://2", "http://1", "http://0", "u"],
                      "lang": ["en"] * 5, "matched_entry_ids": [[1]] * 5})
    table = with_keys(table)
    picker, picked = pick_all(table, 100)
    want = chosen(list(choose_texts(iter(table.to_batches()), SEED)), table.schema)
    assert chosen(picked, table.schema) == want
    assert want == {("a", "t", "u"), ("b", copied, "http://1"), ("c", "t", "u")}


def test_rows_out_of_order_stop_the_picking():
    rng = np.random.default_rng(1)
    table = sorted_rows(rng, 200)
    rows = list(range(table.num_rows))
    rows[100], rows[150] = rows[150], rows[100]
    for batch_rows in (30, 1000):
        picker, picked = pick_all(table.take(rows), batch_rows)
        assert not picker.sorted
        assert sum(batch.num_rows for batch in picked) < 200   # it stopped
    # Out of order across batch ends is caught too.
    half = table.num_rows // 2
    picker, _ = pick_all(pa.concat_tables([table.slice(half), table.slice(0, half)]), half)
    assert not picker.sorted


@pytest.mark.parametrize("ranges, disjoint", [
    ([("a", "c"), ("d", "f")], True),
    ([("d", "f"), ("a", "c")], True),
    ([("a", "c"), ("c", "f")], False),         # image c in two files: it would be split
    ([("a", "a"), ("b", "b")], True),
    ([("a", "e"), ("c", "c")], False),         # c inside a..e
    ([("a", "e"), ("b", "f")], False),
    ([("a", "z"), ("b", "c"), ("d", "e")], False),
    ([], True),
])
def test_ranges_are_disjoint(ranges, disjoint):
    assert ranges_are_disjoint([tuple(r) for r in ranges]) is disjoint
