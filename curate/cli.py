"""The `curate` command: one sub-command per stage, and `run` for all five.

The jobs/ entry points call `main` with the same arguments, so spark-submit, the CLI and
the Python API (curate.api) share one set of options and one code path.
"""
from __future__ import annotations

import logging
import sys

import click

from curate import api
from curate import options as opts
from curate.errors import CountsDisagree, RunFailed, UserError
from curate.sources.redact import redact_text
from curate.stages.io import ERRORS_DIR, StageReport

class _StageDir(click.ParamType):
    """A stage's input directory: a local one must exist (checked as click does); a URI
    of another store (s3a://, gs://, hdfs:// ...) is checked by the stage when it reads."""
    name = "directory"
    _local = click.Path(exists=True, file_okay=False)

    def convert(self, value, param, ctx):
        from curate.stages.stores import scheme_of
        return self._local.convert(value, param, ctx) if scheme_of(value) == "" else value


EXISTING_DIR = _StageDir()


def _shipped(key: str, section: str | None = None, recipe: str | None = None):
    """A setting's shipped value (conf/pipeline.toml under the default recipe, or under
    `recipe`), for --help."""
    settings = opts.load_settings(recipe=recipe)
    return settings[section].get(key) if section else settings[key]


def _by_recipe(key: str, section: str | None = None) -> str:
    """'metaclip1: X; metaclip2: Y' for --help: a setting the recipes fix."""
    return "; ".join(f"{name}: {_shipped(key, section, name)}" for name in opts.RECIPES)


RECIPE = click.option(
    "--recipe", type=click.Choice(opts.RECIPES), default=None,
    help=f"The published recipe whose settings are the defaults: metaclip1 (English, v1 "
         f"keys, the keep rule on every pair, t = 20,000) or metaclip2 (all languages, v2 "
         f"keys, one text per image, t_en = 170,000); flags and --config override single "
         f"settings (conf/recipes.toml). Default: {_shipped('recipe')}.")
RULES = click.option(
    "--rules", type=click.Choice(opts.RULES), default=None,
    help="algorithm (default): ALGORITHM.md's reading; reference: MetaCLIP's published "
         "code exactly, for parity with its data: v2 keys padded next to kana, its "
         "punctuation set (ASCII string.punctuation and 25 full-width marks) instead of "
         "Unicode's, and a derived t of 0 for a language with very few matches (which "
         "drops it) instead of 1 (docs/metadata.md#matching-rules).")


def _with_options(command, options):
    """command decorated by each option, listed in --help in the given order."""
    for option in reversed(options):
        command = option(command)
    return command


def spark_options(command):
    """--master, --conf and --s3-endpoint-url: every command that runs Spark takes them."""
    return _with_options(command, [
        click.option("--master", default=None,
                     help="Spark master. Default: what spark-submit provides (under "
                          "spark-submit no other is accepted), else local[*]."),
        click.option("--conf", "confs", multiple=True, metavar="KEY=VALUE",
                     help="A Spark setting, repeatable (e.g. --conf spark.driver.memory=8g)."),
        # Kept in the context (expose_value=False): _session and the extract options read it.
        click.option("--s3-endpoint-url", default=None, metavar="URL", expose_value=False,
                     callback=lambda ctx, _param, value: ctx.meta.update(s3_endpoint_url=value),
                     help="An S3-compatible endpoint (MinIO, R2, ...) for s3:// and s3a:// "
                          "inputs and outputs, for curate's own reads and writes and for "
                          "Spark's S3A connector; default: $CURATE_S3_ENDPOINT_URL, else "
                          "AWS's."),
    ])


def common_options(command):
    """--overwrite, --quiet, --config and the Spark options: every pipeline stage takes
    them."""
    command = OVERWRITE(QUIET(command))
    return click.option(
        "--config", "config", type=click.Path(exists=True, dir_okay=False), default=None,
        metavar="FILE",
        help="A TOML file of pipeline settings in the shape of conf/pipeline.toml (any "
             "subset of its keys) over the shipped ones; default: $CURATE_CONFIG if set. "
             "Flags override both.")(spark_options(command))


