"""Recipe presets (--recipe metaclip1|metaclip2) and the two readings of the worldwide rules
(--rules algorithm|reference): what each sets, what overrides it, and each stated
difference (docs/metadata.md#matching-rules) on its example."""
from __future__ import annotations

import string
import unicodedata

import numpy as np
import pytest

from curate import cli
from curate import options as opts
from curate.core.matching import Matcher, entry_key, reference_unspaced, unspaced
from curate.core.metadata import default_worldwide_dir
from curate.core.sampling import keep_probabilities, language_t, thresholds
from curate.errors import UserError
from curate.options import MatchOptions, SampleOptions, Thresholds


def write_config(tmp_path, text: str) -> str:
    path = tmp_path / "curate.toml"
    path.write_text(text, "utf-8")
    return str(path)


# ------------------------------------------------------------------ presets


def test_the_default_recipe_is_metaclip1_throughout():
    run = opts.resolve_run()
    assert (run.match.recipe, run.count.recipe, run.sample.recipe) == ("metaclip1",) * 3
    assert (run.match.languages, run.match.key_version, run.match.metadata) == ("en", "v1", None)
    assert (run.sample.unit, run.sample.thresholds.t, run.count.thresholds.t) == \
        ("pair", 20000, 20000)
    assert run.match.rules == run.sample.thresholds.rules == "algorithm"


def test_metaclip2_sets_every_option_its_recipe_fixes():
    run = opts.resolve_run(recipe="metaclip2")
    assert run.match == MatchOptions(metadata=default_worldwide_dir(), languages="all",
                                     spacing="v2", recipe="metaclip2")
    assert run.sample == SampleOptions(Thresholds(170000), unit="image", recipe="metaclip2")
    assert run.count.thresholds == Thresholds(170000) and run.count.recipe == "metaclip2"
    assert opts.resolve_count(recipe="metaclip2").thresholds.t == 170000


def test_explicit_flags_and_config_files_override_the_recipe(tmp_path):
    run = opts.resolve_run(recipe="metaclip2", match={"languages": "en", "spacing": "v1"},
                           sample={"unit": "pair", "t": 5})
    assert (run.match.languages, run.match.spacing, run.sample.unit, run.sample.thresholds.t,
            run.match.recipe) == ("en", "v1", "pair", 5, "metaclip2")
    # A config file names a recipe and overrides single settings of it; the flag wins.
    config = write_config(tmp_path, 'recipe = "metaclip2"\nt = 1000\n')
    assert opts.resolve_sample(config) == SampleOptions(Thresholds(1000), unit="image",
                                                        recipe="metaclip2")
    assert opts.resolve_sample(config, recipe="metaclip1") == SampleOptions(
        Thresholds(1000), unit="pair")
    assert opts.resolve_match(config, recipe="metaclip1").languages == "en"


def test_a_recipe_is_named_in_the_recipe_id_of_resumable_stages():
    from curate.stages.io import recipe
    one, two = opts.resolve_run(), opts.resolve_run(recipe="metaclip2", sample={"t": 20000,
                                                                                 "unit": "pair"})
    assert recipe("sample", one.sample) != recipe("sample", two.sample)


def test_an_unknown_recipe_is_one_line(tmp_path, capsys):
    config = write_config(tmp_path, 'recipe = "laion"\n')
    with pytest.raises(UserError, match="^--recipe must be one of metaclip1, metaclip2, not "
                                        "laion$"):
        opts.resolve_sample(config)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", "-o", str(tmp_path / "w"), "--recipe", "metaclip3"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "metaclip3" in err and "Traceback" not in err


