"""curate.core.metadata (loading, formats, errors) and the shipped default metadata."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import string
import subprocess
import sys
import unicodedata
import zipfile
from pathlib import Path

import pytest

from curate.errors import UserError
from curate.core.metadata import (
    Metadata,
    default_metadata_path,
    load_metadata,
    metadata_from_bytes,
    read_metadata_bytes,
)
from curate.core.metadata_build.tokens import TOKEN
from curate.core.metadata_build.wordfreq import read_cbpack
from wordfreq_helpers import write_cbpack

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SCRIPT = REPO / "scripts" / "build_default_metadata.py"
SHIPPED = REPO / "curate" / "data" / "metadata_en.json.gz"

# Includes an entry with spaces inside and at both ends, non-ASCII, a duplicate, a quote.
ENTRIES = ["photo", "hot dog", " padded ", "Śāriputra", "東京", "photo", 'say "hi"', "3"]


def canonical_sha(entries) -> str:
    data = json.dumps(list(entries), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------- formats


def test_json_text_and_gz_give_the_same_metadata(tmp_path):
    as_json = write(tmp_path / "m.json", json.dumps(ENTRIES, ensure_ascii=False).encode("utf-8"))
    as_text = write(tmp_path / "m.txt", ("\n".join(ENTRIES) + "\n").encode("utf-8"))
    as_gz = write(tmp_path / "m.json.gz", gzip.compress(as_json.read_bytes()))
    as_text_gz = write(tmp_path / "m.txt.gz", gzip.compress(as_text.read_bytes()))

    loaded = [load_metadata(str(p)) for p in (as_json, as_text, as_gz, as_text_gz)]
    for m in loaded:
        assert isinstance(m, Metadata)
        assert m.entries == tuple(ENTRIES)
        assert m.fingerprint == canonical_sha(ENTRIES)
        assert m.lang == "en"
    assert [m.source for m in loaded] == [str(as_json), str(as_text), str(as_gz), str(as_text_gz)]


def test_format_is_detected_by_content_not_extension(tmp_path):
    # A JSON list named .txt, with leading whitespace and pretty-printed.
    p = write(tmp_path / "list.txt", b"\n  " + json.dumps(ENTRIES, indent=2).encode("ascii"))
    assert load_metadata(p).entries == tuple(ENTRIES)
    # Text named .json: read one entry per line, not as JSON.
    q = write(tmp_path / "words.json", b"cat\ndog\n")
    assert load_metadata(q).entries == ("cat", "dog")


def test_duplicates_are_kept_at_their_positions(tmp_path):
    p = write(tmp_path / "d.txt", b"a\nb\na\na\n")
    m = load_metadata(p)
    assert m.entries == ("a", "b", "a", "a")
    assert m.entries.index("b") == 1 and len(m.entries) == 4


def test_text_lines_keep_everything_but_the_line_ending(tmp_path):
    p = write(tmp_path / "t.txt", b" lead\r\ntrail \r\n\tx\ny\r\nlast")
    # CRLF and LF both end a line; spaces and tabs are kept; no final newline.
    assert load_metadata(p).entries == (" lead", "trail ", "\tx", "y", "last")
    # Only the single empty "line" after the final newline is dropped; another empty
    # line is an empty entry, refused (below).
    q = write(tmp_path / "u.txt", b"a\n")
    assert load_metadata(q).entries == ("a",)


@pytest.mark.parametrize("name, data, where", [
    ("inner.txt", b"cat\n\ndog\n", "line 2 (entry id 1) is empty"),
    ("final.txt", b"cat\ndog\n\n", "line 3 (entry id 2) is empty"),
    ("crlf.txt", b"cat\r\n\r\ndog\r\n", "line 2 (entry id 1) is empty"),
    ("spaces.txt", "cat\n \t \ndog\n\u3000\n".encode(),
     "line 2 (entry id 1) is only whitespace (and 1 more)"),
    ("list.json", b'["cat", "", " "]', "item 1 (entry id 1) is empty (and 1 more)"),
    ("list.json.gz", gzip.compress(b'["cat", "\\u00a0"]'),
     "item 1 (entry id 1) is only whitespace"),
])
def test_an_empty_or_blank_entry_is_refused_naming_its_place(tmp_path, name, data, where):
    """Padded by spaces, "" is a key of two spaces, which spacing puts around every comma:
    such an entry matched 98% of a matched set."""
    path = write(tmp_path / name, data)
    with pytest.raises(UserError) as exc:
        load_metadata(path)
    assert str(exc.value) == (f"metadata file {path}: {where}; such an entry matches nearly "
                              "every text, remove it")


def test_a_blank_entry_in_a_directory_names_the_file_and_language(tmp_path):
    from curate.core.metadata import load_metadata_set

    (tmp_path / "en.txt").write_text("cat\n", "utf-8")
    (tmp_path / "de.json").write_text('["Katze", ""]', "utf-8")
    with pytest.raises(UserError, match=re.escape(
            f"metadata file {tmp_path} [de]: item 1 (entry id 1) is empty;")):
        load_metadata_set(tmp_path)


def test_metadata_stats_still_counts_blank_entries(tmp_path):
    from curate.core.metadata_build.stats import metadata_stats

    path = write(tmp_path / "m.txt", b"cat\n\n \n,\n")
    stats = metadata_stats(str(path), lang="en")["languages"]["en"]
    assert stats["entries"] == 4
    assert stats["empty_or_punctuation"] == {"empty": 2, "punctuation": 1}


@pytest.mark.parametrize("command", ["match", "count", "run"])
def test_every_command_that_reads_metadata_refuses_a_blank_entry(tmp_path, capsys, command):
    """One line and exit 2, before Spark (count and run take the list through their own
    --metadata; sample reads counts, which count made from a list it accepted)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.cli import main

    metadata = write(tmp_path / "m.txt", b"cat\n\ndog\n")
    stage_dir = tmp_path / "in"
    stage_dir.mkdir()
    pq.write_table(pa.table({"x": [1]}), stage_dir / "part-0.parquet")
    args = {"match": ["match", str(stage_dir)], "count": ["count", str(stage_dir)],
            "run": ["run"]}[command]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "-o", str(tmp_path / "out"), "--metadata", str(metadata)])
    err = capsys.readouterr().err
    assert (exit_info.value.code, err) == (2, (
        f"curate: error: metadata file {metadata}: line 2 (entry id 1) is empty; such an "
        "entry matches nearly every text, remove it\n"))
    assert not (tmp_path / "out").exists()


