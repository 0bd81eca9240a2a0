"""Pools, reference runs and hand-made tables shared by tests/core/test_balance.py and
tests/spark/test_balance_spark.py."""

from __future__ import annotations


import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate import schemas
from curate.options import SampleOptions, Thresholds
from curate.core.reference import choose_texts, row_keys, sample_batches
from curate.core.pick import TextPicker
from curate.core.sampling import LANG_CODE, ROW_KEY, sample_keyed_batches

# Chi-square critical values at p = 0.001, by degrees of freedom (standard table).
CHI2_999 = {1: 10.828, 2: 13.816, 3: 16.266, 4: 18.467}
SEED = 11


# --------------------------------------------------------------------------------------
# Synthetic pools
# --------------------------------------------------------------------------------------

def _strings(prefix: str, numbers: np.ndarray, width: int = 0, suffix: str = "") -> pa.Array:
    """prefix + number (zero-padded to `width`) + suffix, by Arrow compute (no Python loop)."""
    digits = pc.cast(pa.array(numbers), pa.string())
    if width:
        digits = pc.utf8_lpad(digits, width, "0")
    return pc.binary_join_element_wise(prefix, digits, suffix, "")


def zipf_pool(n_texts: int, n_entries: int, rng_seed: int, exponent: float = 1.1) -> dict:
    """n_texts matched texts, each with a sorted set of 1-5 distinct entries drawn from a
    Zipf law over n_entries entries; texts grouped into images of 1-5 texts, rows sorted by
    image_uuid. Returns the MATCHED table and its numpy parts."""
    rng = np.random.default_rng(rng_seed)
    weights = 1.0 / np.arange(1, n_entries + 1) ** exponent
    weights /= weights.sum()
    draws_per_text = rng.choice(np.arange(1, 6), size=n_texts, p=[.5, .2, .15, .1, .05])
    text_of_draw = np.repeat(np.arange(n_texts), draws_per_text)
    draws = rng.choice(n_entries, size=len(text_of_draw), p=weights)
    order = np.lexsort((draws, text_of_draw))              # by text, then entry
    draws, text_of_draw = draws[order], text_of_draw[order]
    first = np.ones(len(draws), dtype=bool)                # a set holds each entry once
    first[1:] = (draws[1:] != draws[:-1]) | (text_of_draw[1:] != text_of_draw[:-1])
    flat, text_of_match = draws[first].astype(np.int32), text_of_draw[first]
    lengths = np.bincount(text_of_match, minlength=n_texts)
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int32)

    image_sizes = rng.integers(1, 6, size=n_texts)         # more images than needed ...
    ends = np.cumsum(image_sizes)
    n_images = int(np.searchsorted(ends, n_texts)) + 1     # ... cut at n_texts texts
    image_sizes = image_sizes[:n_images].copy()
    image_sizes[-1] -= ends[n_images - 1] - n_texts
    image_of_text = np.repeat(np.arange(n_images), image_sizes)
    image_start = np.concatenate(([0], np.cumsum(image_sizes)[:-1]))
    position = np.arange(n_texts) - image_start[image_of_text]

    rows = np.arange(n_texts)
    columns = {name: pa.nulls(n_texts, schemas.MATCHED.field(name).type)
               for name in schemas.MATCHED.names}
    columns.update(
        image_uuid=_strings("img", image_of_text, width=8),
        url=_strings("http://example.com/", image_of_text, suffix=".jpg"),
        text=_strings("text ", rows),
        text_source=pa.array(np.full(n_texts, "alt")),
        source_path=pa.array(np.full(n_texts, "synthetic")),
        lang=pa.array(np.full(n_texts, "en")),
        matched_entry_ids=pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat)))
    table = pa.Table.from_pydict(columns, schema=schemas.MATCHED)
    return dict(table=table, flat=flat, offsets=offsets, lengths=lengths,
                counts=np.bincount(flat, minlength=n_entries), image_of_text=image_of_text,
                image_sizes=image_sizes, position=position, n_entries=n_entries)


