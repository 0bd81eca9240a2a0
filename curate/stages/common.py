"""What every Spark wrapper shares: reading a stage's input and counting written rows."""
from __future__ import annotations

from pathlib import Path

from curate.errors import UserError
from curate.stages.output import local_path


def read_stage_input(spark, path: str, expected_columns: list[str]):
    """The Parquet rows of an earlier stage's output; a wrong path is a user error."""
    directory = Path(local_path(path))
    if not directory.is_dir() or not any(directory.glob("*.parquet")):
        raise UserError(f"{path}: not a stage output (no Parquet files in that directory)")
    frame = spark.read.parquet(str(directory))
    missing = [c for c in expected_columns if c not in frame.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)}; "
                        f"is it the output of the right stage?")
    return frame


def written_rows(spark, path: str) -> int:
    # Parquet footers hold the row counts, so this reads no data pages.
    return spark.read.parquet(path).count()
