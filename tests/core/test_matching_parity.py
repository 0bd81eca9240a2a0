"""Matching parity (ALGORITHM.md §3, §6): curate's Aho-Corasick `Matcher` against a brute
force written here from the spec, on every real text of ../shared/data, for v1 and v2 keys.

The reference below never calls curate's `spacing` or `entry_key`: it rebuilds spacing(text)
character by character, classifies characters as "unspaced" from their Unicode names (not
from code point ranges, as curate does), and looks up every candidate substring of the
spaced text in a dict of all keys. No Spark here.
"""
from __future__ import annotations

import csv
import gzip
import random
import string
import unicodedata
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from curate import schemas
from curate.core.extract.html import parse_html
from curate.core.extract.records import FileReport, iter_file_pairs
from curate.core.reference import match_texts
from curate.core.matching import BatchMatcher, Matcher, MatchPlan, match_batches
from curate.core.metadata import load_metadata, load_metadata_set

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
VERSIONS = ("v1", "v2")

# --- the reference, from ALGORITHM.md §3 -------------------------------------------------

WRAPPED = ",.;:?!`"          # each becomes " p " in spacing(text)
SPACED_WHITESPACE = "\t\n\r"  # each becomes " "

# Characters of the scripts written without spaces (§3: CJK/Thai/Lao/Burmese/Khmer/Tibetan;
# §6: bo, dz, ja, km, lo, my, ryu, th, zh), recognised by their Unicode names. Korean is
# written with spaces (ko is not in §6's list): Hangul is not among them.
UNSPACED_NAME_PREFIXES = (
    "CJK UNIFIED IDEOGRAPH-", "CJK COMPATIBILITY IDEOGRAPH-", "CJK RADICAL ", "KANGXI RADICAL ",
    "CJK STROKE ", "IDEOGRAPHIC ITERATION MARK", "VERTICAL IDEOGRAPHIC ITERATION MARK",
    "IDEOGRAPHIC CLOSING MARK", "IDEOGRAPHIC NUMBER ZERO",
    "HIRAGANA ", "KATAKANA", "HALFWIDTH KATAKANA ", "HENTAIGANA ", "BOPOMOFO ",
    "THAI CHARACTER ", "LAO ", "TIBETAN ", "MYANMAR ", "KHMER ",
)


def ref_unspaced(char: str) -> bool:
    """No space next to this character in a v2 key: unspaced script, or punctuation (P*)."""
    return (unicodedata.category(char).startswith("P")
            or unicodedata.name(char, "").startswith(UNSPACED_NAME_PREFIXES))


def is_cjk_or_thai_letter(char: str) -> bool:
    return ref_unspaced(char) and not unicodedata.category(char).startswith("P")


def ref_spacing(text: str) -> str:
    """§3 spacing, built character by character (the spec's chained replaces only insert
    spaces, which no later replace touches, so this is the same string)."""
    out = [" "]
    for char in text:
        if char in WRAPPED:
            out.append(f" {char} ")
        elif char in SPACED_WHITESPACE:
            out.append(" ")
        else:
            out.append(char)
    out.append(" ")
    return "".join(out)


# MetaCLIP's published rule (--rules reference): `is_cjk_or_similar` of
# metaclip/curation/substr_matching.py, its code point ranges by block, Python's
# string.punctuation and the 25 full-width marks it lists.
PUBLISHED_BLOCKS = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
                    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0x2CEB0, 0x2EBEF), (0xF900, 0xFAFF),
                    (0x2E80, 0x2EFF), (0x2F00, 0x2FDF), (0x2FF0, 0x2FFF), (0x0E00, 0x0E7F),
                    (0x0E80, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x0F00, 0x0FFF))
PUBLISHED_MARKS = set(string.punctuation) | set("，。、；：？！“”‘’（）【】《》〈〉「」『』～—")


def published_unspaced(char: str) -> bool:
    return char in PUBLISHED_MARKS or any(a <= ord(char) <= b for a, b in PUBLISHED_BLOCKS)


