"""The Parquet schemas of every stage's output: the one place they are defined.

Each schema is an Arrow schema; `spark_schema()` turns one into the Spark DDL
string the Spark wrappers hand to `mapInArrow`, so the two can never disagree.
"""
from __future__ import annotations

import pyarrow as pa

# Side files of a stage output (and of a metadata build), all in one folder beside the Parquet
# files. "__" prefix: Spark, pyarrow and pandas skip names starting with "_" when they read the
# directory as Parquet, and Hugging Face `datasets` (load_dataset("parquet", data_dir=...))
# skips folders starting with "__", where it would read a "_" file as Parquet and fail.
SIDE_DIR = "__curate__"
REPORT_FILE = f"{SIDE_DIR}/stage.json"          # every output: its StageReport, written last
WRITING_FILE = f"{SIDE_DIR}/writing.json"       # an output being written in place (object stores)
SUMMARY_FILE = f"{SIDE_DIR}/summary.json"       # count, sample, metadata build: what it decided
ERRORS_DIR = f"{SIDE_DIR}/errors"               # extract: input files that could not be read
INPUTS_FILE = f"{SIDE_DIR}/inputs.txt"          # extract: the expanded input list, one per line
ENTRY_COUNTS_DIR = f"{SIDE_DIR}/entry_counts"   # count: {lang}.json, MetaCLIP's {entry: count}

# extract -> pairs: one row per (image URL, text attribute) found on a page.
PAIRS = pa.schema([
    pa.field("image_uuid", pa.string(), nullable=False),   # ALGORITHM.md §1
    pa.field("url", pa.string(), nullable=False),          # absolute, as a browser sends it
    pa.field("text", pa.string(), nullable=False),         # cleaned, non-empty
    pa.field("text_source", pa.string(), nullable=False),  # alt | title | data-image-title
    pa.field("page_url", pa.string()),
    pa.field("source_path", pa.string(), nullable=False),  # the input file it came from
    pa.field("source_offset", pa.int64()),                 # byte offset of its record there
    pa.field("crawl", pa.string()),                        # e.g. CC-MAIN-2014-35, when known
    pa.field("fetch_time", pa.timestamp("us", tz="UTC")),  # the record's WARC-Date
    pa.field("lang", pa.string()),                         # filled by a later stage
])
TEXT_SOURCES = ("alt", "title", "data-image-title")

# dedup: same columns, one row per distinct (image_uuid, text) over the whole input.
DEDUP = PAIRS

# match: dedup's columns plus the sorted, non-empty set of matched metadata entry ids.
MATCHED = pa.schema(list(DEDUP) + [
    pa.field("matched_entry_ids", pa.list_(pa.field("element", pa.int32(), nullable=False)),
             nullable=False),
])

# count: one row per metadata entry and language, zeros included.
COUNTS = pa.schema([
    pa.field("entry_id", pa.int32(), nullable=False),
    pa.field("entry", pa.string(), nullable=False),
    pa.field("lang", pa.string(), nullable=False),
    pa.field("count", pa.int64(), nullable=False),
])

# sample -> curated: what a downloader needs (url, text), what the balance was made of
# (lang, matched_entry_ids), and where each pair came from, to trace or filter it.
CURATED = pa.schema([MATCHED.field(name) for name in
                     ("image_uuid", "url", "text", "lang", "matched_entry_ids", "page_url",
                      "crawl", "fetch_time")])

# Inputs that could not be read completely: recorded, never fatal.
ERRORS = pa.schema([
    pa.field("path", pa.string(), nullable=False),
    pa.field("stage", pa.string(), nullable=False),
    pa.field("offset", pa.int64()),        # byte offset of the failing record, when known
    pa.field("reason", pa.string(), nullable=False),
])

# curate metadata build -> entries.parquet: one row per entry of every list in the directory.
METADATA_ENTRIES = pa.schema([
    pa.field("lang", pa.string(), nullable=False),
    pa.field("entry_id", pa.int32(), nullable=False),     # position in the language's list
    pa.field("entry", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),      # w u f b t n (metadata_build.assemble)
    pa.field("statistic", pa.float64()),                  # what admitted it; null: none
])


def spark_schema(schema: pa.Schema) -> str:
    """Spark DDL for an Arrow schema (the subset of types our schemas use)."""
    return ", ".join(f"`{f.name}` {_spark_type(f.type)}" for f in schema)


def _spark_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_list(arrow_type):
        return f"array<{_spark_type(arrow_type.value_type)}>"
    if pa.types.is_map(arrow_type):
        return f"map<{_spark_type(arrow_type.key_type)}, {_spark_type(arrow_type.item_type)}>"
    if pa.types.is_struct(arrow_type):
        return "struct<" + ", ".join(f"`{f.name}`: {_spark_type(f.type)}"
                                     for f in arrow_type) + ">"
    simple = {pa.string(): "string", pa.int32(): "int", pa.int64(): "bigint",
              pa.float64(): "double", pa.bool_(): "boolean", pa.binary(): "binary"}
    return simple[arrow_type]
