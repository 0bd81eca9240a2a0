"""The wordfreq list reader (curate/metadata_build/wordfreq.py) and the shipped worldwide
metadata built from it (curate/data/metadata_worldwide/, scripts/build_worldwide_metadata.py)."""
from __future__ import annotations

import fnmatch
import gzip
import importlib.util
import math
import os
import re
import string
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from curate.core.metadata import load_metadata_set
from curate.core.metadata_build.wordfreq import (is_number_shape, wordfreq_languages,
                                            wordfreq_words)

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "curate" / "data" / "metadata_worldwide"
SCRIPT = REPO / "scripts" / "build_worldwide_metadata.py"
README = (SHIPPED / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def large_en(data_dir) -> Path:
    return data_dir / "wiki" / "large_en.msgpack.gz"


@pytest.fixture(scope="module")
def en_words(large_en) -> list[tuple[str, float]]:
    return wordfreq_words(large_en)


# ---------------------------------------------------------------- the reader, on real data


def test_reads_all_321180_english_words(en_words):
    assert len(en_words) == 321_180
    assert len({w for w, _ in en_words}) == 321_180
    assert all(isinstance(w, str) and w for w, _ in en_words)


def test_first_words_are_the_most_frequent(en_words):
    # wordfreq's README: top_n_list('en', 10)
    assert [w for w, _ in en_words[:10]] == ["the", "to", "and", "of", "a", "in", "i", "is",
                                             "for", "that"]


def test_frequencies_are_buckets_of_ten_to_the_minus_i_over_100(en_words):
    freqs = [f for _, f in en_words]
    assert all(a >= b for a, b in zip(freqs, freqs[1:]))
    buckets = {f: round(-100 * math.log10(f)) for f in set(freqs)}
    assert all(f == 10 ** (-i / 100) for f, i in buckets.items())
    # Zipf values from wordfreq's README (zipf = log10(freq) + 9): bucket = 900 - 100 zipf.
    freq = dict(en_words)
    for word, zipf in (("the", 7.73), ("word", 5.26), ("frequency", 4.36), ("zipf", 1.49)):
        assert freq[word] == 10 ** (-round(900 - 100 * zipf) / 100), word
    # The large lists go down to 1e-8; within a bucket the words are alphabetical.
    assert min(buckets.values()) == 127 and max(buckets.values()) == 799
    in_bucket = [w for w, f in en_words if f == freq["word"]]
    assert in_bucket == sorted(in_bucket) and len(in_bucket) > 1


def test_limit(large_en, en_words):
    assert wordfreq_words(large_en, limit=5) == en_words[:5]
    assert wordfreq_words(large_en, limit=1000) == en_words[:1000]
    assert wordfreq_words(large_en, limit=0) == []
    assert wordfreq_words(large_en, limit=10**9) == en_words


def test_min_frequency(large_en, en_words):
    assert wordfreq_words(large_en, min_frequency=0.03) == [en_words[0]]  # "the" only
    kept = wordfreq_words(large_en, min_frequency=1e-6)
    assert kept == [wf for wf in en_words if wf[1] >= 1e-6]
    assert 20_000 < len(kept) < 40_000
    assert wordfreq_words(large_en, limit=100, min_frequency=1e-6) == en_words[:100]
    assert wordfreq_words(large_en, limit=10**6, min_frequency=1e-3) == [
        wf for wf in en_words if wf[1] >= 1e-3]
    assert wordfreq_words(large_en, min_frequency=1.0) == []


# ---------------------------------------------------------------- the reader, on made-up files


def _fixstr(s: str) -> bytes:
    data = s.encode("utf-8")
    assert len(data) < 32
    return bytes([0xA0 | len(data)]) + data


def _cbpack(buckets: list[list[bytes]], header: bytes | None = None) -> bytes:
    """A cBpack file written by hand from the msgpack spec (not by the code under test)."""
    if header is None:
        header = b"\x82" + _fixstr("format") + _fixstr("cB") + _fixstr("version") + b"\x01"
    n = len(buckets) + 1
    out = (bytes([0x90 | n]) if n < 16 else b"\xdc" + n.to_bytes(2, "big")) + header
    for words in buckets:
        out += bytes([0x90 | len(words)]) + b"".join(words)
    return gzip.compress(out)


def test_wordfreqs_red_fish_blue_fish_example(tmp_path):
    # read_cBpack's docstring: "fish" at -30 cB, "blue" and "red" at -60 cB.
    long8 = "ß" * 20  # 40 bytes: str 8
    long16 = "x" * 300  # str 16
    buckets = [[] for _ in range(61)]
    buckets[30] = [_fixstr("fish")]
    buckets[60] = [_fixstr("blue"), _fixstr("red"),
                   b"\xd9\x28" + long8.encode(), b"\xda\x01\x2c" + long16.encode()]
    path = tmp_path / "small_xx.msgpack.gz"
    path.write_bytes(_cbpack(buckets))
    assert wordfreq_words(path) == [("fish", 10 ** -0.3), ("blue", 10 ** -0.6),
                                    ("red", 10 ** -0.6), (long8, 10 ** -0.6),
                                    (long16, 10 ** -0.6)]
    assert wordfreq_words(path, min_frequency=0.4) == [("fish", 10 ** -0.3)]
    assert wordfreq_words(path, limit=2) == [("fish", 10 ** -0.3), ("blue", 10 ** -0.6)]


def test_refuses_other_files(tmp_path):
    bad_header = tmp_path / "a.msgpack.gz"
    bad_header.write_bytes(_cbpack([[_fixstr("x")]], header=b"\x81" + _fixstr("format")
                                   + _fixstr("zz")))
    unsupported = tmp_path / "b.msgpack.gz"  # a float64 word
    unsupported.write_bytes(_cbpack([[b"\xcb" + bytes(8)]]))
    truncated = tmp_path / "c.msgpack.gz"
    truncated.write_bytes(gzip.compress(gzip.decompress(_cbpack([[_fixstr("word")]]))[:-2]))
    for path in (bad_header, unsupported, truncated):
        with pytest.raises(ValueError):
            wordfreq_words(path)


def test_languages_prefer_large_lists(tmp_path):
    for name in ("large_en.msgpack.gz", "small_en.msgpack.gz", "small_fil.msgpack.gz",
                 "small_sh.msgpack.gz", "large_zh.msgpack.gz", "small_zh.msgpack.gz",
                 "_chinese_mapping.msgpack.gz", "jieba_zh.txt", "large_en.txt"):
        (tmp_path / name).write_bytes(b"")
    assert wordfreq_languages(tmp_path) == {
        "en": os.path.join(tmp_path, "large_en.msgpack.gz"),
        "fil": os.path.join(tmp_path, "small_fil.msgpack.gz"),
        "sh": os.path.join(tmp_path, "small_sh.msgpack.gz"),
        "zh": os.path.join(tmp_path, "large_zh.msgpack.gz"),
    }


def test_number_shapes():
    assert all(map(is_number_shape, ["00", "0000", "0.0", "0,000", "00th", "mp0000", "ال00"]))
    assert not any(map(is_number_shape, ["0", "7", "1st", "mp3", "3d", "u.s", "word"]))


# ---------------------------------------------------------------- the shipped directory


def _documented_counts() -> dict[str, int]:
    rows = re.findall(r"^\| `([a-z]+)` \|[^|]*\| `[^`]+` \| ([\d,]+) \|", README, re.M)
    return {code: int(n.replace(",", "")) for code, n in rows}


@pytest.fixture(scope="module")
def shipped():
    return load_metadata_set(SHIPPED)


def test_shipped_directory_loads_with_documented_counts(shipped):
    documented = _documented_counts()
    assert len(documented) >= 40
    assert shipped.worldwide
    assert {code: len(m.entries) for code, m in shipped.lists.items()} == documented
    assert all(re.fullmatch(r"[a-z]{2,3}", code) for code in shipped.languages)
    assert {"en", "de", "zh", "ja", "pt", "tl", "hr", "sr", "nb"} <= set(shipped.languages)
    # at most 50,000 words, each with its capitalised form, then the numbers
    assert all(len(m.entries) <= 2 * 50_000 + 100 for m in shipped.lists.values())
    assert f"{sum(documented.values()):,} entries in all" in README
    assert shipped.fingerprint in README


def _dropped(entry: str) -> bool:
    if entry == "" or all(unicodedata.category(c)[0] in "MCZ" for c in entry):
        return True
    return len(entry) == 1 and (unicodedata.category(entry)[0] == "P"
                                or entry in string.punctuation)


def test_shipped_entries_are_clean_and_distinct(shipped):
    for code, m in shipped.lists.items():
        assert len(set(m.entries)) == len(m.entries), code
        assert not [e for e in m.entries if _dropped(e)], code
        # wordfreq's number shapes ("00", "0.0"...) are gone; "10" ... "99" are MetaCLIP's.
        assert not [e for e in m.entries if is_number_shape(e) and not e.isdigit()], code
        assert not [e for e in m.entries if re.fullmatch(r"0\d+", e)], code
        assert all(e == e.strip() for e in m.entries), code


def test_shipped_lists_hold_the_numbers_0_to_99(shipped):
    numbers = {str(i) for i in range(100)}
    for code, m in shipped.lists.items():
        assert numbers <= set(m.entries), code


@pytest.mark.parametrize("code, word", [
    ("en", "the"), ("de", "der"), ("fr", "le"), ("es", "de"), ("pt", "que"), ("ru", "и"),
    ("ar", "في"), ("zh", "的"), ("ja", "する"), ("ko", "이"), ("hi", "है"), ("tl", "ang"),
    ("hr", "je"), ("nb", "og"), ("el", "και"),
])
def test_frequent_words_come_first(shipped, code, word):
    assert word in shipped.lists[code].entries[:50]


def test_lid_labels_find_their_lists(shipped):
    # fastText lid.176 says tl for Tagalog (wordfreq: fil), sh/hr/bs/sr for the one
    # Serbo-Croatian list, and no for Norwegian Bokmal (curate.core.lid aliases it to nb).
    from curate.core.lid import metadata_language

    available = set(shipped.languages)
    for label in ("en", "de", "zh", "ja", "pt", "he", "id", "ms", "tl", "sh", "hr", "bs", "sr"):
        assert metadata_language(f"__label__{label}", available) == label
    assert metadata_language("no", available) == "nb"
    assert shipped.lists["hr"].entries == shipped.lists["sh"].entries == shipped.lists["sr"].entries


def test_no_list_holds_a_single_kana(shipped):
    # wordfreq's ja list has 165 of them (の に て は が ...), zh 121, ko 19, en and de one
    for code, m in shipped.lists.items():
        assert not [e for e in m.entries if len(e) == 1 and (0x3041 <= ord(e) <= 0x30FF
                                                             or 0xFF65 <= ord(e) <= 0xFF9F)], code
    ja = shipped.lists["ja"].entries
    assert {"猫", "山", "写真", "する"} <= set(ja) and not {"の", "に", "ー"} & set(ja)


def test_each_cased_word_is_followed_by_its_capitalised_form(shipped):
    de = shipped.lists["de"].entries
    assert de[:6] == ("die", "Die", "der", "Der", "und", "Und")
    assert de.index("Haus") == de.index("haus") + 1
    tr = shipped.lists["tr"].entries
    assert tr.index("İçin") == tr.index("için") + 1 and tr.index("Ilık") == tr.index("ılık") + 1
    el, ru = shipped.lists["el"].entries, shipped.lists["ru"].entries
    assert el.index("Και") == el.index("και") + 1 and ru.index("Москва") >= 0
    for code, m in shipped.lists.items():
        entries = m.entries
        upper = [i for i, e in enumerate(entries) if e[:1].isupper()]
        # every capitalised entry follows its lower-case word (no other upper case)
        assert all(entries[i - 1][1:] == entries[i][1:] and entries[i - 1][0].islower()
                   for i in upper), code
    # Lists in cased scripts nearly double; those in uncased scripts gain only the
    # capitalised forms of the few Latin (or Cyrillic...) words they hold.
    share = {code: sum(e[:1].isupper() for e in m.entries) / len(m.entries)
             for code, m in shipped.lists.items()}
    assert all(share[code] > 0.45 for code in ("de", "en", "ru", "el", "tr", "pl", "vi"))
    assert all(share[code] < 0.1 for code in ("ar", "he", "hi", "ko", "ta", "zh", "ja"))


def test_the_builder_applies_both_rules(tmp_path):
    from curate.core.metadata_build.wordfreq import worldwide_entries
    path = tmp_path / "small_xx.msgpack.gz"
    # bucket 0 frequency 1: "の" (dropped), "haus", "東京", "istanbul"; bucket 1: "ß", "ツ"
    buckets = [["haus", "istanbul", "の", "東京"], ["ツ", "ßx"]]
    path.write_bytes(_cbpack([[_fixstr(w) for w in b] for b in buckets]))
    entries = worldwide_entries(path, "tr")
    assert entries[:6] == ["haus", "Haus", "istanbul", "İstanbul", "東京", "ßx"]
    assert entries[6:] == [str(i) for i in range(100)]
    assert worldwide_entries(path, "de")[:4] == ["haus", "Haus", "istanbul", "Istanbul"]


def test_greek_words_end_in_final_sigma(shipped):
    el = shipped.lists["el"].entries
    assert {"της", "τους", "μας"} <= set(el)
    assert not [e for e in el if e[-1] == "σ" and len(e) > 1 and e[-2].isalpha()]


def test_shipped_lists_are_package_data():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    with open(REPO / "pyproject.toml", "rb") as f:
        package_data = tomllib.load(f)["tool"]["setuptools"]["package-data"]["curate.data"]
    for name in os.listdir(SHIPPED):
        assert any(fnmatch.fnmatch(f"metadata_worldwide/{name}", p) for p in package_data), name
    assert {"README.md", "LICENSE.wordfreq"} <= set(os.listdir(SHIPPED))


# ---------------------------------------------------------------- the build


@pytest.fixture(scope="module")
def wordfreq_wheel(request, tmp_path_factory) -> Path:
    """The wheel the shipped lists were built from: $WORDFREQ_WHEEL, else downloaded once
    into pytest's cache (PyPI needed the first time; skipped if it cannot be reached)."""
    version = re.search(r"From wordfreq \*\*([^*]+)\*\*", README).group(1)
    if os.environ.get("WORDFREQ_WHEEL"):
        return Path(os.environ["WORDFREQ_WHEEL"])
    cache = (Path(request.config.cache.mkdir("wordfreq-wheel"))
             if getattr(request.config, "cache", None) else tmp_path_factory.mktemp("wordfreq"))
    found = sorted(cache.glob(f"wordfreq-{version}-*.whl"))
    if not found:
        done = subprocess.run([sys.executable, "-m", "pip", "download", f"wordfreq=={version}",
                               "--no-deps", "--only-binary=:all:", "-q", "-d", str(cache)],
                              capture_output=True, text=True, timeout=600)
        found = sorted(cache.glob(f"wordfreq-{version}-*.whl"))
        if done.returncode or not found:
            pytest.skip(f"wordfreq {version} wheel unavailable: {done.stderr.strip()[-300:]}")
    return found[0]


@pytest.mark.slow
def test_rebuild_from_the_same_wheel_is_byte_identical(wordfreq_wheel, tmp_path):
    spec = importlib.util.spec_from_file_location("build_worldwide_metadata", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    (tmp_path / "zz.json.gz").write_bytes(b"stale")  # a list the build does not write
    info = script.build(wordfreq_wheel, tmp_path)
    assert sorted(os.listdir(tmp_path)) == sorted(os.listdir(SHIPPED))
    for name in os.listdir(SHIPPED):
        assert (tmp_path / name).read_bytes() == (SHIPPED / name).read_bytes(), name
    assert info["entries"] == _documented_counts()