def ref_key(entry: str, version: str) -> str:
    if version == "v1":
        return " " + entry + " "
    test = published_unspaced if version == "v2-reference" else ref_unspaced
    lead = "" if test(entry[0]) else " "
    trail = "" if test(entry[-1]) else " "
    return lead + entry + trail


class Reference:
    """All keys of one entry list in a dict (key -> ids); `match` looks up every candidate
    substring of the spaced text: for v1 every substring that starts and ends with a
    space, for v2 every substring at all, both no longer than the longest key."""

    def __init__(self, entries, version: str):
        self.version = version
        self.keys: dict[str, list[int]] = {}
        for entry_id, entry in enumerate(entries):
            self.keys.setdefault(ref_key(entry, version), []).append(entry_id)
        self.max_len = max(map(len, self.keys))

    def match(self, text: str) -> list[int]:
        spaced = ref_spacing(text)
        get, max_len, found = self.keys.get, self.max_len, set()
        if self.version == "v1":
            spaces = [i for i, char in enumerate(spaced) if char == " "]
            for n, start in enumerate(spaces):
                for k in range(n + 1, len(spaces)):
                    end = spaces[k] + 1
                    if end - start > max_len:
                        break
                    ids = get(spaced[start:end])
                    if ids:
                        found.update(ids)
        else:
            size = len(spaced)
            for start in range(size):
                for end in range(start + 1, min(size, start + max_len) + 1):
                    ids = get(spaced[start:end])
                    if ids:
                        found.update(ids)
        return sorted(found)


def never_matchable(entry: str) -> bool:
    """An entry holding a wrapped mark next to a non-space character: spacing(text) always
    has spaces on both sides of that mark, so the entry's key never occurs (v1 and v2)."""
    return any(char in WRAPPED and ((i > 0 and entry[i - 1] != " ")
                                    or (i + 1 < len(entry) and entry[i + 1] != " "))
               for i, char in enumerate(entry))


# --- the real texts ---------------------------------------------------------------------

CC_CHINESE = "CC-MAIN-2020-34-sample.warc.gz"
CLUEWEB_JAPANESE = "clueweb-quirk.warc.gz"


def has_cjk(text: str) -> bool:
    return any(is_cjk_or_thai_letter(char) for char in text)


