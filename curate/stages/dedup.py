"""dedup: one row per distinct (image_uuid, text) over the whole input.

The rows are shuffled by image_uuid ranges (not hashed), so the output's files hold
disjoint image_uuid ranges, each sorted: an image's texts are together, which lets sample
pick one text per image without a shuffle of its own. Where the range bounds come from
depends on what the input says about itself (its report, never its rows):

- rows whose image_uuids extract made (an extract output, or a dedup of one): the first 24
  lowercase hex characters of a sha224 (ALGORITHM.md §1), uniform, so n equal ranges of
  the uuid's first 6 hex characters are balanced without looking at the data. Each range
  gets a slot value that Spark's hash partitioning sends to that range's partition, and a
  plain hash shuffle on the slot cuts the rows into the ranges (`by_hex_ranges`);
- any other input (another tool's ids, uppercase hex, ...): Spark's range partitioning,
  whose bounds cost one extra read of the input's image_uuid (a sample of it).

Through the shuffle a row's source_path is a number (file_numbers: the input's distinct
paths, numbered in their order on the driver and broadcast), joined back before the writer.
No Python runs in the tasks: Spark's own sort, window and writer, with the rows in and out
from the Parquet footers and the rows through the shuffle and the filter observed in the
write job (kept_rows). The report says which ranges were used (details["ranges"])."""
from __future__ import annotations

from curate import schemas
from curate.core.hash_slots import slot_values
from curate.errors import CountsDisagree
from curate.stages import io
from curate.stages.io import StageReport, read_stage_input, staged_output, written_rows
from curate.stages.progress import progress
from curate.stages.task_files import check_shared_output

KEY = ("image_uuid", "text")
SLOT = "_slot"
FILE = "_source_file"   # a number standing for source_path through the shuffle
# details["ranges"] of the report: which way the rows were cut into image_uuid ranges.
HEX_RANGES = "from image_uuid's hex (no sampling)"
SAMPLED_RANGES = "sampled"


def run_dedup(spark, input: str, output: str, options: None = None, *,
              quiet: bool = False, hex_ranges: bool | None = None,
              file_numbers: bool | None = None) -> StageReport:
    """`hex_ranges`: None decides from the input's report (uuids_from_extract);
    `file_numbers`: None decides from the input's size (numbering_pays). True or False
    force one way (tests compare them)."""
    from pyspark.sql import Observation

    check_shared_output(spark, output)
    pairs = read_stage_input(spark, input, schemas.PAIRS.names)
    if hex_ranges is None:
        hex_ranges = uuids_from_extract(input)
    reached, kept = Observation("dedup-reached"), Observation("dedup-kept")
    # Spark's own writer: the progress line shows tasks, not rows.
    with staged_output(output, "dedup", [input],
                       recipe_id=io.recipe("dedup", None)) as (tmp, finish), \
            progress(spark, "dedup", quiet=quiet, rows=False):
        rows_in = pairs.count()   # from the input's footers: no data read
        if file_numbers is None:
            file_numbers = numbering_pays(spark, rows_in)
        deduped = deduplicated(spark, pairs, hex_ranges, reached, kept, file_numbers)
        io.spark_write(deduped, tmp)
        n_reached, n_kept = int(reached.get["rows"]), int(kept.get["rows"])
        report = dedup_report(output, rows_in, n_kept, n_reached - n_kept,
                              written_rows(spark, tmp))
        report.details["ranges"] = HEX_RANGES if hex_ranges else SAMPLED_RANGES
        report.details["file_numbers"] = file_numbers
        finish(report)
    return report


def uuids_from_extract(input: str) -> bool:
    """Whether the input's report says its image_uuids are extract's (lowercase sha224 hex):
    an output of extract, or of a dedup that cut its ranges from the hex (so its own input
    was one). Read on the driver from the report alone; an input without a report, or
    with one that is not curate's, is any Parquet with the columns: False."""
    report = io.report_or_none(input)
    if report is None:
        return False
    return report.stage == "extract" or (
        report.stage == "dedup" and report.details.get("ranges") == HEX_RANGES)


def deduplicated(spark, pairs, hex_ranges: bool, reached, kept, numbered: bool = True):
    """The kept rows of `pairs`, cut into image_uuid ranges one way or the other. When
    `numbered`, the rows cross the shuffle with a file number in place of their
    source_path (file_numbers) and get their path back after it."""
    if not numbered:
        return _kept_in_ranges(spark, pairs.select(*schemas.PAIRS.names), hex_ranges,
                               reached, kept)
    files = file_numbers(spark, pairs)
    rows = _kept_in_ranges(spark, with_file_numbers(pairs, files), hex_ranges, reached, kept)
    return with_source_paths(rows, files)


def _kept_in_ranges(spark, pairs, hex_ranges: bool, reached, kept):
    """kept_rows of `pairs` (PAIRS' columns in their order, or with_file_numbers') cut into
    image_uuid ranges one way or the other."""
    if not hex_ranges:
        return kept_rows(pairs.repartitionByRange("image_uuid"), reached, kept)
    return kept_rows(by_hex_ranges(spark, pairs), reached, kept, (*KEY, SLOT)).drop(SLOT)


# Numbering the files costs one small job first (about 0.5 s, all cores waiting on it) and
# saves about 0.5 core-s per 10^6 rows in the shuffle and sort (bench/scale.py at 10^7 and
# 10^8 rows): it pays from about a million rows per core.
NUMBERING_ROWS_PER_CORE = 1_000_000


def numbering_pays(spark, rows: int) -> bool:
    """Whether an input of `rows` rows is worth numbering its files (file_numbers)."""
    return rows >= NUMBERING_ROWS_PER_CORE * spark.sparkContext.defaultParallelism


