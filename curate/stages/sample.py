"""sample: balanced sampling of matched pairs with the entry counts (ALGORITHM.md §5)."""
from __future__ import annotations

from curate import schemas
from curate.config import defaults
from curate.errors import UserError
from curate.sampling import keep_probabilities, sample_batches
from curate.stages.common import read_stage_input, write_filtering_stage
from curate.stages.count import read_counts
from curate.stages.output import StageReport, read_report


def run_sample(spark, matched_path: str, counts_path: str, out: str, t: int | None = None,
               seed: int | None = None, lang: str | None = None) -> StageReport:
    t = defaults().t if t is None else t
    seed = defaults().seed if seed is None else seed
    lang = lang or defaults().lang
    if t < 1:
        raise UserError(f"--t must be a positive number of matches, got {t}")
    _check_same_metadata(matched_path, counts_path)
    counts = read_counts(spark, counts_path)
    p_by_lang = {code: keep_probabilities(vector, t) for code, vector in counts.items()}
    matched = read_stage_input(spark, matched_path, schemas.MATCHED.names)
    p_broadcast = spark.sparkContext.broadcast(p_by_lang)

    def sample_partition(batches):
        yield from sample_batches(batches, p_broadcast.value, lang, seed)

    curated = matched.mapInArrow(sample_partition, schemas.spark_schema(schemas.CURATED))
    head = {code: int((vector >= t).sum()) for code, vector in counts.items()}
    matched_report = read_report(matched_path)
    metadata = (matched_report.details.get("metadata") if matched_report else None) or {}
    report = write_filtering_stage(spark, "sample", matched, curated, out, "not_sampled",
                                   {"t": t, "seed": seed, "unit": "pair", "head_entries": head,
                                    "metadata": metadata})
    p_broadcast.unpersist()
    return report


def _check_same_metadata(matched_path: str, counts_path: str) -> None:
    matched, counts = read_report(matched_path), read_report(counts_path)
    if not matched or not counts:
        return
    a = matched.details.get("metadata", {}).get("fingerprint")
    b = counts.details.get("metadata", {}).get("fingerprint")
    if a and b and a != b:
        raise UserError(f"{counts_path} counts another metadata list than {matched_path} "
                        f"was matched with; count the same matched output first")
