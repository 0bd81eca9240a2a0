"""entries.parquet and entries.tsv of a metadata build: (lang, entry_id, entry, source,
statistic) rows, the schema `curate.schemas.METADATA_ENTRIES`."""
from __future__ import annotations

from pathlib import Path

__all__ = ["write_entries", "read_entries", "format_statistic", "tsv_escape"]

Row = tuple[str, int, str, str, "float | int | None"]

_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def tsv_escape(s: str) -> str:
    return s.translate(_TSV_ESCAPES)


def format_statistic(value) -> str:
    """"" for none, an integer without a decimal point, else the shortest float repr."""
    if value is None:
        return ""
    value = float(value)
    if value.is_integer() and abs(value) < 2 ** 53:
        return str(int(value))
    return repr(value)


def write_entries(rows: list[Row], parquet: Path, tsv: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.schemas import METADATA_ENTRIES

    columns = list(zip(*rows)) if rows else [[] for _ in METADATA_ENTRIES]
    table = pa.table(
        [pa.array(columns[0], pa.string()), pa.array(columns[1], pa.int32()),
         pa.array(columns[2], pa.string()), pa.array(columns[3], pa.string()),
         pa.array([None if v is None else float(v) for v in columns[4]], pa.float64())],
        schema=METADATA_ENTRIES)
    pq.write_table(table, parquet, compression="zstd")
    with open(tsv, "w", encoding="utf-8", newline="\n") as f:
        f.write("\t".join(METADATA_ENTRIES.names) + "\n")
        for lang, entry_id, entry, source, statistic in rows:
            f.write(f"{lang}\t{entry_id}\t{tsv_escape(entry)}\t{source}\t"
                    f"{format_statistic(statistic)}\n")


def read_entries(parquet: Path) -> list[Row]:
    import pyarrow.parquet as pq

    table = pq.read_table(parquet)
    names = ["lang", "entry_id", "entry", "source", "statistic"]
    if table.schema.names[:5] != names:
        return []
    cols = [table.column(n).to_pylist() for n in names]
    return list(zip(*cols))
