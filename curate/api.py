"""The Python API: one function per stage plus `run`; the CLI and jobs/ call these.

Every stage function has the same shape, `stage(input, output, options=None, session=None)`:
`options` is the stage's object from curate.options (None: conf/pipeline.toml and
$CURATE_CONFIG, resolved by `curate.options.resolve_*`), `session` a `Session`, a running
SparkSession, or None (local mode). Options are checked when they are built, and every
path a user names is checked here, so a mistake costs no JVM start-up. While a stage runs
its progress line is on stderr (curate.stages.progress); `quiet=True` turns it off.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

from curate import options as opts
from curate.errors import UserError
from curate.options import (CountOptions, ExtractOptions, MatchOptions, RunOptions,
                            SampleOptions)
from curate.sources.inputs import bundled_sample, resolve_inputs
from curate.stages.io import (STAGE_DIRS, StageReport, check_output, join, matched_with,
                              require_stage_output)
from curate.stages.locks import output_lock


@dataclass
class Session:
    """How to get Spark: a master and settings, started on first use. Under spark-submit
    the master is spark-submit's (another one is a UserError) and settings that apply only
    when the driver's JVM starts are left out with a warning (stages.session.get_spark)."""
    master: str | None = None
    conf: dict[str, str] = field(default_factory=dict)
    # An S3-compatible endpoint for s3:// and s3a:// inputs and outputs: curate's own
    # reads and writes (here and in the tasks) and Spark's S3A connector.
    s3_endpoint_url: str | None = None

    def __post_init__(self):
        if self.s3_endpoint_url:   # for this process's own reads and writes, from now on
            from curate.sources.s3 import use_s3_endpoint_here
            use_s3_endpoint_here(self.s3_endpoint_url)

    def spark(self):
        from curate.stages.session import get_spark, s3_endpoint_settings
        conf = dict(self.conf)
        if self.s3_endpoint_url:
            conf.update(s3_endpoint_settings(self.s3_endpoint_url))
        return get_spark(self.master, conf)


def _spark(session):
    """A SparkSession from a Session, an existing SparkSession, or None (the default)."""
    if session is None:
        session = Session()
    return session.spark() if isinstance(session, Session) else session


def extract(inputs: list[str], output: str, options: ExtractOptions | None = None,
            session=None, *, overwrite: bool = False, quiet: bool = False) -> StageReport:
    """Inputs: local paths, directories, globs, s3:// keys or prefixes, https:// URLs, and
    CommonCrawl listings (warc.paths.gz / wat.paths.gz), chosen by options.limit,
    options.sample_fraction and options.seed. `overwrite`: replace an `output` that is not
    an earlier extract output (see curate.stages.io.check_output)."""
    from curate.stages.extract import run_extract
    options = options or opts.resolve_extract(opts.config_path(None))
    paths = resolve_inputs(inputs, options)
    check_output(output, "extract", [*inputs, *paths], overwrite)
    with output_lock(output):   # a second run into it refuses before Spark starts
        return run_extract(_spark(session), paths, output, options, quiet=quiet)


def dedup(input: str, output: str, options: None = None, session=None, *,
          overwrite: bool = False, quiet: bool = False) -> StageReport:
    """One row per distinct (image_uuid, text). dedup has no options (the argument keeps
    the stages' one signature)."""
    from curate.stages.dedup import run_dedup
    require_stage_output(input)
    check_output(output, "dedup", [input], overwrite)
    with output_lock(output):   # a second run into it refuses before Spark starts
        return run_dedup(_spark(session), input, output, quiet=quiet)


def match(input: str, output: str, options: MatchOptions | None = None,
          session=None, *, overwrite: bool = False, quiet: bool = False) -> StageReport:
    """Identify each text's language and match it against that language's list."""
    from curate.stages.match import run_match
    options = options or opts.resolve_match(opts.config_path(None))
    require_stage_output(input)
    check_output(output, "match", [input, *_local(options.metadata)], overwrite)
    with output_lock(output):   # a second run into it refuses before Spark starts
        return run_match(_spark(session), input, output, options, quiet=quiet)


