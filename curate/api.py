"""The Python API: one function per stage plus `run`. The CLI and jobs/ call these.

Each function checks what a user can get wrong (paths, metadata) before Spark starts, so
a mistake costs no JVM start-up.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from curate.extract.options import ExtractOptions
from curate.inputs import InputSelection, bundled_sample, resolve_inputs
from curate.matching import ALL_LANGUAGES
from curate.metadata import DEFAULT_SOURCE, default_worldwide_dir, load_metadata_set
from curate.sampling import Balance
from curate.stages.output import StageReport, read_report

STAGE_DIRS = {"extract": "pairs", "dedup": "dedup", "match": "matched", "count": "counts",
              "sample": "curated"}


@dataclass
class Session:
    """How to get Spark: a master and settings, started on first use."""
    master: str | None = None
    conf: dict[str, str] = field(default_factory=dict)

    def spark(self):
        from curate.spark import get_spark
        return get_spark(self.master, self.conf)


def _spark(session):
    """A SparkSession from a Session, an existing SparkSession, or None (the default)."""
    if session is None:
        session = Session()
    return session.spark() if isinstance(session, Session) else session


def extract(inputs: list[str], output: str, session=None,
            selection: InputSelection = InputSelection(), options: ExtractOptions | None = None,
            max_failed_fraction: float | None = None) -> StageReport:
    """Inputs: local paths, directories, globs, s3:// keys or prefixes, https:// URLs, and
    CommonCrawl listings (warc.paths.gz / wat.paths.gz) chosen by `selection`."""
    from curate.stages.extract import run_extract
    paths = resolve_inputs(inputs, selection)
    return run_extract(_spark(session), paths, output, options, max_failed_fraction,
                       seed=selection.seed)


def dedup(pairs_dir: str, output: str, session=None) -> StageReport:
    from curate.stages.dedup import run_dedup
    return run_dedup(_spark(session), pairs_dir, output)


def match(dedup_dir: str, output: str, metadata: str | None = None, session=None,
          languages: str | None = None, assume_lang: str | None = None,
          spacing: str | None = None) -> StageReport:
    """languages: "en" (default), "all" or "en,de,..."; assume_lang skips language
    identification; spacing "v1" / "v2" (default: v1 for "en", v2 for "all"). Without
    metadata: the shipped English list, or for "all" the shipped worldwide directory."""
    from curate.stages.match import match_plan, run_match
    metadata = match_metadata(metadata, languages)
    match_plan(load_metadata_set(metadata), languages, assume_lang, spacing)
    return run_match(_spark(session), dedup_dir, output, metadata, languages, assume_lang,
                     spacing)


def match_metadata(metadata: str | None, languages: str | None) -> str | None:
    """The metadata a match runs with: the one given, else the shipped worldwide directory
    for `--languages all`, else None (the shipped English list)."""
    if metadata is None and (languages or "").strip() == ALL_LANGUAGES:
        return default_worldwide_dir()
    return metadata


def matched_with(matched_dir: str) -> str | None:
    """The metadata path a matched output's report names (None: the shipped English list)."""
    report = read_report(matched_dir) if os.path.isdir(matched_dir) else None
    source = ((report.details.get("metadata") if report else None) or {}).get("source")
    return source if source and source != DEFAULT_SOURCE and os.path.exists(source) else None


def count(matched_dir: str, output: str, metadata: str | None = None,
          session=None, balance: Balance = Balance()) -> StageReport:
    """balance.t / balance.t_lang: the thresholds the summary describes head and tail at.
    Without metadata: the metadata the matched set was made with."""
    from curate.stages.count import run_count
    from curate.stages.sample import check_balance
    check_balance(balance)
    if metadata is None:
        metadata = matched_with(matched_dir)
    load_metadata_set(metadata)
    return run_count(_spark(session), matched_dir, output, metadata, t=balance.t,
                     t_lang=balance.t_lang)


def sample(matched_dir: str, counts_dir: str, output: str, balance: Balance = Balance(),
           session=None) -> StageReport:
    from curate.stages.sample import check_balance, run_sample
    check_balance(balance)
    return run_sample(_spark(session), matched_dir, counts_dir, output, balance)