def row_keep_probability(ids: pa.Array, p: np.ndarray) -> np.ndarray:
    """1 - prod(1 - p[e]) per row of a list<int32> column, computed here independently
    of curate (products by np.multiply.reduceat)."""
    ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    flat = ids.flatten().to_numpy(zero_copy_only=False)
    lengths = pc.list_value_length(ids).to_numpy(zero_copy_only=False)
    assert lengths.min() >= 1
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    return 1.0 - np.multiply.reduceat(1.0 - p[flat], starts)


def text_numbers(table: pa.Table) -> np.ndarray:
    """The row number i of each "text i" (every text of a pool is distinct)."""
    return pc.cast(pc.utf8_slice_codeunits(table["text"], 5), pa.int64()).to_numpy()


def run_sample_batches(table: pa.Table, p: np.ndarray, seed: int, rows: int = 65536):
    out = list(sample_batches(iter(table.to_batches(rows)), {"en": p}, "en", seed))
    return pa.Table.from_batches(out, schema=schemas.CURATED)


def keyed(table: pa.Table, seed: int) -> pa.Table:
    """The rows as the sample stage's tasks get them: with the row key the JVM computes
    (Spark's xxhash64, equal to row_keys: test_sampling.py) and the language code (0: en)."""
    keys = row_keys(seed, table["image_uuid"].to_pylist(), table["text"].to_pylist())
    return table.append_column(ROW_KEY, pa.array(keys.view(np.int64))).append_column(
        LANG_CODE, pa.array(np.zeros(table.num_rows, np.int32)))


def run_keep_rule(table: pa.Table, p: np.ndarray, seed: int, rows: int = 65536) -> pa.Table:
    """The production keep rule (what a sample task runs: sample_keyed_batches)."""
    out = list(sample_keyed_batches(iter(keyed(table, seed).to_batches(rows)), {"en": p},
                                    ["en"]))
    return pa.Table.from_batches(out, schema=schemas.CURATED)


def run_pick(table: pa.Table, seed: int, rows: int) -> pa.Table:
    """The production pick of one text per image (core.pick.TextPicker), table's columns."""
    picked = list(TextPicker().pick(iter(keyed(table, seed).to_batches(rows))))
    return pa.Table.from_batches(picked).select(table.schema.names)


def run_choose_texts(table: pa.Table, seed: int, rows: int) -> pa.Table:
    batches = table.to_batches(rows) if rows else [table.combine_chunks().to_batches()[0]]
    return pa.Table.from_batches(list(choose_texts(iter(batches), seed)), schema=table.schema)


def sample_options(t: int, seed: int, unit: str) -> SampleOptions:
    return SampleOptions(Thresholds(t), seed, unit)


def image_boundaries(table: pa.Table, n_files: int) -> list[int]:
    """Row numbers cutting a table sorted by image_uuid into about n_files parts, never
    inside an image (as dedup's range partitioning cuts)."""
    uuids = table["image_uuid"].to_pylist()
    cuts = [0]
    for at in np.linspace(0, len(uuids), n_files + 1)[1:-1].astype(int).tolist():
        while 0 < at < len(uuids) and uuids[at] == uuids[at - 1]:
            at += 1
        cuts.append(at)
    return cuts + [len(uuids)]


def pairs_of(table: pa.Table) -> set[tuple[str, str]]:
    return set(zip(table["image_uuid"].to_pylist(), table["text"].to_pylist()))


# --------------------------------------------------------------------------------------
# The keep rule by hand
# --------------------------------------------------------------------------------------