@pytest.fixture(scope="module")
def captions() -> list[str]:
    with open(DATA / "captions" / "Validation_GCC-1.1.0-Validation.tsv",
              encoding="utf-8", newline="") as f:
        texts = [row[0] for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    assert len(texts) == 15_833
    return texts


@pytest.fixture(scope="module")
def warc_texts() -> dict[str, list[str]]:
    """The alt/title texts of every WARC/ARC/WAT file in commoncrawl/ and webarchives/."""
    texts = {}
    for folder in ("commoncrawl", "webarchives"):
        for path in sorted((DATA / folder).iterdir()):
            if not path.name.startswith("LICENSE"):
                texts[f"{folder}/{path.name}"] = [
                    row[2] for row in iter_file_pairs(str(path), FileReport())]
    # The scripts this file is about must really be there (else parity proves little).
    assert sum(map(has_cjk, texts[f"commoncrawl/{CC_CHINESE}"])) >= 15      # 18 of 41
    assert sum(map(has_cjk, texts[f"webarchives/{CLUEWEB_JAPANESE}"])) >= 200  # 237 of 556
    assert sum(map(len, texts.values())) >= 1_900                          # 1,972
    return texts


@pytest.fixture(scope="module")
def html_texts() -> list[str]:
    """The alt/title/data-image-title texts (§1: \\n, \\r -> space, strip, drop empty) of
    the 181 real pages, parsed with curate.core.extract.html.parse_html."""
    pages = sorted((DATA / "html" / "html").glob("*.html.gz"))
    assert len(pages) == 181
    texts = []
    for page in pages:
        _base, images = parse_html(gzip.decompress(page.read_bytes()), None)
        for image in images:
            for attribute in ("alt", "title", "data-image-title"):
                text = image.get(attribute, "").replace("\n", " ").replace("\r", " ").strip()
                if text:
                    texts.append(text)
    assert len(texts) >= 2_500   # 2,704
    return texts


@pytest.fixture(scope="module")
def english() -> tuple[str, ...]:
    entries = load_metadata(None).entries
    assert len(entries) > 150_000   # 265,748
    return entries


HAND_MADE = [
    # Chinese, Japanese
    "东京", "中国", "猫", "一只", "看到", "手机", "手机壳", "東京", "タワー", "写真",
    "東京タワー", "コーヒー", "の",
    # Thai, Lao, Khmer, Myanmar, Tibetan, Bopomofo; Korean (spaced)
    "แมว", "ภาพ", "สีดำ", "ดำ", "สุนัข", "ภาพแมวสีดำ", "ประเทศไทย",
    "ແມວ", "ឆ្មា", "ကြောင်", "བོད", "ㄅㄆ", "고양이",
    # starting or ending with punctuation; mixed scripts
    "(a", "U.S.", "Washington, D.C.", "「東京」", "東京」", "「全国", "【ヘッドポーター",
    "-shirt", "T-shirt", "'s", "#1", "«Paris»", "Tokyo」", "3.5", "C++", "e-brand",
    "Ｅコマース", "iPhone", "iPhone手机", "QRコード", "Tokyo",
]


def unspaced_runs(text: str) -> list[str]:
    """Maximal runs of unspaced non-ASCII characters (CJK letters and CJK punctuation)."""
    runs, run = [], ""
    for char in text + " ":
        if ref_unspaced(char) and not char.isascii():
            run += char
        else:
            if run:
                runs.append(run)
            run = ""
    return runs


@pytest.fixture(scope="module")
def multilingual(warc_texts, html_texts) -> list[str]:
    """Every 1-6 character substring (holding a CJK letter) of the CJK runs of the real
    texts, then the hand-made entries above."""
    found = set()
    for text in {t for texts in warc_texts.values() for t in texts} | set(html_texts):
        for run in unspaced_runs(text):
            for start in range(len(run)):
                for size in range(1, 7):
                    piece = run[start:start + size]
                    if len(piece) == size and any(map(is_cjk_or_thai_letter, piece)):
                        found.add(piece)
    assert len(found) > 1_000   # 1,215 (+ 50 hand-made entries)
    return sorted(found) + HAND_MADE


@pytest.fixture(scope="module")
def all_texts(captions, warc_texts, html_texts) -> list[str]:
    """Every distinct real text (matching is a function of the text)."""
    return sorted(set(captions) | {t for texts in warc_texts.values() for t in texts}
                  | set(html_texts))


@pytest.fixture(scope="module")
def entries(english, multilingual) -> list[str]:
    """One list: the English ids first (0 .. len(english)-1), then the multilingual ones."""
    return list(english) + multilingual


@pytest.fixture(scope="module")
def matchers(entries) -> dict[str, Matcher]:
    return {version: Matcher(entries, version) for version in VERSIONS}


@pytest.fixture(scope="module")
def references(entries) -> dict[str, Reference]:
    return {version: Reference(entries, version) for version in VERSIONS}


@pytest.fixture(scope="module")
def results(all_texts, matchers, references) -> dict[str, dict[str, tuple[list, list]]]:
    """version -> text -> (curate's ids, the brute force's ids)."""
    return {version: {text: (matchers[version].match(text), references[version].match(text))
                      for text in all_texts}
            for version in VERSIONS}


# --- 1. parity on the real texts ---------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_aho_corasick_equals_brute_force_on_every_real_text(version, results, all_texts,
                                                            entries):
    assert len(all_texts) > 17_500   # 18,020 distinct texts
    mismatches = [(text, [entries[i] for i in sorted(set(got) ^ set(expected))])
                  for text, (got, expected) in results[version].items() if got != expected]
    assert mismatches[:10] == [], f"{len(mismatches)} texts differ under {version}"


