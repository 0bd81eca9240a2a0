"""`curate metadata build`: the sources of a list, its assembly, and its output directory.

Counting the Wikipedia text and the pageview files is passed in as two functions, so the
same build runs on the pure core (curate.core.metadata_build.pmi.wiki_statistics,
curate.core.metadata_build.pageviews.pageview_titles) or on Spark (curate.stages.metadata_build).

Output directory (complete or absent: written beside it, then renamed into place):

* the list, MetaCLIP's format (a JSON list of strings; entry id = position; compact UTF-8
  JSON, so the file's sha256 is the list's fingerprint): ``metadata.json`` without
  ``--lang``, ``{lang}.json`` with it. A ``--lang`` build keeps the other languages' lists
  already in the directory, so builds of several languages into one directory make a
  worldwide directory that ``--metadata DIR`` reads; a build without ``--lang`` replaces the
  directory.
* ``entries.parquet`` and ``entries.tsv``: one row per entry of every list in the directory:
  ``lang``, ``entry_id``, ``entry``, ``source`` (curate.core.metadata_build.assemble's tags),
  ``statistic`` (the value that admitted it: count, frequency, PMI, views, rank, number;
  empty for WordNet and unranked titles). In the TSV, ``\\``, tab, newline and carriage
  return inside an entry are written ``\\\\``, ``\\t``, ``\\n``, ``\\r``.
* ``__curate__/summary.json``: per language, the entries per source, what each source read and
  offered, the strings dropped by reason, the options and inputs; ``__curate__/stage.json``:
  this run's report.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Callable

from curate.errors import UserError
from curate.options import INT64_MAX
from curate.core.metadata_build.assemble import Assembled, Block, assemble, numbers
from curate.core.metadata_build.lists import DEFAULT_CORPUS_TOKENS

__all__ = ["BuildConfig", "BUDGET_NAMES", "LIST_FILE", "collect_blocks", "build_list",
           "list_file_name", "canonical_json"]

STAGE = "metadata_build"
LIST_FILE = "metadata.json"          # the list of a build without --lang
ENTRIES_PARQUET = "entries.parquet"
ENTRIES_TSV = "entries.tsv"
BUDGET_NAMES = ("wordnet", "unigrams", "bigrams", "titles")
# What curate.core.metadata reads as a per-language list of a directory: {lang}.json|txt[.gz].
LANG_LIST = re.compile(r"([a-z]{2,3}(?:[-_][a-z0-9]+)?)\.(?:json|txt)(?:\.gz)?")
_LANG = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]+)?")


@dataclass(frozen=True)
class BuildConfig:
    lang: str | None = None                  # None: English sources, written as metadata.json
    wordnet: str | None = None
    wiki_text: tuple[str, ...] = ()
    pageviews: tuple[str, ...] = ()
    unigram_counts: str | None = None
    titles: str | None = None
    wordfreq: str | None = None
    min_unigram_count: int = 100
    min_bigram_pmi: float = 30.0
    min_title_views: int = 70
    wordfreq_corpus_tokens: float = DEFAULT_CORPUS_TOKENS
    budgets: dict[str, int | None] = field(default_factory=dict)   # BUDGET_NAMES -> cap

    @property
    def source_lang(self) -> str:
        """The language of the sources (pageview domains), and of the list."""
        from curate.options import load_settings
        return self.lang or load_settings()["lang"]

    def checked(self) -> "BuildConfig":
        """The config with its file lists expanded; UserError for anything wrong, before
        any source is read."""
        from curate.core.metadata_build.streams import expand_paths
        from curate.core.metadata_build.wordnet import check_wordnet_dir

        lang = self.lang
        if lang is not None:
            lang = lang.replace("_", "-")
            if not _LANG.fullmatch(lang):
                raise UserError(f"--lang {self.lang}: not a language code (e.g. en, de, "
                                "zh, pt-br)")
        if not any([self.wordnet, self.wiki_text, self.pageviews, self.unigram_counts,
                    self.titles, self.wordfreq]):
            raise UserError("no source given: name at least one of --wordnet, --wiki-text, "
                            "--pageviews, --unigram-counts, --titles, --wordfreq")
        if self.wiki_text and self.unigram_counts:
            raise UserError("--wiki-text and --unigram-counts are two unigram sources; give one")
        if self.pageviews and self.titles:
            raise UserError("--pageviews and --titles are two title sources; give one")
        # Counts are 64-bit on Spark, and a NaN or infinite bound would keep nothing or
        # everything without a word: each is one line here instead.
        for name, value in (("--min-unigram-count", self.min_unigram_count),
                            ("--min-title-views", self.min_title_views)):
            if not 1 <= value <= INT64_MAX:
                raise UserError(f"{name} {value}: must be from 1 to {INT64_MAX}")
        if not math.isfinite(self.min_bigram_pmi):
            raise UserError(f"--min-bigram-pmi {self.min_bigram_pmi}: must be a finite number")
        if not (math.isfinite(self.wordfreq_corpus_tokens) and self.wordfreq_corpus_tokens > 0):
            raise UserError(f"--wordfreq-corpus-tokens {self.wordfreq_corpus_tokens}: must "
                            "be a finite positive number")
        for name, cap in self.budgets.items():
            if name not in BUDGET_NAMES:
                raise ValueError(f"unknown budget {name!r} (one of {BUDGET_NAMES})")
            if cap is not None and not 0 <= cap <= INT64_MAX:
                raise UserError(f"--budget-{name} {cap}: must be from 0 to {INT64_MAX}")
        if self.wordnet:
            check_wordnet_dir(os.fspath(self.wordnet))
        for option, path in (("--unigram-counts", self.unigram_counts),
                             ("--titles", self.titles), ("--wordfreq", self.wordfreq)):
            if path is not None and not os.path.isfile(path):
                raise UserError(f"{option} {path}: no such file")
        return replace(
            self, lang=lang,
            wiki_text=tuple(expand_paths(self.wiki_text, "--wiki-text")),
            pageviews=tuple(expand_paths(self.pageviews, "--pageviews")))

    def summary(self) -> dict:
        d = asdict(self)
        return {"options": {k: d[k] for k in ("min_unigram_count", "min_bigram_pmi",
                                              "min_title_views", "wordfreq_corpus_tokens")}
                | {"budgets": {k: self.budgets.get(k) for k in BUDGET_NAMES}},
                "inputs": {k: d[k] for k in ("wordnet", "wiki_text", "pageviews",
                                             "unigram_counts", "titles", "wordfreq")
                           if d[k]}}


WikiCounter = Callable[[list[str], int, float], "object"]      # -> WikiStatistics
PageviewCounter = Callable[[list[str], str, int], tuple]       # -> (titles, counters)


def collect_blocks(config: BuildConfig, wiki: WikiCounter | None = None,
                   pageviews: PageviewCounter | None = None) -> list[Block]:
    """Every source's candidates (config already checked)."""
    from curate.core.metadata_build import lists
    from curate.core.metadata_build.pageviews import pageview_titles
    from curate.core.metadata_build.pmi import wiki_statistics
    from curate.core.metadata_build.wordnet import head_lemmas

    wiki = wiki or wiki_statistics
    pageviews = pageviews or pageview_titles
    blocks = []
    if config.wordnet:
        lemmas = head_lemmas(os.fspath(config.wordnet))
        blocks.append(Block("w", [(s, None) for s in lemmas], None,
                            details={"head_lemmas": len(lemmas)}))
    if config.wiki_text:
        stats = wiki(list(config.wiki_text), config.min_unigram_count, config.min_bigram_pmi)
        blocks.append(Block("u", list(stats.unigrams), "count", details=stats.summary()))
        blocks.append(Block("b", [(s, v) for s, v, _ in stats.bigrams], "pmi"))
    if config.unigram_counts:
        kept, read = lists.read_unigram_counts(config.unigram_counts, config.min_unigram_count)
        blocks.append(Block("u", kept, "count", details={"words_read": read}))
    if config.wordfreq:
        kept, read = lists.wordfreq_unigrams(config.wordfreq, config.min_unigram_count,
                                             config.wordfreq_corpus_tokens)
        blocks.append(Block("f", kept, "frequency",
                            details={"words_above_threshold": read,
                                     "min_frequency": config.min_unigram_count
                                     / config.wordfreq_corpus_tokens}))
    if config.pageviews:
        titles, counters = pageviews(list(config.pageviews), config.source_lang,
                                     config.min_title_views)
        blocks.append(Block("t", titles, "views", details=counters))
    if config.titles:
        titles, statistic = lists.read_titles(config.titles)
        blocks.append(Block("t", titles, statistic, descending=False,
                            details={"titles_read": len(titles)}))
    blocks.append(numbers())
    return blocks


def build_list(config: BuildConfig, wiki: WikiCounter | None = None,
               pageviews: PageviewCounter | None = None) -> Assembled:
    """The assembled list of a checked config."""
    budgets = {k: config.budgets.get(k) for k in BUDGET_NAMES}
    return assemble(collect_blocks(config, wiki, pageviews), budgets)


# ------------------------------------------------------------------------------- output

def list_file_name(lang: str | None) -> str:
    return LIST_FILE if lang is None else f"{lang}.json"


def canonical_json(entries: list[str]) -> bytes:
    """Compact UTF-8 JSON: the bytes curate.core.metadata fingerprints."""
    return json.dumps(entries, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def source_name(tag: str) -> str:
    from curate.core.metadata_build.assemble import SOURCE_TAGS
    return SOURCE_TAGS[tag]