HAND_T = 10
HAND_COUNTS = np.array([0, 5, 9, 10, 11, 20, 40, 100])
# p[e] = 1 below t (and at t: t / t = 1), t / count[e] above it.
HAND_P = [1.0, 1.0, 1.0, 1.0, 10 / 11, 0.5, 0.25, 0.1]
# Matched set -> keep probability 1 - prod(1 - p[e]), by hand.
HAND_SETS = {
    (5,): 0.5,
    (4,): 10 / 11,
    (5, 6): 1 - 0.5 * 0.75,                 # 0.625, not max(p) = 0.5
    (6, 7): 1 - 0.75 * 0.9,                 # 0.325
    (5, 6, 7): 1 - 0.5 * 0.75 * 0.9,        # 0.6625
    (4, 5, 6, 7): 1 - (1 / 11) * 0.5 * 0.75 * 0.9,
    (1, 7): 1.0,                            # a tail entry: always kept
    (3,): 1.0,                              # count == t: p = 1
    (0, 2, 6): 1.0,
}


def hand_table(sets, langs=None, uuids=None) -> pa.Table:
    n = len(sets)
    columns = {name: [None] * n for name in schemas.MATCHED.names}
    columns.update(image_uuid=uuids or [f"img{i:06d}" for i in range(n)],
                   url=[f"http://example.com/{i}.jpg" for i in range(n)],
                   text=[f"text {i}" for i in range(n)], text_source=["alt"] * n,
                   source_path=["hand"] * n, lang=langs or ["en"] * n,
                   matched_entry_ids=[sorted(s) for s in sets])
    return pa.Table.from_pydict(columns, schema=schemas.MATCHED)


# --------------------------------------------------------------------------------------
# The 10^6 pool (pure core)
# --------------------------------------------------------------------------------------

BIG_TEXTS, BIG_ENTRIES, BIG_T = 1_000_000, 50_000, 2000


# --------------------------------------------------------------------------------------
# Per-language t (ALGORITHM.md §6), by hand
# --------------------------------------------------------------------------------------

# English, t_en = 7: counts sum to 100; the tail (< 7) is 1 + 2 + 3 + 6 = 12, so p = 0.12.
EN_COUNTS = [1, 2, 3, 6, 8, 30, 50]
# German, unsorted, one entry without matches. Sorted: 0 4 6 9 11 20 50 (sum 100);
# cumulative shares 0 .04 .10 .19 .30 .50 1.0; |share - .12| is smallest (.02) at .10,
# the 3rd sorted count: t_de = 6.
DE_COUNTS = [50, 9, 0, 4, 20, 11, 6]
# French: ten entries of 3 (sum 30); shares .1 .2 ... 1.0; closest to .12 is .1: t_fr = 3.
FR_COUNTS = [3] * 10


# --------------------------------------------------------------------------------------
# Through Spark: partitioning, re-runs, seeds, target size (~50k rows)
# --------------------------------------------------------------------------------------

SPARK_TEXTS, SPARK_ENTRIES, SPARK_T = 50_000, 3000, 300


def curated_pairs(path) -> set[tuple[str, str]]:
    return pairs_of(pq.read_table(path, columns=["image_uuid", "text"]))


def reference_units(table: pa.Table, unit: str, seed: int) -> pa.Table:
    """The rows the keep rule runs on, by the pure core: every row, or one per image."""
    return table if unit == "pair" else run_choose_texts(table, seed, 8192)


def as_match_output(directory, like=None) -> None:
    """Make a hand-built matched set a match output: count and sample refuse a matched set
    without its report (its id is what counts are checked against). `like`: the matched
    set these very rows come from, laid out anew: its report comes along, so its counts
    apply; else a report of a new match output of its own, with the rows it holds."""
    import shutil
    import uuid
    from pathlib import Path

    from curate.stages.io import REPORT_FILE, StageReport

    target = Path(directory) / REPORT_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    if like is not None:
        shutil.copyfile(Path(like) / REPORT_FILE, target)
        return
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in Path(directory).glob("*.parquet"))
    report = StageReport("match", str(directory), rows, rows, id=uuid.uuid4().hex)
    target.write_text(report.to_json(), "utf-8")
