"""match: keep the rows whose text matches at least one metadata entry of its language,
with `lang` and the matched ids; every other row is counted by language and reason.

Each task matches a piece of one input file with the pure core (core.matching.match_batches),
keeps its order and writes the matched rows itself (task_files), returning its counters
in its result row; so files sorted by image_uuid (dedup's) give output files sorted by
image_uuid: what sample needs to pick one text per image without a shuffle."""
from __future__ import annotations

from collections import Counter

from curate import faults, schemas
from curate.core.matching import match_batches
from curate.core.metadata import MetadataSet
from curate.errors import CountsDisagree
from curate.options import MatchOptions
from curate.stages import io, task_files
from curate.stages.broadcast import BroadcastMetadata
from curate.stages.io import (StageReport, one_input_file_per_task, read_stage_input,
                              staged_output)
from curate.stages.progress import progress
from curate.stages.task_files import TaskFiles, TaskResults

MATCH_RESULT = task_files.result_schema()


def match_recipe(options: MatchOptions) -> str:
    """The options and the metadata's content (a path may hold other lists later)."""
    from curate.core.metadata import load_metadata_set
    return io.recipe("match", (options, load_metadata_set(options.metadata,
                                                          options.lang).fingerprint))


def run_match(spark, input: str, output: str, options: MatchOptions, *,
              quiet: bool = False) -> StageReport:
    task_files.check_shared_output(spark, output)
    metadata = BroadcastMetadata(spark, options.metadata, options.lang)
    plan = options.plan()
    rows = read_stage_input(spark, input, schemas.DEDUP.names).select(*schemas.DEDUP.names)
    try:
        with staged_output(output, "match", [input],
                           recipe_id=match_recipe(options)) as (tmp, finish), \
                progress(spark, "match", quiet=quiet) as live:
            files = TaskFiles(tmp, schemas.MATCHED, None, task_files.codec(spark))
            fault = faults.fault_for("match")   # None but in tests (curate.faults)

            def match_partition(batches):
                counters: Counter = Counter()
                matched = match_batches(batches, metadata.on_worker(), plan, counters)
                if fault is not None:
                    matched = fault.wrap(matched, *task_files.task_attempt())
                written = files.write(matched, *task_files.task_attempt())
                live.add(rows=sum(n for _, n in written))
                yield task_files.task_result(MATCH_RESULT, written, counters)

            with one_input_file_per_task(spark):
                results = TaskResults.collect(rows.mapInArrow(
                    match_partition, schemas.spark_schema(MATCH_RESULT)))
            committed = task_files.commit(tmp, results.files(), schemas.MATCHED)   # footers
            report = match_report(output, results.counters(),
                                  sum(n for _, n in committed), metadata.metadata, options)
            rows_in = rows.count()   # from the footers: no data read
            if report.rows_in != rows_in:   # every input row is counted exactly once
                raise CountsDisagree(f"match: {rows_in} rows in, {report.rows_in} counted; "
                                     "the output was not committed")
            finish(report)
    finally:
        metadata.unpersist()
    return report


def match_report(output: str, counters: Counter, rows_out: int, metadata: MetadataSet,
                 options: MatchOptions) -> StageReport:
    matched = {k.split(":", 1)[1]: v for k, v in sorted(counters.items())
               if k.startswith("matched:")}
    dropped = {k: v for k, v in sorted(counters.items()) if not k.startswith("matched:")}
    if sum(matched.values()) != rows_out:
        raise CountsDisagree(f"match: the output's files hold {rows_out} rows, the tasks "
                             f"counted {sum(matched.values())} matched; the output was not "
                             "committed")
    selected = options.selected
    details = {"metadata": metadata.details(), "matched_by_language": matched,
               "languages": "all" if selected is None else sorted(selected),
               "assume_lang": options.assume_lang, "spacing": options.spacing,
               "rules": options.rules, "recipe_name": options.recipe}
    return StageReport("match", output, rows_in=sum(counters.values()), rows_out=rows_out,
                       dropped=dropped, details=details)