def test_help_names_the_default_recipe(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "Recipe: metaclip1 by default" in capsys.readouterr().out
    for command in ("run", "match", "count", "sample"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "--recipe [metaclip1|metaclip2]" in text and "Default: metaclip1." in text
        assert "--rules [algorithm|reference]" in text
    assert opts.load_settings()["recipe"] == "metaclip1"


# ------------------------------------------------------------------ rules


def test_rules_reach_the_match_plan_and_the_thresholds():
    run = opts.resolve_run(recipe="metaclip2", rules="reference")
    assert run.match.rules == "reference" and run.match.plan().key_version == "v2-reference"
    assert run.sample.thresholds.floor == run.count.thresholds.floor == 0
    assert opts.resolve_run(rules="reference").match.plan().key_version == "v1"   # v1 keys
    assert opts.resolve_run(recipe="metaclip2").sample.thresholds.floor == 1
    with pytest.raises(UserError, match="--rules must be one of algorithm, reference, not x"):
        opts.resolve_match(rules="x")


# The stated examples (docs/metadata.md#matching-rules), under both rules.
@pytest.mark.parametrize("entries, text, algorithm, reference", [
    # kana: "タワー" is unpadded by script (ALGORITHM.md §6), padded by the reference code
    (["東京", "タワー", "の"], "東京タワーの写真", {"東京", "タワー", "の"}, {"東京"}),
    # punctuation: "+" is ASCII punctuation to the reference, a math symbol (Sm) to Unicode
    (["C++", "C"], "C++11 compiler", set(), {"C++"}),
    # « » are Unicode punctuation (Pi, Pf), letters to the reference: in "(«Paris»)" the
    # reference's key " «Paris» " is not found
    (["«Paris»"], "la une («Paris»)", {"«Paris»"}, set()),
])
def test_each_difference_on_its_example(entries, text, algorithm, reference):
    for version, expected in (("v2", algorithm), ("v2-reference", reference)):
        assert {entries[i] for i in Matcher(entries, version).match(text)} == expected, version
    assert entry_key("タワー", "v2") == "タワー" and entry_key("タワー", "v2-reference") == " タワー "
    assert entry_key("C++", "v2") == " C++ " and entry_key("C++", "v2-reference") == " C++"


# MetaCLIP's published rule (metaclip/curation/substr_matching.py, is_cjk_or_similar),
# restated here by Unicode block names, and its punctuation: string.punctuation and 25
# full-width marks.
REFERENCE_BLOCKS = {
    "CJK Unified Ideographs": (0x4E00, 0x9FFF), "CJK Extension A": (0x3400, 0x4DBF),
    "CJK Extension B": (0x20000, 0x2A6DF), "CJK Extension C": (0x2A700, 0x2B73F),
    "CJK Extension D": (0x2B740, 0x2B81F), "CJK Extension E": (0x2B820, 0x2CEAF),
    "CJK Extension F": (0x2CEB0, 0x2EBEF), "CJK Compatibility Ideographs": (0xF900, 0xFAFF),
    "CJK Radicals Supplement": (0x2E80, 0x2EFF), "Kangxi Radicals": (0x2F00, 0x2FDF),
    "Ideographic Description Characters": (0x2FF0, 0x2FFF), "Thai": (0x0E00, 0x0E7F),
    "Lao": (0x0E80, 0x0EFF), "Myanmar": (0x1000, 0x109F), "Khmer": (0x1780, 0x17FF),
    "Tibetan": (0x0F00, 0x0FFF),
}
FULL_WIDTH_MARKS = ["\uff0c", "\u3002", "\u3001", "\uff1b", "\uff1a", "\uff1f", "\uff01",
                    "\u201c", "\u201d", "\u2018", "\u2019", "\uff08", "\uff09", "\u3010",
                    "\u3011", "\u300a", "\u300b", "\u3008", "\u3009", "\u300c", "\u300d",
                    "\u300e", "\u300f", "\uff5e", "\u2014"]


def test_reference_unspaced_is_the_published_rule_on_every_code_point():
    def published(char):
        code = ord(char)
        return (char in string.punctuation or char in FULL_WIDTH_MARKS
                or any(low <= code <= high for low, high in REFERENCE_BLOCKS.values()))
    differ = [cp for cp in range(0x110000) if reference_unspaced(chr(cp)) != published(chr(cp))]
    assert differ == []
    # What the two readings disagree on: every kana letter; symbols of string.punctuation;
    # Unicode punctuation the reference does not list.
    kana = [chr(cp) for cp in range(0x3041, 0x30FF)
            if unicodedata.category(chr(cp)).startswith("L")]
    assert all(unspaced(c) and not reference_unspaced(c) for c in kana)
    assert [c for c in string.punctuation if not unspaced(c)] == list("$+<=>^`|~")
    assert not any(map(reference_unspaced, "«»¿¡・…‹›"))
    assert all(map(unspaced, "«»¿¡・…‹›"))


# ------------------------------------------------------------------ the t floor


def test_a_language_with_very_few_matches_gets_t_1_or_t_0():
    # English's tail proportion: 6 of 100 matches on tail entries at t = 20.
    counts = {"en": np.array([1, 2, 3, 94]), "de": np.array([0, 0, 3, 7])}
    # de's shares of the sorted counts: 0, 0, 0.3, 1; the closest to 0.06 is a zero count.
    assert language_t(counts["de"], 0.06, floor=1) == 1
    assert language_t(counts["de"], 0.06, floor=0) == 0
    assert thresholds(counts, 20) == {"en": 20, "de": 1}
    assert thresholds(counts, 20, floor=0) == {"en": 20, "de": 0}
    # t = 0 keeps nothing of the language (p = 0 for every matched entry), t = 1 keeps
    # each entry with p = 1 / count.
    assert keep_probabilities(counts["de"], 0)[2:].tolist() == [0.0, 0.0]
    assert keep_probabilities(counts["de"], 1)[2:].tolist() == [1 / 3, 1 / 7]
    # A language without a single match: the reference's t is 0 too.
    assert language_t(np.zeros(5, dtype=np.int64), 0.06, floor=0) == 0
    assert language_t(np.zeros(5, dtype=np.int64), 0.06) == 1


def test_the_rules_are_part_of_the_match_recipe_id():
    # so `curate run --resume` redoes match (and what follows) when only --rules changes
    from curate.stages.count import count_recipe
    from curate.stages.match import match_recipe
    algorithm = opts.resolve_run(recipe="metaclip2")
    reference = opts.resolve_run(recipe="metaclip2", rules="reference")
    assert match_recipe(algorithm.match) != match_recipe(reference.match)
    assert count_recipe(algorithm.count) != count_recipe(reference.count)
