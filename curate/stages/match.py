"""match: keep the rows whose text matches at least one metadata entry, with the ids."""
from __future__ import annotations

from curate import schemas
from curate.config import defaults
from curate.matching import worker_matcher
from curate.errors import UserError
from curate.stages.broadcast import BroadcastMetadata
from curate.stages.common import read_stage_input, write_filtering_stage
from curate.stages.output import StageReport


def run_match(spark, inp: str, out: str, metadata_path: str | None = None,
              lang: str | None = None) -> StageReport:
    lang = lang or defaults().lang
    metadata = BroadcastMetadata(spark, metadata_path, lang)
    rows = read_stage_input(spark, inp, schemas.DEDUP.names).select(*schemas.DEDUP.names)

    def match_partition(batches):
        yield from worker_matcher(metadata.on_worker()).match_batches(batches)

    matched = rows.mapInArrow(match_partition, schemas.spark_schema(schemas.MATCHED))
    report = write_filtering_stage(spark, "match", rows, matched, out, "no_match",
                                   metadata_details(metadata.metadata))
    metadata.unpersist()
    return report


def metadata_details(metadata) -> dict:
    return {"metadata": {"source": metadata.source, "fingerprint": metadata.fingerprint,
                         "entries": len(metadata.entries), "lang": metadata.lang}}


def check_same_metadata(metadata, upstream: StageReport | None) -> None:
    """Refuse metadata other than the list `upstream` was matched with: ids would lie."""
    used = (upstream.details.get("metadata") if upstream else None) or {}
    if used and used.get("fingerprint") != metadata.fingerprint:
        raise UserError(
            f"metadata {metadata.source} ({len(metadata.entries)} entries) is not the list "
            f"{upstream.output} was matched with ({used.get('source')}, "
            f"{used.get('entries')} entries); pass the same --metadata")
