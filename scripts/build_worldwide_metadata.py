#!/usr/bin/env python3
"""Build curate/data/metadata_worldwide/: one {lang}.json.gz metadata list per language of
the wordfreq package, a frequency-list approximation of Meta CLIP 2's per-language lists.

Input: a wordfreq wheel (``pip download wordfreq --no-deps -d DIR``) or the directory it
unpacks to (holding ``wordfreq/data/`` and ``wordfreq-*.dist-info/METADATA``). The rule is
``curate.core.metadata_build.wordfreq.worldwide_entries``; README.md (rule, counts, version,
sources) and LICENSE.wordfreq (taken from the wheel's own README) are written beside the
lists. Output is deterministic (compact JSON, gzip mtime 0 and no file name), so a rebuild
from the same wheel is byte-identical; ``*.json.gz`` lists the new build does not write are
removed from the output directory.

Usage (from the repository root):
    python scripts/build_worldwide_metadata.py WHEEL_OR_DIR [-o curate/data/metadata_worldwide]

Standalone: it uses only the reader module, not the `curate metadata` CLI.
"""
from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import sys
import tempfile
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # this checkout's module, installed or not

from curate.core.metadata import fingerprint_entries, set_fingerprint  # noqa: E402
from curate.core.metadata_build.wordfreq import (  # noqa: E402
    MAX_WORDS, MIN_FREQUENCY, metadata_codes, wordfreq_languages, worldwide_entries)

DEFAULT_OUTPUT = REPO_ROOT / "curate" / "data" / "metadata_worldwide"
LICENSE_FILE = "LICENSE.wordfreq"
_OUTPUT_LIST = re.compile(r"[a-z]{2,3}(?:[-_][a-z0-9]+)?\.json\.gz")
# The domain columns of the "Sources and supported languages" table of wordfreq's README.
SH_NAME = "Serbo-Croatian"
DOMAINS = ("Wikipedia", "Subtitles", "News", "Books", "Web", "Twitter", "Reddit", "Misc.")


class BuildError(Exception):
    pass