def count(input: str, output: str, options: CountOptions | None = None,
          session=None, *, overwrite: bool = False, quiet: bool = False) -> StageReport:
    """Matches per entry and language. Without options.metadata: the metadata the matched
    set was made with (its report names it)."""
    from curate.core.metadata import load_metadata_set
    from curate.stages.count import run_count
    options = options or opts.resolve_count(opts.config_path(None))
    require_stage_output(input)
    if options.metadata is None:
        options = replace(options, metadata=matched_with(input))
    check_output(output, "count", [input, *_local(options.metadata)], overwrite)
    load_metadata_set(options.metadata)   # a bad list is a user error before Spark
    with output_lock(output):   # a second run into it refuses before Spark starts
        return run_count(_spark(session), input, output, options, quiet=quiet)


def sample(input: str, output: str, options: SampleOptions | None = None, session=None, *,
           counts: str, overwrite: bool = False, quiet: bool = False) -> StageReport:
    """Balanced sampling of the matched rows in `input` with the count stage's output
    `counts` (of the same matched set)."""
    from curate.stages.sample import run_sample
    options = options or opts.resolve_sample(opts.config_path(None))
    require_stage_output(input)
    require_stage_output(counts)
    check_output(output, "sample", [input, counts], overwrite)
    with output_lock(output):
        return run_sample(_spark(session), input, output, options, counts=counts,
                          quiet=quiet)


def run(inputs: list[str] | None, workdir: str, options: RunOptions | None = None,
        session=None, on_stage: Callable[[StageReport], None] | None = None, *,
        overwrite: bool = False, resume: bool = False, quiet: bool = False
        ) -> list[StageReport]:
    """All five stages into workdir/{pairs,dedup,matched,counts,curated}; no inputs: the
    bundled CommonCrawl sample. Each stage directory is checked before Spark starts.

    `resume`: a stage whose complete output was made from the same inputs with the same
    options, metadata and package version (io.reusable) is not run again; its report
    comes back with details["reused"] set. (An extract that died part-way goes on from
    its committed groups with or without it.)"""
    options = options or opts.resolve_run(opts.config_path(None))
    names = inputs or bundled_sample()
    paths = resolve_inputs(names, options.extract)
    d = {stage: join(workdir, name) for stage, name in STAGE_DIRS.items()}
    metadata = _local(options.match.metadata)
    for stage, output in d.items():
        check_output(output, stage, [*names, *paths, *metadata], overwrite)
    with output_lock(workdir, workdir=True):   # the whole run: a second run refuses
        return _run_steps(d, paths, options, _spark(session), on_stage, resume,
                          quiet)


def _run_steps(d, paths, options, spark, on_stage, resume, quiet):
    """The five stages in turn (run's body, under the work directory's lock)."""
    from curate.stages.count import count_recipe, run_count
    from curate.stages.dedup import run_dedup
    from curate.stages.extract import extract_recipe, run_extract
    from curate.stages.match import match_recipe, run_match
    from curate.stages.sample import run_sample
    from curate.stages.io import recipe, reusable

    steps = [   # (stage, its recipe, the outputs it reads, how to run it)
        ("extract", lambda: extract_recipe(paths, options.extract), [],
         lambda: run_extract(spark, paths, d["extract"], options.extract, quiet=quiet)),
        ("dedup", lambda: recipe("dedup", None), [d["extract"]],
         lambda: run_dedup(spark, d["extract"], d["dedup"], quiet=quiet)),
        ("match", lambda: match_recipe(options.match), [d["dedup"]],
         lambda: run_match(spark, d["dedup"], d["match"], options.match, quiet=quiet)),
        ("count", lambda: count_recipe(options.count), [d["match"]],
         lambda: run_count(spark, d["match"], d["count"], options.count, quiet=quiet)),
        ("sample", lambda: recipe("sample", options.sample), [d["match"], d["count"]],
         lambda: run_sample(spark, d["match"], d["sample"], options.sample,
                            counts=d["count"], quiet=quiet)),
    ]
    reports = []
    for stage, recipe_of, upstream, step in steps:
        earlier = reusable(d[stage], stage, recipe_of(), upstream) if resume else None
        if earlier is not None:
            earlier.details["reused"] = True   # (in memory only: for the caller to say)
        reports.append(earlier or step())
        if on_stage:
            on_stage(reports[-1])
    return reports