METADATA = click.option(
    "--metadata", type=click.Path(exists=True), default=None,
    help="Metadata: a JSON list of strings (MetaCLIP's metadata.json) or a UTF-8 text file, "
         "one entry per line (entry id = position), or a directory of per-language lists "
         "(en.json, de.json, zh.json ...). Default: the shipped English list.")
OUTPUT = click.option("-o", "--output", required=True, type=click.Path(),
                      help="Output directory: missing, empty, or an earlier output of the "
                           "same stage, replaced as a whole when the stage succeeds.")
OVERWRITE = click.option("--overwrite", is_flag=True,
                         help="Replace the output directory even when this stage did not "
                              "write what is in it (never an input, though).")
QUIET = click.option("-q", "--quiet", is_flag=True,
                     help="No progress line on stderr while a stage runs (else: one line "
                          "redrawn in place on a terminal, a line every 30 s in a log).")


def match_options(command):
    """Options of the match stage, shared by `match` and `run`."""
    return _with_options(command, [
        click.option("--languages", default=None, metavar="all|L[,L...]",
                     help="Languages matched, each against its own list: `en` is MetaCLIP "
                          "v1 (texts identified as another language leave, counted); `all` "
                          "is Meta CLIP 2's worldwide mode. Default: the recipe's "
                          f"({_by_recipe('languages', 'match')})."),
        click.option("--assume-lang", default=None, metavar="L",
                     help="Treat every text as language L and skip language identification "
                          "(for pools already filtered by language)."),
        click.option("--spacing", type=click.Choice(opts.SPACINGS), default=None,
                     help="Entry keys: v1 pads every entry with spaces; v2 does not next to "
                          "CJK/kana/Thai/Lao/Burmese/Khmer/Tibetan characters or "
                          "punctuation. Default: the recipe's (metaclip2: v2), else v1 for "
                          "--languages en, v2 for all."),
        RECIPE, RULES,
    ])


class PipelineOrder(click.Group):
    """Lists the commands in the order a run takes them, not alphabetically."""
    ORDER = ("run", "extract", "dedup", "match", "count", "sample", "verify", "report",
             "metadata")

    def list_commands(self, ctx):
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: (self.ORDER.index(n) if n in self.ORDER
                                            else len(self.ORDER), n))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("curate")
    except PackageNotFoundError:   # run from a source tree that was never installed
        return "unknown"


