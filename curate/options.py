"""The options of every stage: one frozen object per stage, resolved once, before Spark.

Where a setting comes from, later ones winning:
1. conf/pipeline.toml, shipped inside the package (curate.conf);
2. a TOML file of the same shape given as `--config FILE` (any subset of its keys), so an
   operator with an installed wheel can change every setting;
3. the command-line flags, or the keyword arguments of the `resolve` functions.

Top-level keys (`lang`, `seed`, `t`) are shared by the stages that have a field of that
name; a stage's own section (`[extract]`, `[match]`, `[count]`, `[sample]`) overrides them.
Each object checks itself when it is built, so a wrong value is a one-line UserError before
any JVM starts; the stages take the object as it is and never read defaults themselves.
"""
from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field, fields
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Mapping

from curate.core.extract.options import PageOptions
from curate.core.matching import ALL_LANGUAGES, KEY_VERSIONS as SPACINGS
from curate.errors import UserError

UNITS = ("image", "pair")   # sample --unit
SECTIONS = ("extract", "match", "count", "sample")
SHARED = ("lang", "seed", "t")


def _conf_file(name: str):
    return resources.files("curate.conf").joinpath(name)


@cache
def _shipped_settings() -> dict:
    return tomllib.loads(_conf_file("pipeline.toml").read_text("utf-8"))


def load_settings(config: str | None = None) -> dict:
    """The shipped settings, overridden key by key by the TOML file `config` (if any)."""
    settings = {key: (dict(value) if isinstance(value, dict) else value)
                for key, value in _shipped_settings().items()}
    if config is None:
        return settings
    try:
        with open(config, "rb") as fh:
            override = tomllib.load(fh)
    except FileNotFoundError:
        raise UserError(f"config file {config}: no such file") from None
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise UserError(f"config file {config}: not a readable TOML file ({e})") from None
    for key, value in override.items():
        if key in SECTIONS and isinstance(value, dict):
            settings[key].update(value)
        elif key in SHARED:
            settings[key] = value
        else:
            raise UserError(f"config file {config}: unknown setting {key!r} (settings: "
                            f"{', '.join(SHARED)} and the sections [{'], ['.join(SECTIONS)}])")
    return settings


def _values(cls, section: str, config: str | None, flags: dict) -> dict:
    """The field values of `cls` from the settings and the flags given (None: not given)."""
    settings = load_settings(config)
    own = settings.get(section, {})
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(own) - names - _NOT_FIELDS.get(section, set()))
    if unknown:
        raise UserError(f"[{section}] has no setting {', '.join(map(repr, unknown))}; it has "
                        f"{', '.join(sorted(names))}")
    values = {}
    for name in names:
        if flags.get(name) is not None:
            values[name] = flags[name]
        elif name in own:
            values[name] = own[name]
        elif name in SHARED and name in settings:
            values[name] = settings[name]
    return values


# Settings of a section that are not fields of its object (the page options of extract).
_NOT_FIELDS = {"extract": {f.name for f in fields(PageOptions)},
               "count": {"t", "t_lang"}, "sample": {"t", "t_lang"}}


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise UserError(message)


# Every whole number an option holds reaches numpy or Spark as a 64-bit signed integer
# (a seed as Spark's long): beyond that it would end in an overflow inside a task.
INT64_MIN, INT64_MAX = -2 ** 63, 2 ** 63 - 1


def _int(value, name: str, minimum: int | None = None, maximum: int = INT64_MAX) -> int:
    _check(isinstance(value, int) and not isinstance(value, bool),
           f"{name} must be a whole number, not {value!r}")
    if minimum is not None and minimum > INT64_MIN:   # a bound of its own: say just that
        _check(value >= minimum, f"{name} must be at least {minimum}, got {value}")
    low = INT64_MIN if minimum is None else minimum
    _check(low <= value <= maximum, f"{name} must be a whole number from {low} to {maximum} "
                                    f"(a 64-bit integer), got {value}")
    return value


def _number(value, name: str) -> float:
    """A finite int or float (not a bool, a string, NaN or infinity)."""
    _check(isinstance(value, (int, float)) and not isinstance(value, bool)
           and math.isfinite(value), f"{name} must be a finite number, not {value!r}")
    return value