def _local(path: str | None) -> list[str]:
    """A metadata path as a list of inputs the outputs must keep clear of."""
    return [path] if path else []


def report(workdir: str, output: str | None = None):
    """An HTML page (index.html) and PNG charts of a work directory made by `run`: row flow
    per stage, per-language numbers, entry counts by rank before and after balancing, head
    and tail shares, top entries. Written to `output` (default WORKDIR/report); no Spark.
    Returns a curate.report.WorkdirReport. Needs matplotlib (the `report` extra)."""
    from curate.report import build_report
    return build_report(workdir, output)


def verify(workdir: str, *, s3_endpoint_url: str | None = None):
    """The checks of `curate verify` on a work directory made by `run` (local or a store's
    URI; read only, no Spark): a curate.verify.Verification, whose `ok` is True when every
    check holds and whose `checks` say each one's numbers. A directory that is not a work
    directory is a UserError."""
    from curate.verify import verify as run_checks
    if s3_endpoint_url:
        from curate.sources.s3 import use_s3_endpoint_here
        use_s3_endpoint_here(s3_endpoint_url)
    return run_checks(workdir)


def metadata_build(output: str, *, lang: str | None = None, wordnet: str | None = None,
                   wiki_text: list[str] = (), pageviews: list[str] = (),
                   unigram_counts: str | None = None, titles: str | None = None,
                   wordfreq: str | None = None, min_unigram_count: int = 100,
                   min_bigram_pmi: float = 30.0, min_title_views: int = 70,
                   wordfreq_corpus_tokens: float | None = None,
                   budgets: dict[str, int | None] | None = None,
                   session=None, overwrite: bool = False) -> StageReport:
    """A metadata list from any subset of sources, MetaCLIP's recipe (ALGORITHM.md §3):
    `output`/metadata.json, or `output`/{lang}.json with `lang` (other languages' lists in
    `output` are kept), plus entries.parquet/.tsv and __curate__/summary.json. Spark is started only
    for `wiki_text` and `pageviews`; `budgets` caps "wordnet", "unigrams", "bigrams",
    "titles". See curate.core.metadata_build.build."""
    from curate.core.metadata_build.build import BuildConfig
    from curate.core.metadata_build.lists import DEFAULT_CORPUS_TOKENS
    from curate.stages.metadata_build import check_list_layout
    from curate.stages.metadata_build import metadata_build as build

    config = BuildConfig(
        lang=lang, wordnet=wordnet,
        wiki_text=tuple(wiki_text), pageviews=tuple(pageviews),
        unigram_counts=unigram_counts, titles=titles, wordfreq=wordfreq,
        min_unigram_count=min_unigram_count, min_bigram_pmi=min_bigram_pmi,
        min_title_views=min_title_views,
        wordfreq_corpus_tokens=(DEFAULT_CORPUS_TOKENS if wordfreq_corpus_tokens is None
                                else wordfreq_corpus_tokens),
        budgets=dict(budgets or {})).checked()
    check_list_layout(output, config.lang)
    sources = [p for p in (wordnet, unigram_counts, titles, wordfreq, *wiki_text, *pageviews)
               if p]
    check_output(output, "metadata_build", sources, overwrite)
    if config.wiki_text or config.pageviews:
        from curate.stages.metadata_build import run_metadata_build
        return run_metadata_build(_spark(session), output, config)
    return build(output, config)


def metadata_stats(path: str, lang: str | None = None, top: int = 10) -> dict:
    """Entries per source and language, duplicates, empty/punctuation strings and the
    longest entries of a metadata file or directory (curate.core.metadata_build.stats)."""
    from curate.core.metadata_build.stats import metadata_stats as stats
    return stats(path, lang=lang, top=top)


__all__ = ["Session", "extract", "dedup", "match", "count", "sample", "run", "verify",
           "report", "metadata_build", "metadata_stats", "UserError"]