@click.group(cls=PipelineOrder,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(version=_version(), prog_name="curate", message="%(prog)s %(version)s")
def cli():
    """Build a MetaCLIP-style balanced image-text set from CommonCrawl, on Spark.

    \b
    Stages: extract -> dedup -> match -> count -> sample; `curate run` does all five.
    Recipe: metaclip1 by default (English, v1 keys, per pair, t = 20,000); --recipe
    metaclip2 is Meta CLIP 2's (all languages, v2 keys, per image, t_en = 170,000).
    Example:  curate run -o work          (on the bundled CommonCrawl sample)
    """


def extract_options(command):
    """Options of the extract stage, shared by `extract` and `run`."""
    return _with_options(command, [
        click.option("--input-base-url", default=None,
                     help="Where the keys of a warc.paths.gz / wat.paths.gz listing live: "
                          "https://data.commoncrawl.org/ (default, no credentials needed) or "
                          "s3://commoncrawl/."),
        click.option("--limit", type=click.IntRange(min=1), default=None,
                     help="Read only the first N input files (after sampling)."),
        click.option("--sample-fraction", type=click.FloatRange(0, 1, min_open=True),
                     default=None, help="Read a deterministic share F of the input files "
                                        "(chosen by a hash of seed and path)."),
        click.option("--lazy-images/--no-lazy-images", default=None,
                     help="Also take data-src / srcset when src is missing or a placeholder "
                          "(default: off)."),
        click.option("--commit-every", type=click.IntRange(min=1), default=None, metavar="N",
                     help="Commit the output every N input files, so that the same command "
                          "after a crash reads only the files not yet committed (default: "
                          "eight waves of the task slots, at least 64)."),
        click.option("--max-failed-fraction", type=click.FloatRange(0, 1), default=None,
                     help="Fail (exit 1) when more than this share of input files could not "
                          "be read, and at least one (default: 0.01; 0: any failed file)."),
    ])


def _extract_flags(input_base_url, limit, sample_fraction, lazy_images, commit_every,
                   max_failed_fraction, seed) -> dict:
    s3_endpoint_url = click.get_current_context().meta.get("s3_endpoint_url")
    return dict(input_base_url=input_base_url, s3_endpoint_url=s3_endpoint_url, limit=limit,
                sample_fraction=sample_fraction, lazy_images=lazy_images,
                commit_every=commit_every, max_failed_fraction=max_failed_fraction, seed=seed)


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@OUTPUT
@extract_options
@click.option("--seed", type=int, default=None,
              help="Seed of --sample-fraction and of the task order (default: 0).")
@common_options
def extract(inputs, output, input_base_url, limit, sample_fraction, lazy_images,
            commit_every, max_failed_fraction, seed, config, master, confs, overwrite,
            quiet):
    """WARC/WAT/ARC files -> image-text pairs.

    INPUTS: local files (.gz or plain), directories, globs, s3://bucket/key, s3://bucket/prefix/,
    https:// URLs, and CommonCrawl listings (warc.paths.gz, wat.paths.gz).

    \b
    Example:  curate extract 'crawl/*.warc.gz' crawl/wat/ -o work/pairs
              curate extract wat.paths.gz --sample-fraction 0.01 -o work/pairs
    """
    options = opts.resolve_extract(opts.config_path(config), **_extract_flags(
        input_base_url, limit, sample_fraction, lazy_images, commit_every, max_failed_fraction,
        seed))
    _print(api.extract(list(inputs), output, options, _session(master, confs),
                       overwrite=overwrite, quiet=quiet))


@cli.command()
@click.argument("input_dir", metavar="PAIRS_DIR", type=EXISTING_DIR)
@OUTPUT
@common_options
def dedup(input_dir, output, config, master, confs, overwrite, quiet):
    """One row per distinct (image_uuid, text) over the whole input.

    \b
    Example:  curate dedup work/pairs -o work/dedup
    """
    opts.load_settings(opts.config_path(config))   # a broken --config fails here too
    _print(api.dedup(input_dir, output, None, _session(master, confs), overwrite=overwrite,
                     quiet=quiet))


@cli.command()
@click.argument("input_dir", metavar="DEDUP_DIR", type=EXISTING_DIR)
@OUTPUT
@METADATA
@match_options
@common_options
def match(input_dir, output, metadata, languages, assume_lang, spacing, recipe, rules, config,
          master, confs, overwrite, quiet):
    """Identify each text's language and substring-match it against that language's
    metadata; unmatched rows leave, counted by language.

    \b
    Example:  curate match work/dedup -o work/matched --metadata metadata.json
              curate match work/dedup -o work/matched --assume-lang en --spacing v1
              curate match work/dedup -o work/matched --metadata lists/ --languages all
              curate match work/dedup -o work/matched --recipe metaclip2 --rules reference
    """
    options = opts.resolve_match(opts.config_path(config), metadata=metadata,
                                 languages=languages, assume_lang=assume_lang, spacing=spacing,
                                 recipe=recipe, rules=rules)
    _print(api.match(input_dir, output, options, _session(master, confs), overwrite=overwrite,
                     quiet=quiet))


def threshold_options(command):
    """--t and --t-lang: the thresholds of count's summary and of sample."""
    return _with_options(command, [
        click.option("--t", "t", type=click.IntRange(min=1), default=None,
                     help=f"Head/tail threshold of English (or of the one list): entries "
                          f"matched t times or more are sampled down to about t (default: "
                          f"the recipe's; {_by_recipe('t')}). Other languages get the t "
                          f"that gives them English's tail proportion."),
        click.option("--t-lang", "t_lang", multiple=True, metavar="L=T",
                     help="The t of language L, instead of the derived one (repeatable)."),
    ])


def sampling_options(command):
    """Options of the sample stage, shared by `sample` and `run`."""
    return _with_options(threshold_options(command), [
        click.option("--seed", type=int, default=None,
                     help="Seed of the per-(image, text, entry) coins and of each image's "
                          "text draw (default: 0)."),
        click.option("--unit", type=click.Choice(opts.UNITS), default=None,
                     help="image: one of each image's matched texts, by a seeded draw, then "
                          "the keep rule (Meta CLIP 2); pair: the keep rule on every pair "
                          "(Algorithm 1 literally). Default: the recipe's "
                          f"({_by_recipe('unit', 'sample')})."),
        click.option("--target-size", type=click.IntRange(min=1), default=None,
                     help="Choose t (English's; the others follow) so that the expected "
                          "output size is N rows, by bisection; overrides --t."),
    ])


def _sample_flags(t, t_lang, seed=None, unit=None, target_size=None) -> dict:
    return dict(t=t, t_lang=opts.parse_t_lang(t_lang), seed=seed, unit=unit,
                target_size=target_size)


@cli.command()
@click.argument("input_dir", metavar="MATCHED_DIR", type=EXISTING_DIR)
@OUTPUT
@METADATA
@threshold_options
@RECIPE
@RULES
@common_options
def count(input_dir, output, metadata, t, t_lang, recipe, rules, config, master, confs,
          overwrite, quiet):
    """Count matches per metadata entry and language (zeros included); write __curate__/summary.json
    (per language: texts, matches, head entries and tail proportion at t) and
    __curate__/entry_counts/{lang}.json (MetaCLIP's {entry: count} form).

    \b
    Example:  curate count work/matched -o work/counts
              curate count work/matched -o work/counts --metadata lists/ --t 20000 --t-lang de=5000
    """
    options = opts.resolve_count(opts.config_path(config), metadata=metadata, t=t,
                                 t_lang=opts.parse_t_lang(t_lang), recipe=recipe, rules=rules)
    _print(api.count(input_dir, output, options, _session(master, confs), overwrite=overwrite,
                     quiet=quiet))


@cli.command()
@click.argument("matched_dir", metavar="MATCHED_DIR", type=EXISTING_DIR)
@click.option("--counts", "counts_dir", required=True, type=EXISTING_DIR,
              help="The count stage's output for that matched set.")
@OUTPUT
@sampling_options
@RECIPE
@RULES
@common_options
def sample(matched_dir, counts_dir, output, t, t_lang, recipe, rules, seed, unit, target_size,
           config, master, confs, overwrite, quiet):
    """Balanced sampling: tail entries kept, head entries capped at about t. The output is
    flat Parquet files with url and text columns, ready for img2dataset
    (--input_format parquet --url_col url --caption_col text).

    \b
    Example:  curate sample work/matched --counts work/counts -o work/curated --t 20000
              curate sample work/matched --counts work/counts -o work/curated --target-size 1000000
    """
    options = opts.resolve_sample(opts.config_path(config), recipe=recipe, rules=rules,
                                  **_sample_flags(t, t_lang, seed, unit, target_size))
    _print(api.sample(matched_dir, output, options, _session(master, confs),
                      counts=counts_dir, overwrite=overwrite, quiet=quiet))


@cli.command()
@click.argument("inputs", nargs=-1)
@click.option("-o", "--output", "workdir", required=True, type=click.Path(),
              help="Work directory; stages write pairs/ dedup/ matched/ counts/ curated/.")
@METADATA
@match_options
@sampling_options
@extract_options
@click.option("--resume", is_flag=True, default=False,
              help="Keep each stage output of WORKDIR made from the same inputs with the "
                   "same options, metadata and version, and run the others (an extract "
                   "that died part-way goes on from its committed files either way).")
@common_options
def run(inputs, workdir, metadata, languages, assume_lang, spacing, recipe, rules, t, t_lang,
        seed, unit, target_size, input_base_url, limit, sample_fraction, lazy_images,
        commit_every, max_failed_fraction, resume, config, master, confs, overwrite, quiet):
    """All five stages; with no INPUTS, on the bundled CommonCrawl sample.

    INPUTS are those of `curate extract`; --seed seeds both the input sampling and the
    balanced sampling.

    \b
    Example:  curate run -o work
              curate run 'crawl/*.warc.gz' -o work --t 20000
              curate run 'crawl/*.warc.gz' -o work --t 20000 --resume   (after a crash)
              curate run 'crawl/*.warc.gz' -o work --recipe metaclip2
    """
    options = opts.resolve_run(
        opts.config_path(config), recipe=recipe, rules=rules,
        extract=_extract_flags(input_base_url, limit, sample_fraction, lazy_images,
                               commit_every, max_failed_fraction, seed),
        match=dict(metadata=metadata, languages=languages, assume_lang=assume_lang,
                   spacing=spacing),
        sample=_sample_flags(t, t_lang, seed, unit, target_size))
    reports = api.run(list(inputs) or None, workdir, options, _session(master, confs),
                      on_stage=_print, overwrite=overwrite, resume=resume,
                      quiet=quiet)
    click.echo("")
    click.echo(format_table(reports))


@cli.group()
def metadata():
    """Build metadata lists with MetaCLIP's recipe, and inspect lists.

    \b
    Example:  curate metadata build -o meta --wordnet /usr/share/wordnet
              curate metadata stats meta
    """


def _budget(name, what):
    return click.option(f"--budget-{name}", type=click.IntRange(min=0), default=None,
                        metavar="N", help=f"Place at most N {what} (default: no cap).")


@metadata.command("build")
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Output directory: the list (metadata.json, or {lang}.json with --lang), "
                   "entries.parquet and entries.tsv (entry_id, entry, source, statistic, "
                   "lang), __curate__/summary.json. An existing DIR must be empty or an earlier "
                   "build's "
                   "(else --overwrite); replaced as a whole when the build succeeds, "
                   "except that a --lang build keeps the other languages' lists in it.")