@pytest.mark.slow
def test_reference_rules_equal_their_brute_force_on_every_real_text(all_texts, entries,
                                                                   results):
    """--rules reference (v2-reference keys) against the brute force with MetaCLIP's
    published rule; on the real Japanese and Chinese texts it differs from v2."""
    got = Matcher(entries, "v2-reference")
    reference = Reference(entries, "v2-reference")
    mismatches, differ = [], 0
    for text in all_texts:
        ids = got.match(text)
        if ids != reference.match(text):
            mismatches.append(text)
        differ += ids != results["v2"][text][0]
    assert mismatches[:10] == [], f"{len(mismatches)} texts differ"
    assert differ == 21   # the real texts whose matches the kana/punctuation rule changes


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_english_entries_match_nearly_every_caption(version, results, captions, english):
    n_english = len(english)
    matched = sum(any(i < n_english for i in results[version][text][0]) for text in captions)
    # Measured: all 15,833 under v1 and v2 (Conceptual Captions describe their image),
    # 9.43 entries per caption, the same ids under both versions.
    assert matched > 0.99 * len(captions)
    matches = sum(len(results[version][text][0]) for text in captions)
    assert matches > 8 * len(captions)


@pytest.mark.slow
def test_cjk_texts_match_cjk_entries_under_v2_and_rarely_under_v1(results, all_texts,
                                                                  english, entries):
    cjk_ids = {i for i in range(len(english), len(entries)) if has_cjk(entries[i])}
    cjk_texts = [text for text in all_texts if has_cjk(text)]
    assert len(cjk_texts) >= 30   # 35 distinct texts with a CJK letter (271 with repeats)
    counts = {version: sum(bool(cjk_ids.intersection(results[version][text][0]))
                           for text in cjk_texts) for version in VERSIONS}
    # v2: every CJK text holds some CJK letter, and every such letter is an entry.
    assert counts["v2"] == len(cjk_texts)
    # v1: only texts where a CJK run stands between spaces or wrapped marks (a whole alt
    # text such as "微博", "お問い合わせ"). Measured: 20 of 35.
    assert counts["v1"] < 0.7 * counts["v2"]
    # Per text, v2 finds far more CJK entries than v1. Measured: 1,764 against 30.
    totals = {version: sum(len(cjk_ids.intersection(results[version][text][0]))
                           for text in cjk_texts) for version in VERSIONS}
    assert totals["v2"] > 20 * totals["v1"]


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_entries_with_a_glued_wrapped_mark_never_match_real_text(version, results, entries):
    impossible = {i for i, entry in enumerate(entries) if never_matchable(entry)}
    assert len(impossible) > 150   # "Ph.D.", "St. Petersburg", "U.S.", "Washington, D.C." ...
    hits = {entries[i] for got, _ in results[version].values()
            for i in impossible.intersection(got)}
    assert hits == set()


# --- 2. the spec's examples --------------------------------------------------------------

SPEC_ENTRIES = ["Adult", "T-shirt", "shirt", "-shirt", "3", "5", "3.5", "U.S.", "U", "S",
                "Washington, D.C.", "Washington", "D", "C", "made", "in", "the", "at", "night"]


@pytest.mark.parametrize("version, text, expected", [
    ("v1", "Adult T-shirt", {"Adult", "T-shirt"}),
    # v2: "-shirt" (first character punctuation) has no leading space: " -shirt " is in
    # " Adult T-shirt ". "shirt" still needs one.
    ("v2", "Adult T-shirt", {"Adult", "T-shirt", "-shirt"}),
    ("v1", "3.5", {"3", "5"}),
    ("v2", "3.5", {"3", "5"}),
    # "U.S." and "Washington, D.C.": v1 keys " U.S. ", " Washington, D.C. "; v2 keys
    # " U.S." and " Washington, D.C." (last character punctuation). spacing() puts a space
    # before every "." and ",", so neither key ever occurs: same result under both.
    ("v1", "made in the U.S.", {"made", "in", "the", "U", "S"}),
    ("v2", "made in the U.S.", {"made", "in", "the", "U", "S"}),
    ("v1", "Washington, D.C. at night", {"Washington", "D", "C", "at", "night"}),
    ("v2", "Washington, D.C. at night", {"Washington", "D", "C", "at", "night"}),
    ("v1", "adult t-shirt", set()),   # case-sensitive
    ("v2", "adult t-shirt", {"-shirt"}),
])
def test_examples_of_the_spec(version, text, expected):
    ids = Matcher(SPEC_ENTRIES, version).match(text)
    assert {SPEC_ENTRIES[i] for i in ids} == expected
    assert ids == Reference(SPEC_ENTRIES, version).match(text)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("mark", list(WRAPPED) + list(SPACED_WHITESPACE))