@dataclass(frozen=True)
class ExtractOptions:
    """extract: how input files are chosen and read, and when the stage counts as failed."""
    page: PageOptions = PageOptions()
    batch_rows: int = 8192
    max_failed_fraction: float = 0.01
    input_base_url: str = "https://data.commoncrawl.org/"
    limit: int | None = None
    sample_fraction: float | None = None
    seed: int = 0
    s3_endpoint_url: str | None = None
    commit_every: int = 0   # input files per committed group; 0: the stage chooses

    def __post_init__(self) -> None:
        _int(self.batch_rows, "batch_rows", 1)
        _int(self.commit_every, "--commit-every", 0)
        _int(self.seed, "--seed")
        _check(0 <= _number(self.max_failed_fraction, "--max-failed-fraction") <= 1,
               f"--max-failed-fraction must be in [0, 1], got {self.max_failed_fraction}")
        if self.limit is not None:
            _int(self.limit, "--limit", 1)
        if self.sample_fraction is not None:
            _check(0 < _number(self.sample_fraction, "--sample-fraction") <= 1,
                   f"--sample-fraction must be in (0, 1], got {self.sample_fraction}")
        # (a reader asks a stream for a bound + 1 bytes: that must fit in a C ssize_t)
        for name in ("max_page_bytes", "max_header_bytes", "max_record_bytes", "max_depth",
                     "max_images", "max_text_chars"):
            _int(getattr(self.page, name), name, 1, INT64_MAX - 1)
        _check(_number(self.page.page_time_limit, "page_time_limit") > 0,
               "page_time_limit must be positive")


@dataclass(frozen=True)
class MatchOptions:
    """match: the metadata (None: the shipped English list), the languages matched ("en",
    "all" or "en,de,..."), an assumed language that skips identification, the key spacing
    (v1 or v2), and the language of rows without one."""
    metadata: str | None = None
    languages: str = "en"
    assume_lang: str | None = None
    spacing: str = "v1"
    lang: str = "en"

    def __post_init__(self) -> None:
        _check(self.spacing in SPACINGS,
               f"--spacing must be one of {', '.join(SPACINGS)}, not {self.spacing}")
        _check(bool(self.languages.strip()), "--languages must name at least one language")

    @property
    def selected(self) -> frozenset[str] | None:
        """The languages matched; None for all of the metadata's."""
        if self.languages.strip() == ALL_LANGUAGES:
            return None
        return frozenset(c.strip() for c in self.languages.split(",") if c.strip())

    def plan(self):
        """The core's MatchPlan (what each task does with a text)."""
        from curate.core.matching import MatchPlan
        return MatchPlan(self.selected, self.assume_lang, self.spacing)


@dataclass(frozen=True)
class Thresholds:
    """English's t (or the one list's) and the other languages' t where not derived."""
    t: int = 20000
    t_lang: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _int(self.t, "--t", 1)
        for code, value in self.t_lang.items():
            _int(value, f"--t-lang {code}", 1)
        object.__setattr__(self, "t_lang", MappingProxyType(dict(self.t_lang)))

    def __reduce__(self):   # a mappingproxy does not pickle; the dict does
        return (type(self), (self.t, dict(self.t_lang)))


@dataclass(frozen=True)
class CountOptions:
    """count: the metadata (None: the one the matched set was made with) and the thresholds
    its summary describes head and tail at."""
    metadata: str | None = None
    thresholds: Thresholds = Thresholds()
    lang: str = "en"


@dataclass(frozen=True)
class SampleOptions:
    """sample: thresholds, seed, unit ("image": one text per image, then the keep rule;
    "pair": the keep rule on every row), a target size that picks t, the language of rows
    without one, and the most rows per output file."""
    thresholds: Thresholds = Thresholds()
    seed: int = 0
    unit: str = "image"
    target_size: int | None = None
    lang: str = "en"
    max_rows_per_file: int = 1_000_000

    def __post_init__(self) -> None:
        _int(self.seed, "--seed")
        _check(self.unit in UNITS, f"--unit must be one of {', '.join(UNITS)}, not {self.unit}")
        if self.target_size is not None:
            _int(self.target_size, "--target-size", 1)
        _int(self.max_rows_per_file, "max_rows_per_file", 1)


@dataclass(frozen=True)
class RunOptions:
    """`curate run`: the options of each stage it runs."""
    extract: ExtractOptions = ExtractOptions()
    match: MatchOptions = MatchOptions()
    count: CountOptions = CountOptions()
    sample: SampleOptions = SampleOptions()


# ------------------------------------------------------------------ resolution


def resolve_extract(config: str | None = None, **flags) -> ExtractOptions:
    """ExtractOptions from the settings and flags (PageOptions' fields, lazy_images,
    max_page_bytes, page_time_limit and the other bounds, are the page options')."""
    page_flags = {f.name: flags.pop(f.name, None) for f in fields(PageOptions)}
    section = load_settings(config).get("extract", {})
    page = PageOptions(**{name: (page_flags[name] if page_flags[name] is not None
                                 else section[name])
                          for name in page_flags if page_flags[name] is not None
                          or name in section})
    values = _values(ExtractOptions, "extract", config, flags)
    values["page"] = page
    if values.get("s3_endpoint_url") == "":
        values["s3_endpoint_url"] = None
    return _build(ExtractOptions, values)