def report(workdir: str, output: str | None = None):
    """An HTML page (index.html) and PNG charts of a work directory made by `run`: row flow
    per stage, per-language numbers, entry counts by rank before and after balancing, head
    and tail shares, top entries. Written to `output` (default WORKDIR/report); no Spark.
    Returns a curate.report.WorkdirReport. Needs matplotlib (the `report` extra)."""
    from curate.report import build_report
    return build_report(workdir, output)


def run(inputs: list[str] | None, workdir: str, metadata: str | None = None,
        balance: Balance = Balance(), session=None,
        on_stage: Callable[[StageReport], None] | None = None,
        selection: InputSelection | None = None, options: ExtractOptions | None = None,
        max_failed_fraction: float | None = None, languages: str | None = None,
        assume_lang: str | None = None, spacing: str | None = None) -> list[StageReport]:
    """All five stages into workdir/{pairs,dedup,matched,counts,curated}."""
    from curate.config import defaults
    from curate.stages.extract import run_extract

    seed = defaults().seed if balance.seed is None else balance.seed
    selection = selection or InputSelection(seed=seed)
    paths = resolve_inputs(inputs or bundled_sample(), selection)
    from curate.stages.match import match_plan
    from curate.stages.sample import check_balance
    metadata = match_metadata(metadata, languages)
    match_plan(load_metadata_set(metadata), languages, assume_lang, spacing)
    check_balance(balance)
    spark = _spark(session)
    d = {stage: os.path.join(workdir, name) for stage, name in STAGE_DIRS.items()}
    steps = [
        lambda: run_extract(spark, paths, d["extract"], options, max_failed_fraction,
                            seed=selection.seed),
        lambda: dedup(d["extract"], d["dedup"], spark),
        lambda: match(d["dedup"], d["match"], metadata, spark, languages, assume_lang, spacing),
        lambda: count(d["match"], d["count"], metadata, spark, balance),
        lambda: sample(d["match"], d["count"], d["sample"], balance, session=spark),
    ]
    reports = []
    for step in steps:
        reports.append(step())
        if on_stage:
            on_stage(reports[-1])
    return reports


def metadata_build(output: str, *, lang: str | None = None, wordnet: str | None = None,
                   wiki_text: list[str] = (), pageviews: list[str] = (),
                   unigram_counts: str | None = None, titles: str | None = None,
                   wordfreq: str | None = None, min_unigram_count: int = 100,
                   min_bigram_pmi: float = 30.0, min_title_views: int = 70,
                   wordfreq_corpus_tokens: float | None = None,
                   budgets: dict[str, int | None] | None = None,
                   session=None) -> StageReport:
    """A metadata list from any subset of sources, MetaCLIP's recipe (ALGORITHM.md §3):
    `output`/metadata.json, or `output`/{lang}.json with `lang` (other languages' lists in
    `output` are kept), plus entries.parquet/.tsv and _summary.json. Spark is started only
    for `wiki_text` and `pageviews`; `budgets` caps "wordnet", "unigrams", "bigrams",
    "titles". See curate.metadata_build.build."""
    from curate.metadata_build.build import BuildConfig, check_output
    from curate.metadata_build.lists import DEFAULT_CORPUS_TOKENS

    config = BuildConfig(
        lang=lang, wordnet=wordnet, wiki_text=tuple(wiki_text), pageviews=tuple(pageviews),
        unigram_counts=unigram_counts, titles=titles, wordfreq=wordfreq,
        min_unigram_count=min_unigram_count, min_bigram_pmi=min_bigram_pmi,
        min_title_views=min_title_views,
        wordfreq_corpus_tokens=(DEFAULT_CORPUS_TOKENS if wordfreq_corpus_tokens is None
                                else wordfreq_corpus_tokens),
        budgets=dict(budgets or {})).checked()
    check_output(output, config.lang)
    if config.wiki_text or config.pageviews:
        from curate.stages.metadata_build import run_metadata_build
        return run_metadata_build(_spark(session), output, config)
    from curate.metadata_build.build import metadata_build as build
    return build(output, config)


def metadata_stats(path: str, lang: str | None = None, top: int = 10) -> dict:
    """Entries per source and language, duplicates, empty/punctuation strings and the
    longest entries of a metadata file or directory (curate.metadata_build.stats)."""
    from curate.metadata_build.stats import metadata_stats as stats
    return stats(path, lang=lang, top=top)