def test_every_wrapped_mark_and_whitespace_separates_words(version, mark):
    """Each of , . ; : ? ! ` (wrapped in spaces) and \t \n \r (made spaces) splits
    "cat<mark>dog"; other marks do not ("-", "'", "/", "(", U+3000 ideographic space)."""
    entries = ["cat", "dog", "cat dog", "cat" + mark + "dog", "dog" + mark, "cat  dog"]
    matcher, reference = Matcher(entries, version), Reference(entries, version)
    got = matcher.match("cat" + mark + "dog")
    wrapped = mark in WRAPPED
    assert {entries[i] for i in got} == ({"cat", "dog"} if wrapped else {"cat", "dog", "cat dog"})
    assert got == reference.match("cat" + mark + "dog")
    for other in "-'/(\u3000":
        assert matcher.match("cat" + other + "dog") == [], repr(other)


@pytest.mark.parametrize("version", VERSIONS)
def test_glued_wrapped_marks_never_match_any_text(version):
    entries = ["U.S.", "Washington, D.C.", "3.5", "e.g.", "Ph.D.", "Apple Inc.", "東京.", "x,y"]
    texts = ["U.S.", "the U.S. army", "U.S.A.", "(U.S.)", "U.S.-made", " U.S. ", "U. S.",
             "Washington, D.C.", "Washington,D.C.", "Washington , D . C .", "3.5", "3 . 5",
             "e.g. this", "a Ph.D. thesis", "Apple Inc.", "東京.", "x,y", "x, y"]
    matcher, reference = Matcher(entries, version), Reference(entries, version)
    for text in texts:
        assert matcher.match(text) == [] == reference.match(text), text
    # ... while the entries with spaces around the mark do match (same route).
    spaced = ["3 . 5", "x , y"]
    assert Matcher(spaced, version).match("3.5 and x,y") == [0, 1]


# --- 3. unspaced scripts, mixed scripts, edge texts --------------------------------------

ASIAN = ["東京", "东京", "猫", "中国", "一只", "タワー", "写真", "東京タワー", "の",
         "แมว", "ภาพ", "สีดำ", "ดำ", "ภาพแมวสีดำ", "手机", "手机壳", "壳", "iPhone", "Phone",
         "Tokyo", "night", "ky", "cat", "category", "고양이", "ແມວ", "ឆ្មា", "ကြောင်", "བོད"]