def test_fingerprint_depends_on_order_and_content(tmp_path):
    a = load_metadata(write(tmp_path / "a.txt", b"x\ny\n"))
    b = load_metadata(write(tmp_path / "b.txt", b"y\nx\n"))
    c = load_metadata(write(tmp_path / "c.txt", b"x\ny \n"))
    assert len({a.fingerprint, b.fingerprint, c.fingerprint}) == 3
    assert a.fingerprint == canonical_sha(["x", "y"])


def test_metadata_from_bytes_rebuilds_the_same_metadata(tmp_path):
    p = write(tmp_path / "m.json.gz", gzip.compress(json.dumps(ENTRIES).encode("ascii")))
    raw = read_metadata_bytes(str(p))
    assert raw == json.dumps(ENTRIES).encode("ascii")  # gunzipped
    m = metadata_from_bytes(raw, "broadcast", lang="de")
    assert m.entries == tuple(ENTRIES)
    assert m.fingerprint == load_metadata(p).fingerprint
    assert (m.lang, m.source) == ("de", "broadcast")
    assert load_metadata(p, lang="fr").lang == "fr"


def test_a_utf8_bom_is_not_part_of_the_first_entry(tmp_path):
    p = write(tmp_path / "bom.txt", b"\xef\xbb\xbfcat\ndog\n")
    assert load_metadata(p).entries == ("cat", "dog")
    q = write(tmp_path / "bom.json", b'\xef\xbb\xbf["cat"]')
    assert load_metadata(q).entries == ("cat",)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "name, data, words",
    [
        ("latin1.txt", "café\n".encode("latin-1"), "not UTF-8"),
        ("numbers.json", b"[1, 2]", "not a list of strings"),
        ("mixed.json", b'["a", null]', "not a list of strings"),
        ("nested.json", b'[["a"]]', "not a list of strings"),
        ("object.json", b'{"a": 1}', "JSON object"),
        ("broken.json", b'["a", ', "not valid JSON"),
        ("empty.json", b" [ ] ", "no entries"),
        ("empty.txt", b"", "no entries"),
        ("surrogate.json", b'["ok", "\\ud800"]', "entry 1"),
        ("corrupt.gz", b"\x1f\x8b\x08\x00garbage", "gzip"),
    ],
)
def test_bad_files_raise_user_error_naming_the_path(tmp_path, name, data, words):
    p = write(tmp_path / name, data)
    with pytest.raises(UserError) as exc:
        load_metadata(str(p))
    msg = str(exc.value)
    assert str(p) in msg and words in msg
    assert "\n" not in msg