@click.option("--lang", default=None, metavar="L",
              help="Build language L's list into DIR/L.json (pageview lines of L's Wikipedia). "
                   "Several languages built into one DIR make a worldwide directory for "
                   "`curate match --metadata DIR`. Default: English, into DIR/metadata.json.")
@click.option("--wordnet", type=click.Path(), default=None, metavar="DIR",
              help="WordNet database directory (data.noun ...; Debian: /usr/share/wordnet): "
                   "each synset's head lemma, _ -> space.")
@click.option("--wiki-text", multiple=True, metavar="PATH",
              help="Wikipedia text, counted on Spark: pages-articles XML dumps (.bz2, .gz or "
                   "plain) or plain text files; a directory or glob names many (repeatable). "
                   "Gives unigrams and bigrams.")
@click.option("--unigram-counts", type=click.Path(), default=None, metavar="FILE",
              help="Unigram counts as a JSON object {word: count} (e.g. wikiwords' "
                   "enwiki counts), instead of --wiki-text.")
@click.option("--wordfreq", type=click.Path(), default=None, metavar="FILE",
              help="wordfreq's large_XX.msgpack.gz: words whose frequency x "
                   "--wordfreq-corpus-tokens reaches --min-unigram-count, after the "
                   "Wikipedia unigrams (source f).")