@pytest.mark.parametrize("text, v1, v2", [
    ("我在东京看到一只猫", set(), {"东京", "一只", "猫"}),
    ("東京タワーの写真", set(), {"東京", "タワー", "東京タワー", "の", "写真"}),
    ("ภาพแมวสีดำ", {"ภาพแมวสีดำ"}, {"ภาพ", "แมว", "สีดำ", "ดำ", "ภาพแมวสีดำ"}),
    ("ລາວແມວ ខ្ញុំឆ្មា ကြောင်ကလေး བོད་ཡིག", set(), {"ແມວ", "ឆ្មា", "ကြောင်", "བོད"}),
    # Mixed scripts: English entries keep their word boundaries under v2.
    ("iPhone 手机壳", {"iPhone", "手机壳"}, {"iPhone", "手机", "手机壳", "壳"}),
    ("Tokyo 東京 night", {"Tokyo", "東京", "night"}, {"Tokyo", "東京", "night"}),
    ("Tokyo東京", set(), {"東京"}),              # " Tokyo " is not in " Tokyo東京 "
    ("猫cat猫", set(), {"猫"}),
    ("category", {"category"}, {"category"}),    # not "cat"
    ("a category of cats", {"category"}, {"category"}),
    ("cat.", {"cat"}, {"cat"}),
    # Korean is written with spaces: its entries need them (no "고양이" inside "고양이를").
    ("고양이를", set(), set()),
    ("고양이 사진", {"고양이"}, {"고양이"}),
])
def test_unspaced_and_mixed_scripts(text, v1, v2):
    for version, expected in (("v1", v1), ("v2", v2)):
        ids = Matcher(ASIAN, version).match(text)
        assert {ASIAN[i] for i in ids} == expected, version
        assert ids == Reference(ASIAN, version).match(text), version


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("text", ["", " ", "   ", "\t", "\n\r", " \t \n \r ", "\t\t\n"])
def test_empty_and_whitespace_texts_match_nothing(version, text, matchers, references):
    assert matchers[version].match(text) == [] == references[version].match(text)


def test_every_character_of_the_unspaced_scripts_is_matched_unpadded():
    """Single-character entries of every assigned character the reference calls unspaced
    match inside "x<c>x" under v2; a few spaced scripts' letters do not."""
    unspaced = [chr(cp) for cp in range(0x110000)
                if unicodedata.category(chr(cp)) not in ("Cn", "Cs", "Co", "Cc")
                and chr(cp) not in WRAPPED and ref_unspaced(chr(cp))]
    # KATAKANA LETTER MINNAN TONE-2..8 (U+1AFF0-1AFFE, Kana Extended-B) are left out
    # here: curate's ranges miss that block (see test_kana_extended_b_is_unspaced).
    kana_b = [c for c in unspaced if 0x1AFF0 <= ord(c) <= 0x1AFFF]
    unspaced = [c for c in unspaced if c not in kana_b]
    assert len(unspaced) > 90_000
    missed = []
    for start in range(0, len(unspaced), 2_000):   # small automata: a 96k-wide root is slow
        chunk = unspaced[start:start + 2_000]
        found = set(Matcher(chunk, "v2").match("x" + "x".join(chunk) + "x"))
        missed += [f"U+{ord(c):04X}" for i, c in enumerate(chunk) if i not in found]
    assert missed == []
    spaced = list("aZé9ж") + ["ա", "가", "ع", "א", "Ａ", "١", "ß"]
    matcher = Matcher(spaced, "v2")
    assert matcher.match("x" + "x".join(spaced) + "x") == []
    assert matcher.match(" ".join(spaced)) == list(range(len(spaced)))


def test_kana_extended_b_is_unspaced():
    entries = ["\U0001AFF0"]   # KATAKANA LETTER MINNAN TONE-2
    assert Matcher(entries, "v2").match("カ\U0001AFF0カ") == [0]


def big_unit(captions, warc_texts) -> str:
    """A real mixed unit: 20 captions, 5 Japanese and 5 Chinese alt texts, a Thai phrase."""
    japanese = [t for t in warc_texts[f"webarchives/{CLUEWEB_JAPANESE}"] if has_cjk(t)][:5]
    chinese = [t for t in warc_texts[f"commoncrawl/{CC_CHINESE}"] if has_cjk(t)][:5]
    return " ".join(captions[:20] + japanese + chinese + ["ภาพแมวสีดำ", "U.S.", "3.5"])


