"""entries.parquet and entries.tsv of a metadata build: (lang, entry_id, entry, source,
statistic) rows, the schema `curate.schemas.METADATA_ENTRIES`."""
from __future__ import annotations

from pathlib import Path

__all__ = ["entries_table", "entries_tsv", "rows_of", "read_entries", "format_statistic",
           "tsv_escape"]

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


def entries_table(rows: list[Row]):
    """The rows as an Arrow table of METADATA_ENTRIES (entries.parquet)."""
    import pyarrow as pa

    from curate.schemas import METADATA_ENTRIES

    columns = list(zip(*rows)) if rows else [[] for _ in METADATA_ENTRIES]
    return pa.table(
        [pa.array(columns[0], pa.string()), pa.array(columns[1], pa.int32()),
         pa.array(columns[2], pa.string()), pa.array(columns[3], pa.string()),
         pa.array([None if v is None else float(v) for v in columns[4]], pa.float64())],
        schema=METADATA_ENTRIES)


def entries_tsv(rows: list[Row]) -> str:
    """The rows as entries.tsv: a header line, then one escaped line per row."""
    from curate.schemas import METADATA_ENTRIES

    lines = ["\t".join(METADATA_ENTRIES.names) + "\n"]
    lines.extend(f"{lang}\t{entry_id}\t{tsv_escape(entry)}\t{source}\t"
                 f"{format_statistic(statistic)}\n"
                 for lang, entry_id, entry, source, statistic in rows)
    return "".join(lines)


def rows_of(table) -> list[Row]:
    """entries.parquet's table as rows ([] for a table of another shape)."""
    names = ["lang", "entry_id", "entry", "source", "statistic"]
    if table.schema.names[:5] != names:
        return []
    cols = [table.column(n).to_pylist() for n in names]
    return list(zip(*cols))


def read_entries(parquet: Path) -> list[Row]:
    import pyarrow.parquet as pq

    return rows_of(pq.read_table(parquet))