@click.option("--pageviews", multiple=True, metavar="PATH",
              help="Wikimedia hourly pageview files (`lang title views bytes` lines; .gz, .bz2 "
                   "or plain), summed per title on Spark; a directory or glob names many "
                   "(repeatable).")
@click.option("--titles", type=click.Path(), default=None, metavar="FILE",
              help="Titles as a JSON object (keys; e.g. titles_en-us.json) or list (ranked), "
                   "instead of --pageviews.")
@click.option("--min-unigram-count", type=click.IntRange(min=1), default=100,
              show_default=True, metavar="N", help="Unigrams seen at least N times.")
@click.option("--min-bigram-pmi", type=float, default=30.0, show_default=True, metavar="X",
              help="Bigrams with PMI = log2(p(w1 w2) / (p(w1) p(w2))) of at least X.")
@click.option("--min-title-views", type=click.IntRange(min=1), default=70,
              show_default=True, metavar="N", help="Titles viewed at least N times in all.")
@click.option("--wordfreq-corpus-tokens", type=click.FloatRange(min=1), default=None,
              metavar="N", help="Assumed corpus size for --wordfreq (default 3.5e9: the size "
                                "at which wordfreq's English frequencies give the 2012 "
                                "Wikipedia counts).")
@_budget("wordnet", "WordNet lemmas")
@_budget("unigrams", "unigrams (Wikipedia and wordfreq; MetaCLIP: 251465)")
@_budget("bigrams", "bigrams (MetaCLIP: 100646)")
@_budget("titles", "titles (MetaCLIP: 61235)")
@OVERWRITE
@spark_options
def metadata_build(output, lang, wordnet, wiki_text, unigram_counts, wordfreq, pageviews,
                   titles, min_unigram_count, min_bigram_pmi, min_title_views,
                   wordfreq_corpus_tokens, budget_wordnet, budget_unigrams, budget_bigrams,
                   budget_titles, overwrite, master, confs):
    """A metadata list from any subset of sources, with MetaCLIP's recipe: WordNet head
    lemmas, Wikipedia unigrams (count >= 100) and bigrams (PMI >= 30), Wikipedia titles
    (>= 70 views), and the numbers 0-99, in a stable order (source, statistic, string).

    \b
    Example:  curate metadata build -o meta --wordnet /usr/share/wordnet \\
                --wiki-text 'dumps/enwiki-*-pages-articles*.bz2' \\
                --pageviews 'pageviews/pageviews-2024*.gz'
              curate metadata build -o lists --lang de --wiki-text dewiki.xml.bz2
    """
    report = api.metadata_build(
        output, lang=lang, wordnet=wordnet, wiki_text=list(wiki_text),
        pageviews=list(pageviews), unigram_counts=unigram_counts, titles=titles,
        wordfreq=wordfreq, min_unigram_count=min_unigram_count, min_bigram_pmi=min_bigram_pmi,
        min_title_views=min_title_views, wordfreq_corpus_tokens=wordfreq_corpus_tokens,
        budgets={"wordnet": budget_wordnet, "unigrams": budget_unigrams,
                 "bigrams": budget_bigrams, "titles": budget_titles},
        session=_session(master, confs), overwrite=overwrite)
    _print(report)
    details = report.details
    click.echo(f"{report.stage}: {details['file']} ({details['lang']}): " + ", ".join(
        f"{tag} {n}" for tag, n in details["kept"].items()))


