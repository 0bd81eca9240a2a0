"""curate.options: one options object per stage, from conf/pipeline.toml, then --config,
then flags; checked once, before Spark; the CLI and the API build the same objects."""
from __future__ import annotations

import pytest

from curate import api, cli
from curate import options as opts
from curate.core import metadata as metadata_module
from curate.errors import UserError
from curate.options import (CountOptions, ExtractOptions, MatchOptions, RunOptions,
                            SampleOptions, Thresholds)


def write_config(tmp_path, text: str) -> str:
    path = tmp_path / "curate.toml"
    path.write_text(text, "utf-8")
    return str(path)


def test_the_shipped_settings_are_the_objects_defaults():
    # conf/pipeline.toml and the dataclass defaults say the same (one may not drift).
    assert opts.resolve_extract() == ExtractOptions()
    assert opts.resolve_match() == MatchOptions()
    assert opts.resolve_count() == CountOptions()
    assert opts.resolve_sample() == SampleOptions()
    assert opts.resolve_run() == RunOptions()


def test_a_config_file_changes_every_setting_and_flags_win(tmp_path):
    lists = tmp_path / "lists"
    lists.mkdir()
    for code in ("de", "en"):
        (lists / f"{code}.txt").write_text("katze\nhund\n", "utf-8")
    config = write_config(tmp_path, f"""
t = 7
lang = "de"
seed = 3
[extract]
batch_rows = 100
lazy_images = true
max_failed_fraction = 0.5
[match]
languages = "de,en"
metadata = "{lists}"
[count]
t = 11
[sample]
unit = "pair"
max_rows_per_file = 50
[sample.t_lang]
fr = 9
""")
    extract = opts.resolve_extract(config)
    assert (extract.batch_rows, extract.page.lazy_images, extract.max_failed_fraction,
            extract.seed) == (100, True, 0.5, 3)
    match = opts.resolve_match(config)
    assert (match.languages, match.lang, match.selected) == ("de,en", "de", {"de", "en"})
    sample = opts.resolve_sample(config)
    assert sample == SampleOptions(Thresholds(7, {"fr": 9}), 3, "pair", None, "de", 50)
    # count's own t, sample's t_lang (its summary describes sample's split)
    assert opts.resolve_count(config).thresholds == Thresholds(11, {"fr": 9})
    # flags over the file
    assert opts.resolve_sample(config, t=5, t_lang={"fr": 2, "it": 4}, unit="image",
                               seed=0).thresholds == Thresholds(5, {"fr": 2, "it": 4})
    assert opts.resolve_extract(config, lazy_images=False).page.lazy_images is False
    # run: count follows match's metadata and sample's thresholds; extract takes the seed
    run = opts.resolve_run(config, sample={"seed": 8})
    assert run.extract.seed == 8 and run.sample.seed == 8
    assert run.count.thresholds == run.sample.thresholds and run.count.lang == "de"


def test_curate_config_in_the_environment(tmp_path, monkeypatch):
    config = write_config(tmp_path, "[sample]\nmax_rows_per_file = 12\n")
    monkeypatch.setenv("CURATE_CONFIG", config)
    assert opts.config_path(None) == config
    assert opts.resolve_sample(opts.config_path(None)).max_rows_per_file == 12
    assert opts.config_path("other.toml") == "other.toml"


@pytest.mark.parametrize("text, message", [
    ("tt = 3\n", "unknown setting 'tt'"),
    ("[sample]\nuint = 'pair'\n", "has no setting 'uint'"),
    ("[sample]\nunit = 'row'\n", "--unit must be one of image, pair, not row"),
    ("[sample]\nmax_rows_per_file = 0\n", "max_rows_per_file must be at least 1, got 0"),
    ("t = 'many'\n", "--t must be a whole number"),
    ("[extract]\nmax_failed_fraction = 2.0\n", "--max-failed-fraction must be in [0, 1]"),
    ("[extract]\nbatch_rows = 0\n", "batch_rows must be at least 1"),
    ("[match]\nspacing = 'v3'\n", "--spacing must be one of v1, v2, not v3"),
    ("[sample\n", "not a readable TOML file"),
])
def test_bad_settings_are_user_errors(tmp_path, text, message):
    config = write_config(tmp_path, text)
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        opts.resolve_run(config)


