"""match: keep the rows whose text matches at least one metadata entry of its language,
with `lang` and the matched ids; every other row is counted by language and reason.
Each task matches a piece of one input file and keeps its order, so files sorted by
image_uuid (dedup's) give output files sorted by image_uuid: what sample needs to pick
one text per image without a shuffle."""
from __future__ import annotations

from collections import Counter

from curate import schemas
from curate.config import defaults
from curate.errors import UserError
from curate.matching import ALL_LANGUAGES, KEY_VERSIONS, MatchPlan, match_batches
from curate.metadata import MetadataSet
from curate.stages.broadcast import BroadcastMetadata
from curate.stages.common import (CounterParam, one_input_file_per_task, read_stage_input,
                                  written_rows)
from curate.stages.output import StageReport, staged_output


def match_plan(metadata: MetadataSet, languages: str | None = None,
               assume_lang: str | None = None, spacing: str | None = None) -> MatchPlan:
    """The plan for `--languages`, `--assume-lang`, `--spacing`; UserError when the
    metadata has no list for a language named. Default: `--languages en` with v1 keys
    (MetaCLIP v1), `--languages all` with v2 keys (Meta CLIP 2)."""
    languages = (languages or "en").strip()
    if languages == ALL_LANGUAGES:
        selected = None
    else:
        selected = frozenset(code.strip() for code in languages.split(",") if code.strip())
        _check_languages(metadata, selected, "--languages")
    if assume_lang is not None:
        _check_languages(metadata, {assume_lang}, "--assume-lang")
        if selected is not None and assume_lang not in selected:
            raise UserError(f"--assume-lang {assume_lang} is not among --languages {languages}")
    spacing = spacing or ("v2" if selected is None else "v1")
    if spacing not in KEY_VERSIONS:
        raise UserError(f"--spacing must be one of {', '.join(KEY_VERSIONS)}, not {spacing}")
    return MatchPlan(selected, assume_lang, spacing)


def _check_languages(metadata: MetadataSet, codes, option: str) -> None:
    missing = sorted(set(codes) - set(metadata.languages))
    if missing or not codes:
        raise UserError(f"{option}: the metadata ({metadata.source}) has no list for "
                        f"{', '.join(missing) or 'no language'}; it has "
                        f"{', '.join(metadata.languages)}")


def run_match(spark, inp: str, out: str, metadata_path: str | None = None,
              languages: str | None = None, assume_lang: str | None = None,
              spacing: str | None = None) -> StageReport:
    metadata = BroadcastMetadata(spark, metadata_path, defaults().lang)
    plan = match_plan(metadata.metadata, languages, assume_lang, spacing)
    rows = read_stage_input(spark, inp, schemas.DEDUP.names).select(*schemas.DEDUP.names)
    # Each task adds its rows' outcomes once, when it has matched them all: the counts come
    # with the one pass that writes the output (the report's checks catch a double count).
    outcomes = spark.sparkContext.accumulator(Counter(), CounterParam())

    def match_partition(batches):
        counters: Counter = Counter()
        yield from match_batches(batches, metadata.on_worker(), plan, counters)
        outcomes.add(counters)

    matched = rows.mapInArrow(match_partition, schemas.spark_schema(schemas.MATCHED))
    try:
        with staged_output(out, "match") as (tmp, finish):
            with one_input_file_per_task(spark):
                matched.write.parquet(tmp)
            report = match_report(out, outcomes.value, written_rows(spark, tmp),
                                  metadata.metadata, plan)
            if report.rows_in != rows.count():   # every input row is counted exactly once
                raise RuntimeError(f"match: {rows.count()} rows in, {report.rows_in} counted")
            finish(report)
    finally:
        metadata.unpersist()
    return report


def match_report(out: str, counters: Counter, rows_out: int, metadata: MetadataSet,
                 plan: MatchPlan) -> StageReport:
    matched = {k.split(":", 1)[1]: v for k, v in sorted(counters.items())
               if k.startswith("matched:")}
    dropped = {k: v for k, v in sorted(counters.items()) if not k.startswith("matched:")}
    if sum(matched.values()) != rows_out:
        raise RuntimeError(f"match: {rows_out} rows written but {sum(matched.values())} "
                           "counted as matched")
    details = {**metadata_details(metadata), "matched_by_language": matched,
               "languages": "all" if plan.languages is None else sorted(plan.languages),
               "assume_lang": plan.assume_lang, "spacing": plan.key_version}
    return StageReport("match", out, rows_in=sum(counters.values()), rows_out=rows_out,
                       dropped=dropped, details=details)


def metadata_details(metadata: MetadataSet) -> dict:
    return {"metadata": metadata.details()}


def check_same_metadata(metadata: MetadataSet, upstream: StageReport | None) -> None:
    """Refuse metadata other than the lists `upstream` was matched with: ids would lie."""
    used = (upstream.details.get("metadata") if upstream else None) or {}
    if used and used.get("fingerprint") != metadata.fingerprint:
        raise UserError(
            f"metadata {metadata.source} ({_describe(metadata.details())}) is not the metadata "
            f"{upstream.output} was matched with ({used.get('source')}, {_describe(used)}); "
            "pass the same --metadata")


def _describe(details: dict) -> str:
    languages = details.get("languages") or {}
    if isinstance(languages, dict) and languages:
        return ", ".join(f"{code}: {v.get('entries')} entries" for code, v in languages.items())
    return f"{details.get('entries')} entries"