def test_errors_from_gzipped_files_too(tmp_path):
    p = write(tmp_path / "bad.json.gz", gzip.compress(b'[1]'))
    with pytest.raises(UserError, match="not a list of strings") as exc:
        load_metadata(p)
    assert str(p) in str(exc.value)


def test_missing_file_and_directory(tmp_path):
    missing = tmp_path / "nope" / "metadata.json"
    for call in (lambda: load_metadata(str(missing)), lambda: read_metadata_bytes(missing)):
        with pytest.raises(UserError, match="not found") as exc:
            call()
        assert str(missing) in str(exc.value)
    with pytest.raises(UserError) as exc:
        load_metadata(tmp_path)
    assert str(tmp_path) in str(exc.value)


def test_metadata_from_bytes_errors_name_the_source():
    with pytest.raises(UserError, match="broadcast"):
        metadata_from_bytes(b"[]", "broadcast")


def test_a_text_file_whose_first_entry_starts_with_a_brace_is_text(tmp_path):
    p = write(tmp_path / "brace.txt", b"{curly}\nplain\n")
    assert load_metadata(p).entries == ("{curly}", "plain")


# ---------------------------------------------------------------- the shipped default


def _is_punct1(s: str) -> bool:
    return len(s) == 1 and (unicodedata.category(s).startswith("P") or s in string.punctuation)


_SYNSET = re.compile(r"^\d{8} \d{2} [nvasr] [0-9a-f]{2} (\S+) ", re.M)


def _wordnet_heads() -> set[str]:
    heads = set()
    for pos in ("noun", "verb", "adj", "adv"):
        text = (DATA / "wordnet" / f"data.{pos}").read_text(encoding="utf-8")
        for word in _SYNSET.findall(text):
            for marker in ("(a)", "(p)", "(ip)"):
                if word.endswith(marker):
                    word = word[: -len(marker)]
            heads.add(word.replace("_", " "))
    return heads


@pytest.fixture(scope="module")
def default() -> Metadata:
    return load_metadata()


@pytest.fixture(scope="module")
def sources(data_dir) -> dict[str, object]:  # data_dir (conftest) fails if the data is missing
    unigram_counts = json.loads(
        (DATA / "wiki" / "wikiwords_enwiki2012_unigram_counts.json").read_text(encoding="utf-8"))
    titles = json.loads((DATA / "wiki" / "titles_en-us.json").read_text(encoding="utf-8"))
    # wordfreq: bucket i holds the words of frequency 10**(-i/100); a word is in when
    # frequency * 3.5e9 >= 100, it is one token and not a number shape (METADATA.md).
    buckets = read_cbpack(DATA / "wiki" / "large_en.msgpack.gz")
    wordfreq = {}
    for i, bucket in enumerate(buckets):
        for word in bucket:
            if (10 ** (-i / 100) * 3.5e9 >= 100 and TOKEN.fullmatch(word)
                    and not re.search(r"\d[\d.,]+", word)):
                wordfreq.setdefault(word, 10 ** (-i / 100))
    return {
        "wordnet": _wordnet_heads(),
        "unigram_counts": unigram_counts,
        "unigrams": {w for w, c in unigram_counts.items() if c >= 100},
        "wordfreq_frequency": wordfreq,
        "wordfreq": set(wordfreq),
        "titles": set(titles),
        "numbers": {str(i) for i in range(100)},
    }


def test_default_loads(default):
    assert default.source == "default" and default.lang == "en"
    assert default.fingerprint == canonical_sha(default.entries)
    assert read_metadata_bytes(None) == gzip.decompress(SHIPPED.read_bytes())
    assert default_metadata_path().read_bytes() == SHIPPED.read_bytes()
    assert load_metadata(None, lang="en").fingerprint == default.fingerprint


def test_default_has_no_duplicates_empties_or_single_punctuation(default):
    assert len(set(default.entries)) == len(default.entries)
    assert all(isinstance(e, str) and e != "" for e in default.entries)
    assert not [e for e in default.entries if _is_punct1(e)]