def canonical_json(entries: list[str]) -> bytes:
    return json.dumps(entries, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def deterministic_gzip(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def _unpack(source: Path, into: Path) -> Path:
    """The root of an unpacked wheel: `source` itself if it is a directory."""
    if source.is_dir():
        return source
    if not zipfile.is_zipfile(source):
        raise BuildError(f"{source} is neither a wordfreq wheel nor a directory")
    with zipfile.ZipFile(source) as whl:
        members = [n for n in whl.namelist()
                   if n.startswith("wordfreq/data/") and n.endswith(".msgpack.gz")
                   or re.fullmatch(r"wordfreq-[^/]+\.dist-info/METADATA", n)]
        whl.extractall(into, members)
    return into


def _package_metadata(root: Path) -> str:
    found = sorted(root.glob("wordfreq-*.dist-info/METADATA"))
    if len(found) != 1:
        raise BuildError(f"{root}: expected one wordfreq-*.dist-info/METADATA, found {len(found)}")
    return found[0].read_text(encoding="utf-8")


def _section(text: str, title: str) -> str:
    """The body of the '## title' section of a Markdown README."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    if not match:
        raise BuildError(f"wordfreq's README has no '## {title}' section")
    return match.group(1).strip("\n")


def language_table(readme: str) -> dict[str, dict]:
    """wordfreq code -> {name, note, domains} from the README's supported-languages table."""
    rows: dict[str, dict] = {}
    for line in _section(readme, "Sources and supported languages").splitlines():
        left, bar, right = line.partition("│")
        cells, flags = left.split(), right.split()
        if not bar or len(flags) != len(DOMAINS) or len(cells) < 3:
            continue
        name, code = cells[0], cells[1]
        note = cells[2] if cells[2].startswith("[") else ""
        rows[code] = {"name": name, "note": note,
                      "domains": [d + (f" ({f})" if f not in ("Yes", "-") else "")
                                  for d, f in zip(DOMAINS, flags) if f != "-"]}
    if "en" not in rows:
        raise BuildError("wordfreq's README language table was not found or not understood")
    return rows


def footnotes(readme: str) -> str:
    """The numbered notes ("[1] ...") under wordfreq's language table."""
    notes = [p for p in _section(readme, "Sources and supported languages").split("\n\n")
             if re.match(r"\[\d\] ", p)]
    if not notes:
        raise BuildError("wordfreq's README language table has no notes")
    return "\n\n".join(notes)


def _attributions(code: str, domains: list[str]) -> str:
    """The README's licence notes that concern a language's sources."""
    notes = ["CC BY-SA 4.0"]
    subtlex = {"en": "SUBTLEX-US, SUBTLEX-UK", "de": "SUBTLEX-DE", "nl": "SUBTLEX-NL",
               "zh": "SUBTLEX-CH"}
    if "Wikipedia" in domains:
        notes.append("Wikipedia (CC BY-SA)")
    if "Subtitles" in domains:
        notes.append("OpenSubtitles 2018 (attribution)"
                     + (f"; {subtlex[code]} (credit the authors)" if code in subtlex else ""))
    if "Books" in domains:
        notes.append("Google Books Ngrams (acknowledgement appreciated)")
    if any(d.startswith("Misc.") for d in domains):
        notes.append("Jieba wordlist (provenance unknown, per wordfreq)")
    return "; ".join(notes)


def build(source: Path, out_dir: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = _unpack(Path(source), Path(tmp))
        readme = _package_metadata(root)
        version = re.search(r"^Version: (\S+)$", readme, re.M)
        if not version:
            raise BuildError("wordfreq's METADATA has no Version")
        data_dir = root / "wordfreq" / "data"
        if not data_dir.is_dir():
            raise BuildError(f"{root} has no wordfreq/data folder")
        languages = wordfreq_languages(data_dir)
        lists: dict[str, list[str]] = {}
        used: dict[str, tuple[str, str]] = {}  # metadata code -> (wordfreq code, file name)
        for code, path in languages.items():
            entries = worldwide_entries(path, code)
            for out_code in metadata_codes(code):
                if out_code in lists:
                    raise BuildError(f"two wordfreq lists give metadata language {out_code}")
                lists[out_code] = entries
                used[out_code] = (code, Path(path).name)
    if not lists:
        raise BuildError(f"{source}: no wordfreq lists found")

    out_dir.mkdir(parents=True, exist_ok=True)
    packed: dict[int, bytes] = {}  # one compression per list, however many codes share it
    for entries in lists.values():
        if id(entries) not in packed:
            packed[id(entries)] = deterministic_gzip(canonical_json(entries))
    files = {f"{code}.json.gz": packed[id(entries)] for code, entries in sorted(lists.items())}
    for stale in out_dir.iterdir():
        if _OUTPUT_LIST.fullmatch(stale.name) and stale.name not in files:
            stale.unlink()
    fingerprints = {code: fingerprint_entries(entries) for code, entries in lists.items()}
    info = {"version": version.group(1), "entries": {c: len(e) for c, e in sorted(lists.items())},
            "used": used, "bytes": sum(map(len, files.values())),
            "fingerprint": set_fingerprint(fingerprints)}
    files["README.md"] = readme_md(info, language_table(readme), readme).encode("utf-8")
    files[LICENSE_FILE] = license_text(info["version"], readme).encode("utf-8")
    for name, data in files.items():
        path = out_dir / name
        if not (path.exists() and path.read_bytes() == data):
            path.write_bytes(data)
    return info


def readme_md(info: dict, table: dict[str, dict], readme: str) -> str:
    rows = []
    for code, n in info["entries"].items():
        wf_code, file_name = info["used"][code]
        # `bs`/`hr`/`sr` have rows of their own, `tl` has `fil`'s; `sh` (no row) borrows a
        # sibling's sources: wordfreq's bs, hr and sr rows describe the same list.
        lang = table.get(code) or table.get(wf_code)
        if lang is None:
            siblings = [table[c] for c, (w, _) in info["used"].items()
                        if w == wf_code and c in table]
            if not siblings:
                raise BuildError(f"wordfreq's README table has no row for {code} ({wf_code})")
            lang = dict(siblings[0], name=SH_NAME if code == "sh" else "?")
        rows.append(f"| `{code}` | {lang['name']} {lang['note']}".rstrip()
                    + f" | `{file_name}` | {n:,} | {', '.join(lang['domains'])} | "
                    f"{_attributions(wf_code, lang['domains'])} |")
    total = sum(info["entries"].values())
    return f"""# Worldwide metadata: a word-frequency approximation of Meta CLIP 2's lists

**These lists are an approximation of Meta CLIP 2's per-language metadata built from word
frequencies (the `wordfreq` package), not Meta CLIP 2's Wikipedia- and WordNet-based lists.**
Meta CLIP 2 builds each language's list from that language's Wikipedia (unigrams, bigrams,
titles) and multilingual WordNet (ALGORITHM.md §6); those lists are not available here.
This directory holds, for each of the {len(info['entries'])} language codes wordfreq
{info['version']} covers, its most frequent words, so that `curate` can match and balance
worldwide out of the box. Pass a directory of real Meta CLIP 2 lists (`{{lang}}.json`) to
use those instead.

One gzipped compact JSON list of strings per language, `{{lang}}.json.gz`, read by
`curate.core.metadata.load_metadata_set("curate/data/metadata_worldwide")`; an entry's id is its
position in its list. {total:,} entries in all, {info['bytes']:,} bytes compressed.
Metadata set fingerprint (as `curate.core.metadata` computes it):
`{info['fingerprint']}`.

## The rule

From wordfreq **{info['version']}** (PyPI `wordfreq`, its `wordfreq/data/*.msgpack.gz`
files, read by `curate/metadata_build/wordfreq.py`), for each language:

1. Its best list: `large_XX` if wordfreq has one (words down to frequency 1e-8), else
   `small_XX` (down to 1e-6).
2. The words of frequency >= {MIN_FREQUENCY:g} (Zipf 3: at least once per million words, the
   floor of wordfreq's small lists), most frequent first; within one frequency bucket
   (wordfreq rounds frequencies to 1%), alphabetical, as stored.
3. Removed: empty strings; single punctuation characters (Unicode P* or ASCII punctuation,
   as for the English default); strings with no visible character (only combining marks,
   format characters such as ZWNJ/ZWJ, or separators); wordfreq's multi-digit number
   *shapes* (`00`, `0000`, `0.0`, `00th`...): wordfreq replaces every digit of a digit run
   with `0` before counting, so these stand for whole classes of numbers, not strings;
   single kana (one Hiragana or Katakana character, `の に て は が を ー`...): a syllable,
   not a word. Japanese words of one kana are particles and auxiliaries, and with keys
   unpadded next to kana (ALGORITHM.md §6) such an entry matches its syllable inside any
   word, so nearly every Japanese text, naming no concept. Single kanji (`猫`, `山`) stay.
4. At most {MAX_WORDS:,} words per language, cut between frequency buckets: the bucket that
   would go over the cap is left out whole (cutting inside it would keep its a-words and
   drop its z-words).
5. Each word is followed by its capitalised form (first letter in title case: `haus` ->
   `Haus`, Turkish `istanbul` -> `İstanbul`) wherever that differs, i.e. for every word
   that starts with a lower-case letter of a cased script (Latin, Cyrillic, Greek,
   Armenian...; also the Latin words of the `ja`, `zh`, `ko` lists). wordfreq stores
   words case-folded and matching is case-sensitive (as MetaCLIP's), so without it German
   nouns and the first word of a caption in any cased language could never match.
   Uncased scripts (Arabic, Hebrew, Devanagari, Tamil, Hangul, CJK) gain nothing.
6. Then the strings "0" ... "99" (those not already in the list), as in MetaCLIP; each
   string is kept once, at its first place.
7. Greek (`el`) only: a word-final `σ` after a letter becomes `ς`. wordfreq case-folds,
   which turns final sigma into `σ`; real text (and matching) has `ς`.

English comes from the same rule, so this directory is self-consistent; it is *not* the
English default list (`../metadata_en.json.gz`, MetaCLIP's recipe from WordNet and
Wikipedia, see `../METADATA.md`).

## Language codes

File names are lower-case ISO 639 codes, the codes fastText lid.176 gives texts (so
`curate.core.lid.metadata_language` finds them). They are wordfreq's codes except:

- `fil` (Tagalog/Filipino in wordfreq) is written as `tl`, the code lid.176 gives Tagalog.
- `sh`: wordfreq has one Serbo-Croatian list and serves it for Bosnian, Croatian, Serbian
  and `sh` alike (its README, note [1]); it is written four times, as `bs`, `hr`, `sh` and
  `sr`, because lid.176 has a label for each of the four. wordfreq stores it in Latin script
  (Serbian Cyrillic is transliterated), so Cyrillic Serbian texts match little of `sr`.
- `nb` (Norwegian Bokmål) stays `nb`; lid.176 says `no`, which `curate.core.lid` maps to `nb`.

## Per language

Sources are the domains of wordfreq's README table ("Sources and supported languages"); the
licence notes are those of its "License" section that concern those sources (see
`{LICENSE_FILE}`). All lists are derived from wordfreq's data and are redistributed under
CC BY-SA 4.0.

| code | language (wordfreq) | wordfreq list | entries | sources | licence / attribution |
|---|---|---|---:|---|---|
{chr(10).join(rows)}

wordfreq's notes to its table, verbatim:

{footnotes(readme)}

## Known differences from real metadata

- **Lower case and capitalised only.** wordfreq case-folds every word (`Paris` -> `paris`,
  German `Straße` -> `strasse`); rule 5 restores the capitalised form, but not all-caps
  words (`NASA`), inner capitals (`iPhone`) or `ß` (`strasse` stays as wordfreq has it).
- **Single words only**: no bigrams and no titles (Meta CLIP 2 has both).
- **Chinese** is wordfreq's "Oversimplified Chinese": Traditional characters are stored as
  their Simplified equivalents, so Traditional-script texts match less.
- **Arabic-script and Hebrew lists** (`ar`, `fa`, `ur`, `he`) have their vowel marks
  removed, as wordfreq stores them; Korean and Japanese words are MeCab tokens, Chinese
  words Jieba tokens.
- Every list holds frequent words of *text* (subtitles, web, news, social media), not
  Wikipedia's vocabulary of things, so it holds more function words and fewer names.

## How it is built

    pip download wordfreq=={info['version']} --no-deps -d /tmp/wf
    python scripts/build_worldwide_metadata.py /tmp/wf/wordfreq-{info['version']}-py3-none-any.whl

(or the unpacked wheel's directory). The output is deterministic: a rebuild from the same
wheel is byte-identical, which `tests/test_wordfreq.py` checks.
"""


LICENSE_HEADER = """\
Licence of the word lists in this directory ({{lang}}.json.gz)
==============================================================

The lists are derived from the word-frequency data of wordfreq {version} (PyPI `wordfreq`,
Robyn Speer, https://github.com/rspeer/wordfreq). wordfreq's data may be redistributed
under the Creative Commons Attribution-ShareAlike 4.0 licence,
https://creativecommons.org/licenses/by-sa/4.0/ ; these derived lists are therefore
distributed under CC BY-SA 4.0 too. wordfreq's code is Apache-2.0; none of it is copied here.

Below, verbatim, are the "License" and "Citing wordfreq" sections of wordfreq {version}'s
README (its PyPI description), which name the sources and the conditions of their use.

-------------------------------------------------------------------------------

"""


def license_text(version: str, readme: str) -> str:
    return (LICENSE_HEADER.format(version=version) + "## License\n\n"
            + _section(readme, "License") + "\n\n## Citing wordfreq\n\n"
            + _section(readme, "Citing wordfreq") + "\n\n## Citations to work that wordfreq is "
            "built on\n\n" + _section(readme, "Citations to work that wordfreq is built on")
            + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="wordfreq wheel, or its unpacked directory")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT,
                        help="output directory (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        info = build(args.source, args.output)
    except (BuildError, OSError, ValueError) as exc:
        print(f"build_worldwide_metadata: {exc}", file=sys.stderr)
        return 2
    for code, n in info["entries"].items():
        print(f"{code:4s} {n:7,d}  {info['used'][code][1]}")
    print(f"wordfreq {info['version']}: {len(info['entries'])} languages, "
          f"{sum(info['entries'].values()):,} entries, {info['bytes']:,} bytes -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