def test_match_options_are_checked_against_the_metadata(tmp_path):
    with pytest.raises(UserError, match="has no list for de"):
        opts.resolve_match(languages="de")
    worldwide = opts.resolve_match(languages="all")
    assert worldwide.spacing == "v2" and worldwide.metadata.endswith("metadata_worldwide")
    assert opts.resolve_match(languages="all", spacing="v1").spacing == "v1"
    assert opts.resolve_match().plan().key_version == "v1"


def test_metadata_is_parsed_once_per_process(tmp_path, monkeypatch):
    lists = tmp_path / "meta.txt"
    lists.write_text("cat\ndog\n", "utf-8")
    parsed = []
    real = metadata_module.metadata_set_from_bytes
    monkeypatch.setattr(metadata_module, "metadata_set_from_bytes",
                        lambda *a: parsed.append(a) or real(*a))
    first = metadata_module.load_metadata_set(str(lists))
    for _ in range(3):
        opts.resolve_match(metadata=str(lists))
    assert metadata_module.load_metadata_set(str(lists)) is first and len(parsed) == 1
    lists.write_text("cat\ndog\nbird\n", "utf-8")      # a changed file is read again
    assert len(metadata_module.load_metadata_set(str(lists)).lists["en"].entries) == 3
    assert len(parsed) == 2


def test_the_cli_builds_the_same_objects_as_the_api(tmp_path, monkeypatch):
    """Each command hands its stage exactly what curate.options resolves from the same
    config and flags (jobs/ call the same `main`)."""
    config = write_config(tmp_path, "seed = 4\n[sample]\nmax_rows_per_file = 99\n")
    from curate.stages.io import StageReport

    seen = {}

    def recorder(stage):
        def record(*args, **kwargs):
            seen[stage] = (args, kwargs)
            return [] if stage == "run" else StageReport(stage, "out", 0, 0)
        return record

    for stage in ("extract", "dedup", "match", "count", "sample", "run"):
        monkeypatch.setattr(api, stage, recorder(stage))
    for directory in ("pairs", "counts"):
        (tmp_path / directory).mkdir()
    common = ["--config", config]
    cli.cli.main(["sample", str(tmp_path / "pairs"), "--counts", str(tmp_path / "counts"),
                  "-o", str(tmp_path / "out"), "--t", "30", "--t-lang", "de=5", *common],
                 standalone_mode=False)
    assert seen["sample"][0][2] == opts.resolve_sample(config, t=30, t_lang={"de": 5})
    cli.cli.main(["count", str(tmp_path / "pairs"), "-o", str(tmp_path / "out"), *common],
                 standalone_mode=False)
    assert seen["count"][0][2] == opts.resolve_count(config)
    cli.cli.main(["extract", str(tmp_path), "-o", str(tmp_path / "out"), "--limit", "2",
                  *common], standalone_mode=False)
    assert seen["extract"][0][2] == opts.resolve_extract(config, limit=2)
    cli.cli.main(["run", "-o", str(tmp_path / "work"), "--unit", "pair", *common],
                 standalone_mode=False)
    assert seen["run"][0][2] == opts.resolve_run(config, sample={"unit": "pair"})
    assert seen["run"][0][2].extract.seed == 4


def test_quiet_reaches_every_stage_from_the_cli_and_from_run(tmp_path, monkeypatch):
    """--quiet on each stage command and on run is the API's quiet=True, and api.run
    hands it to each of the five stages (their Spark side is recorded, not run)."""
    import importlib

    from curate.stages.io import StageReport

    seen = {}

    def recorder(stage, result):
        def record(*args, **kwargs):
            seen[stage] = kwargs.get("quiet")
            return result(stage)
        return record

    def report(stage):
        return StageReport(stage, "out", 0, 0)

    for stage in ("extract", "dedup", "match", "count", "sample", "run"):
        monkeypatch.setattr(api, stage, recorder(stage, lambda s: [] if s == "run" else report(s)))
    for directory in ("pairs", "counts"):
        (tmp_path / directory).mkdir()
    pairs, out = str(tmp_path / "pairs"), str(tmp_path / "out")
    commands = {"extract": [str(tmp_path)], "dedup": [pairs], "match": [pairs],
                "count": [pairs], "sample": [pairs, "--counts", str(tmp_path / "counts")],
                "run": []}
    for flags, quiet in (([], False), (["--quiet"], True), (["-q"], True)):
        seen.clear()
        for command, args in commands.items():
            cli.cli.main([command, *args, "-o", out, *flags], standalone_mode=False)
        assert seen == {command: quiet for command in commands}, flags

    monkeypatch.undo()
    seen.clear()
    for stage in ("extract", "dedup", "match", "count", "sample"):
        module = importlib.import_module(f"curate.stages.{stage}")
        monkeypatch.setattr(module, f"run_{stage}", recorder(stage, report))
    api.run(None, str(tmp_path / "work"), session="a session", quiet=True)
    assert seen == {stage: True for stage in ("extract", "dedup", "match", "count", "sample")}