def test_default_holds_numbers_and_wordnet_head_lemmas(default):
    entries = set(default.entries)
    assert {str(i) for i in range(100)} <= entries
    # Head lemmas read off data.noun / data.verb / data.adj:
    #   00001930 03 n 01 physical_entity 0 ...        (multiword, "_" -> " ")
    #   00002137 03 n 02 abstraction 0 abstract_entity 0 ...   (only the head counts)
    #   00010054 29 v 02 move_involuntarily 0 move_reflexively 0 ...
    #   00024619 00 s 02 used_to(p) 0 wont_to(p) 0 ...  (marker stripped)
    #   00202677 00 s 01 regardant(ip) 0 ...
    for lemma in ("entity", "physical entity", "abstraction", "move involuntarily", "used to",
                  "regardant"):
        assert lemma in entries, lemma
    for not_head in ("abstract entity", "move reflexively", "wont to", "physical_entity",
                     "used to(p)", "used_to(p)", "regardant(ip)"):
        assert not_head not in entries, not_head


def test_default_size_and_blocks_match_the_sources(default, sources):
    wn, uni, wf, titles, nums = (sources[k] for k in ("wordnet", "unigrams", "wordfreq",
                                                      "titles", "numbers"))
    drop = {s for s in wn | uni | wf | titles | nums if s == "" or _is_punct1(s)}
    expected = {
        "wordnet": len(wn - drop),
        "unigrams": len(uni - wn - drop),
        "wordfreq": len(wf - uni - wn - drop),
        "titles": len(titles - wf - uni - wn - drop),
        "numbers": len(nums - titles - wf - uni - wn - drop),
    }
    assert len(default.entries) == sum(expected.values()) \
        == len((wn | uni | wf | titles | nums) - drop)

    # Blocks in order: WordNet sorted, unigrams by count desc, wordfreq words by frequency
    # desc, titles sorted, then numbers.
    e = default.entries
    a = expected["wordnet"]
    b = a + expected["unigrams"]
    c = b + expected["wordfreq"]
    d = c + expected["titles"]
    assert set(e[:a]) == wn - drop and list(e[:a]) == sorted(e[:a])
    assert set(e[a:b]) == uni - wn - drop
    counts = [sources["unigram_counts"][w] for w in e[a:b]]
    assert all(x >= y for x, y in zip(counts, counts[1:]))
    assert set(e[b:c]) == wf - uni - wn - drop
    freq = [sources["wordfreq_frequency"][w] for w in e[b:c]]
    assert all(x >= y for x, y in zip(freq, freq[1:]))
    assert set(e[c:d]) == titles - wf - uni - wn - drop and list(e[c:d]) == sorted(e[c:d])
    assert list(e[d:]) == [n for n in map(str, range(100)) if n in nums - titles - wf - uni - wn]

    # METADATA.md states the per-source counts.
    md = (REPO / "curate" / "data" / "METADATA.md").read_text(encoding="utf-8")
    for count in expected.values():
        assert f"{count:,}" in md


@pytest.mark.slow
def test_rebuilding_the_default_is_byte_identical(tmp_path, data_dir):
    out = tmp_path / "rebuilt.json.gz"  # another name: the gzip header must not hold it
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(DATA), "-o", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert gzip.decompress(out.read_bytes()) == gzip.decompress(SHIPPED.read_bytes())
    assert out.read_bytes() == SHIPPED.read_bytes()
    shipped_dir = SHIPPED.parent
    for name in ("LICENSE.wordnet", "LICENSE.wikipedia", "LICENSE.wordfreq"):
        assert (tmp_path / name).read_bytes() == (shipped_dir / name).read_bytes(), name
    md = (tmp_path / "METADATA.md").read_text(encoding="utf-8")
    assert md.replace(out.name, SHIPPED.name) == (shipped_dir / "METADATA.md").read_text(encoding="utf-8")
    assert (tmp_path / "LICENSE.wordnet").read_bytes() == (DATA / "wordnet" / "COPYRIGHT").read_bytes()
    assert (DATA / "wiki" / "LICENSE.txt").read_bytes() in (tmp_path / "LICENSE.wikipedia").read_bytes()


def test_build_script_fails_cleanly_without_sources(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(tmp_path / "none"), "-o", str(tmp_path / "x.gz")],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "not found" in proc.stderr and not (tmp_path / "x.gz").exists()