@pytest.mark.parametrize("version", VERSIONS)
def test_a_one_megabyte_text(version, captions, warc_texts, matchers, references):
    """A 1 MB text: k copies of a real unit, joined by spaces. Every key is shorter than
    the spaced unit, so any occurrence of a key lies within two neighbouring copies (or
    one copy and the text's padding): the k-copy text matches exactly what the 2-copy
    text matches. The brute force runs on the 2-copy text (v1 also on the whole text)."""
    unit = big_unit(captions, warc_texts)
    reference = references[version]
    assert len(ref_spacing(unit)) > reference.max_len
    copies = 1_000_000 // len(unit.encode("utf-8")) + 1
    big = " ".join([unit] * copies)
    assert len(big.encode("utf-8")) >= 1_000_000
    got = matchers[version].match(big)
    expected = reference.match(unit + " " + unit)
    assert got == expected
    assert len(got) > 100   # 165 distinct entries
    if version == "v1":   # the v1 brute force scans space pairs: fast enough on 1 MB
        assert got == reference.match(big)


# --- 4. match_texts: each distinct text once ---------------------------------------------

def test_match_texts_matches_each_distinct_text_once(monkeypatch, captions, matchers):
    matcher = matchers["v2"]
    original = Matcher.match
    calls = Counter()

    def counting(self, text):
        calls[text] += 1
        return original(self, text)

    rng = random.Random(7)
    distinct = captions[:300] + ["", "東京タワーの写真", "ภาพแมวสีดำ"]
    texts = [rng.choice(distinct) for _ in range(20_000)] + [None] * 50
    rng.shuffle(texts)
    expected = [original(matcher, t) if t is not None else [] for t in texts]
    monkeypatch.setattr(Matcher, "match", counting)
    got = match_texts(matcher, texts)
    assert got == expected
    assert set(calls) == set(distinct) and set(calls.values()) == {1}
    assert sum(calls.values()) == len(distinct) < len(texts) / 50


@pytest.mark.parametrize("version", VERSIONS)
def test_match_batches_drops_unmatched_rows_and_keeps_brute_force_ids(monkeypatch, captions,
                                                                      version):
    """The match stage's core on real captions (each repeated), English, no LID."""
    metadata = load_metadata_set(None)
    reference = Reference(metadata.lists["en"].entries, version)
    texts = (captions[:400] + ["", "xqzv", "東京"]) * 3
    rows = {name: [None] * len(texts) for name in schemas.DEDUP.names}
    rows.update(image_uuid=[f"u{i}" for i in range(len(texts))],
                url=[f"http://e/{i}" for i in range(len(texts))], text=texts,
                text_source=["alt"] * len(texts), source_path=["f"] * len(texts))
    batch = pa.RecordBatch.from_pydict(rows, schema=schemas.DEDUP)
    # every text matched, by whichever path: per text (Matcher.match, v2) or per batch
    # (BatchMatcher.match_many, v1: each text it is given counts once)
    calls = Counter()
    many_calls = []
    single, many = Matcher.match, BatchMatcher.match_many
    monkeypatch.setattr(Matcher, "match",
                        lambda self, text: calls.update([text]) or single(self, text))

    def counting_many(self, batch_texts):
        many_calls.append(len(batch_texts))
        calls.update(batch_texts)
        return many(self, batch_texts)

    monkeypatch.setattr(BatchMatcher, "match_many", counting_many)
    counters = Counter()
    out = pa.Table.from_batches(list(match_batches(
        iter([batch]), metadata, MatchPlan(frozenset({"en"}), "en", version), counters)))
    expected = [(f"u{i}", reference.match(t)) for i, t in enumerate(texts)]
    kept = [(uuid, ids) for uuid, ids in expected if ids]
    assert list(zip(out["image_uuid"].to_pylist(), out["matched_entry_ids"].to_pylist())) == kept
    assert set(out["lang"].to_pylist()) == {"en"}
    assert counters == {"matched:en": len(kept), "no_match:en": len(texts) - len(kept)}
    assert len(texts) - len(kept) >= 9   # "", "xqzv", "東京" (English list), 3 times
    assert calls == Counter(set(texts))   # each distinct text matched once per batch
    # v1: the batch's distinct texts in one call; v2: text by text (no BatchMatcher)
    assert many_calls == ([len(set(texts))] if version == "v1" else [])