def test_a_bad_config_is_one_line_before_spark(tmp_path, capsys):
    config = write_config(tmp_path, "[sample]\nunit = 'row'\n")
    (tmp_path / "m").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["sample", str(tmp_path / "m"), "--counts", str(tmp_path / "m"),
                  "-o", str(tmp_path / "out"), "--config", config])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1
    assert err == "curate: error: --unit must be one of image, pair, not row"
    assert not (tmp_path / "out").exists()


def test_version_and_commands_in_pipeline_order(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"curate {version('curate')}"
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    listed = [line.split()[0] for line in
              capsys.readouterr().out.split("Commands:")[1].strip().splitlines()]
    assert listed == ["run", "extract", "dedup", "match", "count", "sample", "verify",
                      "report", "metadata"]


def test_the_row_flow_table_shows_the_largest_reasons_then_how_many_more():
    from curate.stages.io import StageReport

    dropped = {f"no_match:l{i:02d}": i for i in range(1, 39)}
    table = cli.format_table([StageReport("match", "o", 2000, 2000 - sum(dropped.values()),
                                          dropped)])
    line = table.splitlines()[1]
    assert "no_match:l38 38, no_match:l37 37, no_match:l36 36, 35 more (630 rows)" in line
    assert len(line) < 120


BIG = 2 ** 63   # one past Spark's long and numpy's int64
RANGE = "(a 64-bit integer), got"
CLICK = "Invalid value for"


@pytest.mark.parametrize("args, config, message", [
    # seeds: any 64-bit signed integer (Spark's long), negative ones included
    (["run", "--seed", str(2 ** 64)], None,
     f"--seed must be a whole number from {-BIG} to {BIG - 1} {RANGE} {2 ** 64}"),
    (["run", "--seed", str(-BIG - 1)], None,
     f"--seed must be a whole number from {-BIG} to {BIG - 1} {RANGE} {-BIG - 1}"),
    (["sample", "{dir}", "--counts", "{dir}", "--seed", str(BIG)], None,
     f"--seed must be a whole number from {-BIG} to {BIG - 1} {RANGE} {BIG}"),
    (["extract", "{dir}", "--seed", "99999999999999999999"], None,
     f"--seed must be a whole number from {-BIG} to {BIG - 1} {RANGE} 99999999999999999999"),
    (["run"], "seed = -9223372036854775809\n",
     f"--seed must be a whole number from {-BIG} to {BIG - 1} {RANGE} {-BIG - 1}"),
    # whole numbers with a lower bound of their own: that bound, and int64 above
    (["run", "--t", str(BIG)], None,
     f"--t must be a whole number from 1 to {BIG - 1} {RANGE} {BIG}"),
    (["count", "{dir}", "--t-lang", f"de={BIG}"], None,
     f"--t-lang de must be a whole number from 1 to {BIG - 1} {RANGE} {BIG}"),
    (["count", "{dir}", "--t-lang", "de=0"], None, "--t-lang de must be at least 1, got 0"),
    (["run", "--t-lang", "de=²"], None, "--t-lang: 'de=²' is not L=T (e.g. de=5000)"),
    (["run", "--t-lang", "de=-3"], None, "--t-lang: 'de=-3' is not L=T (e.g. de=5000)"),
    (["run", "--target-size", str(BIG)], None,
     f"--target-size must be a whole number from 1 to {BIG - 1} {RANGE} {BIG}"),
    (["run", "--limit", str(BIG)], None,
     f"--limit must be a whole number from 1 to {BIG - 1} {RANGE} {BIG}"),
    (["run", "--commit-every", str(BIG)], None,
     f"--commit-every must be a whole number from 0 to {BIG - 1} {RANGE} {BIG}"),
    (["run", "--t", "0"], None, f"{CLICK} '--t': 0 is not in the range x>=1."),
    (["run", "--limit", "-1"], None, f"{CLICK} '--limit': -1 is not in the range x>=1."),
    (["run", "--commit-every", "0"], None,
     f"{CLICK} '--commit-every': 0 is not in the range x>=1."),
    (["run", "--target-size", "0"], None,
     f"{CLICK} '--target-size': 0 is not in the range x>=1."),
    # fractions: finite, in their range
    (["run", "--max-failed-fraction", "nan"], None,
     "--max-failed-fraction must be a finite number, not nan"),
    (["run", "--sample-fraction", "nan"], None,
     "--sample-fraction must be a finite number, not nan"),
    (["run", "--sample-fraction", "0"], None,
     f"{CLICK} '--sample-fraction': 0.0 is not in the range 0<x<=1."),
    (["run", "--max-failed-fraction", "inf"], None,
     f"{CLICK} '--max-failed-fraction': inf is not in the range 0<=x<=1."),
    (["run"], "[extract]\nmax_failed_fraction = 'a lot'\n",
     "--max-failed-fraction must be a finite number, not 'a lot'"),
    (["run"], "[extract]\nsample_fraction = inf\n",
     "--sample-fraction must be a finite number, not inf"),
    # settings only a config file holds
    (["run"], "[extract]\npage_time_limit = inf\n",
     "page_time_limit must be a finite number, not inf"),
    (["run"], "[extract]\npage_time_limit = nan\n",
     "page_time_limit must be a finite number, not nan"),
    (["run"], "[extract]\npage_time_limit = -1\n", "page_time_limit must be positive"),
    (["run"], f"[extract]\nmax_page_bytes = {BIG - 1}\n",
     f"max_page_bytes must be a whole number from 1 to {BIG - 2} {RANGE} {BIG - 1}"),
    (["run"], f"[extract]\nbatch_rows = {BIG}\n",
     f"batch_rows must be a whole number from 1 to {BIG - 1} {RANGE} {BIG}"),
    (["run"], f"[sample]\nmax_rows_per_file = {BIG}\n",
     f"max_rows_per_file must be a whole number from 1 to {BIG - 1} {RANGE} {BIG}"),
    # the metadata builder's numbers
    (["metadata", "build", "--titles", "{titles}", "--min-bigram-pmi", "nan"], None,
     "--min-bigram-pmi nan: must be a finite number"),
    (["metadata", "build", "--titles", "{titles}", "--min-bigram-pmi", "-inf"], None,
     "--min-bigram-pmi -inf: must be a finite number"),
    (["metadata", "build", "--titles", "{titles}", "--wordfreq-corpus-tokens", "inf"], None,
     "--wordfreq-corpus-tokens inf: must be a finite positive number"),
    (["metadata", "build", "--titles", "{titles}", "--wordfreq-corpus-tokens", "nan"], None,
     "--wordfreq-corpus-tokens nan: must be a finite positive number"),
    (["metadata", "build", "--titles", "{titles}", "--min-unigram-count", str(BIG)], None,
     f"--min-unigram-count {BIG}: must be from 1 to {BIG - 1}"),
    (["metadata", "build", "--titles", "{titles}", "--budget-titles", str(BIG)], None,
     f"--budget-titles {BIG}: must be from 0 to {BIG - 1}"),
])
def test_a_bad_number_is_one_line_and_exit_2_before_spark(tmp_path, capsys, args, config,
                                                          message):
    """Each numeric option at a value that would reach Spark or numpy and fail there (a
    seed past 64 bits, NaN, infinity, a negative or zero count): one line, exit 2, nothing
    written. Click's own range checks give its line; curate.options and the builder the
    rest, so the API and config files are held to the same."""
    stage_dir = tmp_path / "in"
    stage_dir.mkdir()
    titles = tmp_path / "titles.json"
    titles.write_text('["Cat"]', "utf-8")
    argv = [a.format(dir=stage_dir, titles=titles) for a in args] + ["-o", str(tmp_path / "out")]
    if config is not None:
        argv += ["--config", write_config(tmp_path, config)]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    err = capsys.readouterr().err
    assert (exit_info.value.code, err) == (2, f"curate: error: {message}\n")
    assert not (tmp_path / "out").exists()


def test_any_64_bit_seed_is_a_seed():
    for seed in (-2 ** 63, -1, 0, 2 ** 63 - 1):
        assert opts.resolve_run(extract={"seed": seed}, sample={"seed": seed}).sample.seed \
            == seed