def test_default_loads_from_a_zip_import(tmp_path, default):
    """--py-files ships the package as a zip: the default must load through the Traversable."""
    archive = tmp_path / "curate.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for rel in ("curate/__init__.py", "curate/errors.py", "curate/core/__init__.py",
                    "curate/core/metadata.py", "curate/data/metadata_en.json.gz",
                    "curate/sources/__init__.py", "curate/sources/redact.py"):
            z.write(REPO / rel, rel)
    code = (
        "import curate.core.metadata as m; d = m.load_metadata(); "
        "print(m.__file__); print(len(d.entries), d.fingerprint)"
    )
    env = {**os.environ, "PYTHONPATH": str(archive)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    where, summary = proc.stdout.splitlines()
    assert where.startswith(str(archive))
    assert summary == f"{len(default.entries)} {default.fingerprint}"


def test_build_script_recipe_on_tiny_sources(tmp_path):
    """Order, first-source-wins dedup, markers, header skipping and dropped strings, exactly."""
    data = tmp_path / "data"
    (data / "wordnet").mkdir(parents=True)
    (data / "wiki").mkdir()
    header = "  1 This software and database is being provided to you, the LICENSEE, by  \n"
    synsets = {
        "noun": ["00001740 03 n 01 entity 0 000 | x  ",
                 "00002137 03 n 02 abstraction 0 abstract_entity 0 000 | x  ",
                 "00001930 03 n 01 physical_entity 0 000 | x  ",
                 "09999999 15 n 01 Paris 0 000 | x  "],
        "verb": ["00003662 29 v 01 force_out 0 000 | x  "],
        "adj": ["00024619 00 s 02 used_to(p) 0 wont_to(p) 0 000 | x  ",
                "00202677 00 s 01 regardant(ip) 0 000 | x  ",
                "00020103 00 s 02 outback(a) 0 remote 0 000 | x  "],
        "adv": ["00001740 02 r 01 entity 0 000 | duplicate head  "],
    }
    for pos, lines in synsets.items():
        (data / "wordnet" / f"data.{pos}").write_text(header + "\n".join(lines) + "\n")
    (data / "wordnet" / "COPYRIGHT").write_text("wordnet licence\n")
    (data / "wiki" / "LICENSE.txt").write_text("wiki licence\n")
    unigrams = {"the": 1000, "of": 900, "an": 900, "outback": 500, "rare": 99, "": 5000,
                ",": 4000, "\u2014": 3000, "$": 2000, "paris": 150, "7": 120}
    (data / "wiki" / "wikiwords_enwiki2012_unigram_counts.json").write_text(json.dumps(unigrams))
    titles = {"Paris": "Geography", "Zebra": "Biology", "0": "x", "Abstraction": "x", "!": "x"}
    (data / "wiki" / "titles_en-us.json").write_text(json.dumps(titles))
    buckets = [[] for _ in range(760)]
    buckets[0] = ["the"]
    buckets[300] = ["zebra", "don't", "u.s", "00", "3d", "!", "7"]
    buckets[754] = ["edge"]    # 10**-7.54 * 3.5e9 = 100.9 >= 100
    buckets[755] = ["below"]   # 98.6
    write_cbpack(data / "wiki" / "large_en.msgpack.gz", buckets)

    out = tmp_path / "out" / "m.json.gz"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--data", str(data), "-o", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(gzip.decompress(out.read_bytes()))
    assert got == (
        # WordNet heads, distinct, sorted by code point; markers and "_" handled.
        ["Paris", "abstraction", "entity", "force out", "outback", "physical entity",
         "regardant", "used to"]
        # Unigrams >= 100 by count desc then string; "", ",", "\u2014" (Pd) and "$" (in
        # string.punctuation though category Sc) dropped; "outback" already placed.
        + ["the", "an", "of", "paris", "7"]
        # wordfreq words with frequency * 3.5e9 >= 100 by frequency desc then string: "u.s"
        # and "!" are not one token, "00" is a number shape, "the" and "7" already placed.
        + ["3d", "don't", "zebra", "edge"]
        # Titles sorted; "!" dropped, "Paris" already placed.
        + ["0", "Abstraction", "Zebra"]
        # Numbers not placed before.
        + [str(i) for i in range(1, 100) if i != 7]
    )
    assert gzip.decompress(out.read_bytes()) == json.dumps(
        got, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert (out.parent / "LICENSE.wordnet").read_text() == "wordnet licence\n"
    assert (out.parent / "LICENSE.wikipedia").read_text().endswith("wiki licence\n")
    assert "| 8 | 8 |" in (out.parent / "METADATA.md").read_text()
