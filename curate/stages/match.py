"""match: keep the rows whose text matches at least one metadata entry, with the ids."""
from __future__ import annotations

from curate import schemas
from curate.matching import worker_matcher
from curate.metadata import load_metadata, metadata_from_bytes, read_metadata_bytes
from curate.stages.common import read_stage_input, written_rows
from curate.stages.output import StageReport, staged_output


def run_match(spark, inp: str, out: str, metadata_path: str | None = None,
              lang: str | None = None) -> StageReport:
    from curate.config import defaults

    lang = lang or defaults().lang
    raw = read_metadata_bytes(metadata_path)
    metadata = metadata_from_bytes(raw, name=metadata_path or "default", lang=lang)
    rows = read_stage_input(spark, inp, schemas.DEDUP.names).select(*schemas.DEDUP.names)
    # Workers rebuild the automaton from the raw list (a few MB), never a pickled automaton.
    raw_broadcast = spark.sparkContext.broadcast(raw)
    fingerprint = metadata.fingerprint

    def match_partition(batches):
        matcher = worker_matcher(fingerprint, lambda: raw_broadcast.value, lang)
        yield from matcher.match_batches(batches)

    matched = rows.mapInArrow(match_partition, schemas.spark_schema(schemas.MATCHED))
    with staged_output(out, "match") as (tmp, finish):
        rows_in = rows.count()
        matched.write.parquet(tmp)
        rows_out = written_rows(spark, tmp)
        report = StageReport("match", out, rows_in, rows_out,
                             dropped={"no_match": rows_in - rows_out},
                             details=metadata_details(metadata))
        finish(report)
    raw_broadcast.unpersist()
    return report


def metadata_details(metadata) -> dict:
    return {"metadata": {"source": metadata.source, "fingerprint": metadata.fingerprint,
                         "entries": len(metadata.entries), "lang": metadata.lang}}


def load_checked_metadata(metadata_path: str | None, lang: str, upstream: StageReport | None):
    """The metadata, refusing one other than the list `upstream` was matched with."""
    from curate.errors import UserError

    metadata = load_metadata(metadata_path, lang=lang)
    used = (upstream.details.get("metadata") if upstream else None) or {}
    if used and used.get("fingerprint") != metadata.fingerprint:
        raise UserError(
            f"metadata {metadata.source} ({len(metadata.entries)} entries) is not the list "
            f"{upstream.output} was matched with ({used.get('source')}, "
            f"{used.get('entries')} entries); pass the same --metadata")
    return metadata