@metadata.command("stats")
@click.argument("path", metavar="FILE|DIR", type=click.Path(exists=True))
@click.option("--lang", default=None, metavar="L",
              help="The language of a single list (default: the build's, else en).")
@click.option("--top", type=click.IntRange(min=0), default=10, show_default=True,
              metavar="N", help="Longest entries (and duplicates) shown.")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
def metadata_stats(path, lang, top, as_json):
    """Entries per source and language, duplicates, empty or single-punctuation strings and
    the longest entries of a metadata list (MetaCLIP's metadata.json, a text list, a build
    output, or a directory of {lang}.json lists).

    \b
    Example:  curate metadata stats meta
              curate metadata stats metadata.json --json
    """
    import json

    from curate.core.metadata_build.stats import format_stats

    stats = api.metadata_stats(path, lang=lang, top=top)
    click.echo(json.dumps(stats, indent=2, ensure_ascii=False) if as_json
               else format_stats(stats))


def _session(master, confs):
    conf = {}
    for item in confs:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--conf {item!r}: expected KEY=VALUE")
        conf[key.strip()] = value.strip()
    return api.Session(master=master, conf=conf,
                       s3_endpoint_url=click.get_current_context().meta.get("s3_endpoint_url"))


def _print(report: StageReport) -> None:
    if report.details.get("reused"):
        click.echo(f"{report.stage}: kept from an earlier run (same inputs, options, "
                   f"metadata and version): {report.rows_out} rows -> {report.output}")
        return
    click.echo(f"{report.stage}: {report.rows_in} in, {report.rows_out} out, "
               f"{_dropped(report)} ({report.seconds:.1f} s) -> {report.output}")
    details = report.details
    if "records_skipped" in details:
        skipped = ", ".join(f"{k} {v}" for k, v in details["records_skipped"].items()) or "none"
        click.echo(f"{report.stage}: {details['files']} files ({details['files_read']} read, "
                   f"{details['files_failed']} failed), {details['records']} records "
                   f"({details['records_used']} pages used; skipped: {skipped})")
    if details.get("files_failed"):
        click.echo(f"{report.stage}: {details['files_failed']} of {details['files']} input "
                   f"files could not be read completely:")
        for failure in details.get("failed_files", []):
            click.echo(f"  {failure['path']}: {failure['reason']}")
        more = details["files_failed"] - len(details.get("failed_files", []))
        click.echo(f"  {'and ' + str(more) + ' more; ' if more > 0 else ''}"
                   f"all are in {report.output}/{ERRORS_DIR}")
    if details.get("cleaned_up"):
        shown = details["cleaned_up"][:3]
        more = len(details["cleaned_up"]) - len(shown)
        click.echo(f"{report.stage}: removed what an interrupted run left: {', '.join(shown)}"
                   + (f" and {more} more" if more > 0 else ""))
    for warning in details.get("warnings", []):
        click.echo(f"{report.stage}: warning: {warning}")
    if details.get("image_pick") == "shuffle" and details.get("target_size") is None:
        click.echo(f"{report.stage}: the input's files are not sorted ranges of image_uuid (as "
                   "dedup and match write them), so --unit image grouped each image's texts "
                   "by a shuffle: the same rows, but slower")