def resolve_match(config: str | None = None, **flags) -> MatchOptions:
    """MatchOptions; `--languages all` without metadata means the shipped worldwide lists,
    and the spacing defaults to v2 for `all`, v1 otherwise. The metadata is read (once per
    process) to check that it has a list for every language named."""
    from curate.core.metadata import default_worldwide_dir

    values = _values(MatchOptions, "match", config, flags)
    languages = str(values.get("languages") or "en").strip()
    values["languages"] = languages
    if values.get("metadata") in (None, "") and languages == ALL_LANGUAGES:
        values["metadata"] = default_worldwide_dir()
    values["metadata"] = values.get("metadata") or None
    if not values.get("spacing"):
        values["spacing"] = "v2" if languages == ALL_LANGUAGES else "v1"
    options = _build(MatchOptions, values)
    check_languages(options)
    return options


def check_languages(options: MatchOptions) -> None:
    """A UserError when the metadata has no list for a language the options name."""
    from curate.core.metadata import load_metadata_set

    metadata = load_metadata_set(options.metadata)
    selected = options.selected
    if selected is not None:
        _check_lists(metadata, selected, "--languages")
    if options.assume_lang is not None:
        _check_lists(metadata, {options.assume_lang}, "--assume-lang")
        _check(selected is None or options.assume_lang in selected,
               f"--assume-lang {options.assume_lang} is not among --languages "
               f"{options.languages}")


def _check_lists(metadata, codes, option: str) -> None:
    missing = sorted(set(codes) - set(metadata.languages))
    _check(not missing and bool(codes),
           f"{option}: the metadata ({metadata.source}) has no list for "
           f"{', '.join(missing) or 'no language'}; it has {', '.join(metadata.languages)}")


def _thresholds(config: str | None, sections: tuple[str, ...], t, t_lang) -> Thresholds:
    """t and t_lang: the flags, else the first of `sections` that sets them, else the
    top-level t (count's fall back on sample's: its summary describes sample's split)."""
    settings = load_settings(config)
    found = [settings.get(name, {}) for name in sections]
    if t is None:
        t = next((own["t"] for own in found if "t" in own), settings.get("t"))
    merged = dict(next((own["t_lang"] for own in found if "t_lang" in own), {}))
    merged.update(t_lang or {})
    return _build(Thresholds, {"t": t, "t_lang": merged})


def resolve_count(config: str | None = None, *, t=None, t_lang=None, **flags) -> CountOptions:
    values = _values(CountOptions, "count", config, flags)
    values["thresholds"] = _thresholds(config, ("count", "sample"), t, t_lang)
    values["metadata"] = values.get("metadata") or None
    return _build(CountOptions, values)


def resolve_sample(config: str | None = None, *, t=None, t_lang=None, **flags
                   ) -> SampleOptions:
    values = _values(SampleOptions, "sample", config, flags)
    values["thresholds"] = _thresholds(config, ("sample",), t, t_lang)
    return _build(SampleOptions, values)


def resolve_run(config: str | None = None, *, extract: dict | None = None,
                match: dict | None = None, sample: dict | None = None) -> RunOptions:
    """RunOptions from the flags of each stage; count takes match's metadata and sample's
    thresholds, and the extract seed is sample's unless given."""
    match_options = resolve_match(config, **(match or {}))
    sample_options = resolve_sample(config, **(sample or {}))
    extract_flags = dict(extract or {})
    if extract_flags.get("seed") is None:
        extract_flags["seed"] = sample_options.seed
    count_options = CountOptions(metadata=match_options.metadata,
                                 thresholds=sample_options.thresholds,
                                 lang=match_options.lang)
    return RunOptions(resolve_extract(config, **extract_flags), match_options, count_options,
                      sample_options)


def _build(cls, values: dict):
    try:
        return cls(**values)
    except TypeError as e:   # a wrongly typed value from a config file
        raise UserError(f"{cls.__name__}: {e}") from None


def parse_t_lang(items) -> dict[str, int]:
    """`L=T` strings (--t-lang) as {L: T}."""
    overrides = {}
    for item in items:
        code, sep, value = item.partition("=")
        # (isdecimal, not isdigit: int() refuses "²", which isdigit accepts)
        _check(bool(sep and code.strip() and value.strip().isdecimal()),
               f"--t-lang: {item!r} is not L=T (e.g. de=5000)")
        overrides[code.strip()] = int(value)
    return overrides


def local_spark_conf() -> dict[str, str]:
    """spark-defaults style `key value` lines of conf/spark-local.conf."""
    conf = {}
    for line in _conf_file("spark-local.conf").read_text("utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            conf[key] = value.strip()
    return conf


def log4j_properties_path() -> str:
    return str(_conf_file("log4j2.properties"))


def config_path(config: str | None) -> str | None:
    """--config, else $CURATE_CONFIG (an operator's file for every command), else None."""
    return config or os.environ.get("CURATE_CONFIG") or None