# ------------------------------------------------------------------ file numbers

def file_numbers(spark, pairs):
    """A small table (FILE, source_path): each distinct source_path of `pairs` numbered in
    the paths' order. Every row of an extract output repeats its file's path (~100
    characters of its ~400): through the shuffle, the sort and its spills an int carries
    the same information, and numbers in the paths' (UTF-8 byte) order sort the rows as
    their paths would, so the row a group keeps stays the same. One read of the column
    (its Parquet dictionaries) finds the paths; the driver holds one per input file."""
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType

    paths = sorted(row[0] for row in pairs.select("source_path").distinct().collect()
                   if row[0] is not None)
    schema = StructType([StructField(FILE, IntegerType(), False),
                         StructField("source_path", StringType(), False)])
    return spark.createDataFrame(list(enumerate(paths)), schema)


def with_file_numbers(pairs, files):
    """`pairs` (PAIRS' columns, in order) with FILE in source_path's place (a null path gets
    a null number: nulls sort first either way)."""
    from pyspark.sql import functions as F

    columns = [FILE if name == "source_path" else name for name in schemas.PAIRS.names]
    return pairs.join(F.broadcast(files), "source_path", "left").select(*columns)


def with_source_paths(rows, files):
    """Rows of with_file_numbers with their source_path back, in PAIRS' columns. A broadcast
    join streams `rows` in their order: the ranges stay sorted for the writer."""
    from pyspark.sql import functions as F

    return rows.join(F.broadcast(files), FILE, "left").select(*schemas.PAIRS.names)


def kept_rows(ranged, reached, kept, key=KEY):
    """The first row of each (image_uuid, text) group in the order of all its columns, from
    rows already cut into image_uuid ranges: the same row whatever the partitioning (only
    identical rows tie). A window's row_number over that order, limited to 1: Spark sorts
    each range once by every column and streams the first row of each group out
    (WindowGroupLimit), where an aggregate of min(struct(...)) built and compared a struct
    for every row (about 12% more CPU on 2M crawl-shaped pairs). The sort by image_uuid
    first is the output's order: nothing sorts again before the writer.

    `key`: the window's partition columns, image_uuid and text first (their order is the
    sort's). Hex ranges add the slot, a function of image_uuid, so that the groups stay
    the same and the hash shuffle on the slot is all the window needs (no second shuffle);
    after image_uuid it changes no order, even in partitions AQE joined (several slots).

    Rows are counted where they go, with Spark's observed metrics of the write job's own
    tasks (its result stage: each partition once, retries not): `reached` as they come out
    of the shuffle, `kept` as they leave the filter; the duplicates are the difference.
    Rows in come from the input's footers and rows out from the written files: four counts
    taken apart, which dedup_report checks against each other."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    rest = [c for c in ranged.columns if c not in key]
    first = F.row_number().over(Window.partitionBy(*key).orderBy(*rest))
    return (ranged.observe(reached, F.count(F.lit(1)).alias("rows"))
            .withColumn("_rank", first).where(F.col("_rank") == 1).drop("_rank")
            .observe(kept, F.count(F.lit(1)).alias("rows")))


def dedup_report(output: str, rows_in: int, kept: int, duplicates: int, written: int
                 ) -> StageReport:
    """The report from four counts taken apart: rows in (the input's footers), rows the
    filter kept and the rest of those the shuffle brought (observed), rows written (the
    output's footers). Kept rows that are not in the files were lost on the way (a task
    that wrote where the driver does not read): CountsDisagree, as is rows in != kept +
    dropped (rows lost before the shuffle)."""
    if written != kept:
        raise CountsDisagree(f"dedup: {kept} distinct rows were written but the output's "
                             f"files hold {written}; the output was not committed")
    return StageReport("dedup", output, rows_in, written,
                       dropped={"duplicate": duplicates}).check()


# ------------------------------------------------------------------ hex ranges

def by_hex_ranges(spark, pairs):
    """`pairs` with a slot column, shuffled by it into n image_uuid ranges: partition r
    holds the uuids whose first 6 hex characters x have floor(x * n / 2^24) == r, so
    partitions in order are ranges in order. n is the shuffle's own partition count (what
    Spark gives a repartition by a column without a number), and the repartition has no
    number, so AQE may still join neighbouring partitions: still contiguous ranges."""
    from pyspark.sql import functions as F

    n = shuffle_partitions(spark)
    # One array of bigint literals, parsed once (a Column per value costs py4j calls:
    # 5 s for 8,000 partitions); Spark folds it into one literal.
    slots = F.expr(f"array({', '.join(f'{v}L' for v in slot_values(n))})")
    return (pairs.withColumn(SLOT, F.element_at(slots, range_index(n) + 1))
            .repartition(F.col(SLOT)))


def shuffle_partitions(spark) -> int:
    """The partition count of a shuffle by columns without a number, as Spark's SQLConf
    decides it (spark.sql.adaptive.coalescePartitions.initialPartitionNum when AQE
    coalesces and it is set, else spark.sql.shuffle.partitions)."""
    return int(spark._jsparkSession.sessionState().conf().numShufflePartitions())


def range_index(n: int):
    """floor(x * n / 2^24) of the uuid's first 6 hex characters x, in integers: x * n is
    below 2^24 * n (no overflow of a long), and a shift by 24 bits divides it exactly. For
    lowercase hex the string order is x's order, so r never decreases along sorted uuids."""
    from pyspark.sql import functions as F

    x = F.conv(F.substring("image_uuid", 1, 6), 16, 10).cast("bigint")
    return F.shiftright(x * F.lit(n).cast("bigint"), 24).cast("int")   # (below n)