def _top_reasons(dropped: dict[str, int], reasons: int) -> str:
    ranked = sorted(dropped.items(), key=lambda item: (-item[1], item[0]))
    shown = ", ".join(f"{k} {v}" for k, v in ranked[:reasons]) or "-"
    rest = ranked[reasons:]
    if rest:
        shown += f", {len(rest)} more ({sum(v for _, v in rest)} rows)"
    return shown


def _dropped(report: StageReport) -> str:
    if not report.dropped:
        return "none dropped"
    return "dropped " + ", ".join(f"{k} {v}" for k, v in report.dropped.items())


def format_table(reports: list[StageReport], reasons: int = 3) -> str:
    """The row flow, one line per stage; the dropped column shows the `reasons` largest
    reasons and then "N more" (a worldwide match drops rows for dozens of languages)."""
    header = ("stage", "rows in", "rows out", "dropped", "seconds")
    rows = [(r.stage, str(r.rows_in), str(r.rows_out), _top_reasons(r.dropped, reasons),
             f"{r.seconds:.1f}") for r in reports]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    line = lambda row: "  ".join(c.rjust(w) if i in (1, 2, 4) else c.ljust(w)
                                 for i, (c, w) in enumerate(zip(row, widths))).rstrip()
    return "\n".join([line(header), *(line(r) for r in rows)])


@cli.command()
@click.argument("workdir", metavar="WORKDIR", type=click.Path())
@click.option("-o", "--output", default=None, type=click.Path(),
              help="Where to write index.html and the PNGs (default: WORKDIR/report).")
def report(workdir, output):
    """An HTML page with PNG charts of a work directory made by `curate run`: rows in, out
    and dropped by reason per stage; matches per entry by rank on log-log axes before and
    after balancing, with t; head and tail shares; per-language numbers and t; the top 20
    entries per language. Prints the key numbers. Reads the outputs with pyarrow (no
    Spark); needs matplotlib (pip install 'curate[report]').

    \b
    Example:  curate report work
              curate report work -o /tmp/work-report
    """
    from curate.report import format_terminal
    click.echo(format_terminal(api.report(workdir, output)))


@cli.command()
@click.argument("workdir", metavar="WORKDIR")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.option("--s3-endpoint-url", default=None, metavar="URL",
              help="An S3-compatible endpoint for an s3:// or s3a:// WORKDIR (default: "
                   "$CURATE_S3_ENDPOINT_URL, else AWS's).")
def verify(workdir, as_json, s3_endpoint_url):
    """Check that a work directory made by `curate run` is one coherent run and that no
    row was lost without a record: every input read or in errors; pairs = dedup +
    duplicates; dedup = matched + unmatched by reason and language; counts = a recount
    of matched; curated rows are matched rows; each stage read the output the previous
    report names; no temporaries left. One line per check; exit 0 only when all hold.
    Reads only (no Spark).

    \b
    Example:  curate verify work
              curate verify s3a://bucket/work --json
    """
    import json

    result = api.verify(workdir, s3_endpoint_url=s3_endpoint_url)
    click.echo(json.dumps(result.to_json(), indent=2) if as_json else "\n".join(result.lines()))
    return 0 if result.ok else 1


def main(args: list[str] | None = None) -> None:
    """Entry point: user errors are one line on stderr and exit status 2, never a traceback."""
    _terminal_for_curate_only()
    try:
        code = cli.main(args=args, prog_name="curate", standalone_mode=False)
    except (click.ClickException, UserError) as error:
        message = error.format_message() if isinstance(error, click.ClickException) else error
        # (click quotes the value it refused, which may be a URL with a password)
        click.echo(f"curate: error: {redact_text(str(message))}", err=True)
        sys.exit(2)
    except RunFailed as failure:
        if failure.report is not None:
            _print(failure.report)
        click.echo(f"curate: failed: {failure}", err=True)
        sys.exit(1)
    except CountsDisagree as failure:   # rows lost: nothing was committed
        click.echo(f"curate: failed: {failure}", err=True)
        sys.exit(1)
    except (click.Abort, KeyboardInterrupt):
        _quiet_spark_shutdown()
        click.echo(f"curate: interrupted; no output was replaced (Spark's log: "
                   f"{_log_path()})", err=True)
        sys.exit(130)
    except Exception as error:
        died = _jvm_death(error)
        if died:
            _quiet_spark_shutdown()
            log = _write_trace(error)
            click.echo(f"curate: failed: Spark's JVM died ({died}) while the command ran; no "
                       f"output was replaced (the trace: {log})", err=True)
            sys.exit(1)
        from curate.stages.io import disk_full
        if disk_full(error):   # (a stage's own writes name their output: RunFailed)
            log = _write_trace(error)
            click.echo(f"curate: failed: no space left on a device this command writes to; "
                       f"nothing was replaced (the trace: {log})", err=True)
            sys.exit(1)
        if not _is_spark_error(error):
            raise   # a bug: Python's traceback
        log = _write_trace(error)
        first = redact_text((str(error).strip().splitlines() or [type(error).__name__])[0])[:300]
        click.echo(f"curate: failed: Spark: {first} (the trace: {log})", err=True)
        sys.exit(1)
    sys.exit(code or 0)


def _terminal_for_curate_only() -> None:
    """What libraries log (py4j's errors when the JVM goes away) goes to the log file, not
    to the terminal; Ctrl-C is an interruption, also while a Spark job runs."""
    import logging

    from curate.stages import session

    session.INTERRUPT_RAISES = True
    if not logging.getLogger().handlers:
        logging.basicConfig(filename=_log_path(), level=logging.WARNING,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
        for handler in logging.getLogger().handlers:   # a library may log a signed URL
            handler.setFormatter(_RedactingFormatter(handler.formatter._fmt))


class _RedactingFormatter(logging.Formatter):
    """Log lines with every URI in them redacted (curate.sources.redact)."""

    def format(self, record) -> str:
        return redact_text(super().format(record))


def _log_path() -> str:
    from curate.stages.io import log_path
    return log_path()


def _jvm_death(error: Exception) -> str | None:
    """How the JVM this process started ended ("killed by signal 9", "exit status 1"),
    when `error` is a broken connection to it; None while it runs (or when this process
    did not start one: spark-submit's)."""
    if "pyspark" not in sys.modules or not _broken_connection(error):
        return None
    import subprocess

    from pyspark import SparkContext

    process = getattr(SparkContext._gateway, "proc", None)
    try:   # its socket closes a moment before the process is gone
        code = process.wait(timeout=5) if process is not None else None
    except subprocess.TimeoutExpired:
        return None
    if code is None:
        return None
    return f"killed by signal {-code}" if code < 0 else f"exit status {code}"


def _broken_connection(error: BaseException) -> bool:
    from py4j.protocol import Py4JNetworkError
    while error is not None:
        if isinstance(error, (ConnectionError, Py4JNetworkError)):
            return True
        error = error.__context__
    return False


def _is_spark_error(error: Exception) -> bool:
    """An error raised by Spark or its gateway (a failed job, a lost JVM)."""
    return type(error).__module__.split(".")[0] in ("pyspark", "py4j")


def _write_trace(error: Exception) -> str:
    import traceback

    from curate.stages.io import append_log

    log = _log_path()
    append_log(log, redact_text("".join(traceback.format_exception(error))))
    return log


def _quiet_spark_shutdown() -> None:
    """After Ctrl-C, py4j logs every broken call on the way out: keep them off the
    terminal (they are not the user's concern)."""
    import logging
    logging.getLogger("py4j").setLevel(logging.CRITICAL)


if __name__ == "__main__":
    main()
