"""How much real text the worldwide lists match, per language: two sets of lists side by
side (by default the shipped lists of git ref `main` and those of this working tree).

    .venv/bin/python bench/worldwide_match.py                   # before = git main
    .venv/bin/python bench/worldwide_match.py --before-ref HEAD~2
    .venv/bin/python bench/worldwide_match.py --before DIR --after DIR

Texts (real, read from ../shared/data, never copied): the image texts (alt, title,
data-image-title) that curate's extract core finds in every WARC/WAT/ARC of commoncrawl/ and
webarchives/ (the EUC-JP Japanese pages of clueweb-quirk.warc.gz among them) and in the 181
pages of html/html/, one per distinct (image, text) pair as dedup leaves them (a text on
several images counts for each, as the count stage counts it; `--rows`: every extracted
row, repeats included, the pool before dedup). No
package of the project's venv ships real multilingual prose, so there is no other source.
Each text's language is lid.176's (curate.core.lid), mapped to a list as the match stage
maps it; texts of a language without a list are left out.

Per language: the texts, then for each set of lists the share of texts with at least one
match and the mean matches (distinct entries) per text, under v2 keys and the default rules
(`algorithm`), and for the after-lists also under `--rules reference` (MetaCLIP's code).
English is also shown against the default English list with v1 keys (metaclip1). No
timing: a table of counts.
"""
from __future__ import annotations

import argparse
import gzip
import io
import subprocess
import sys
import tarfile
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from curate.core import lid  # noqa: E402
from curate.core.extract.html import parse_html  # noqa: E402
from curate.core.extract.records import FileReport, iter_file_pairs  # noqa: E402
from curate.core.matching import Matcher  # noqa: E402
from curate.core.metadata import (default_worldwide_dir, load_metadata,  # noqa: E402
                                  load_metadata_set)

DATA = REPO.parent / "shared" / "data"
LISTS = "curate/data/metadata_worldwide"
ATTRIBUTES = ("alt", "title", "data-image-title")


def real_texts(rows: bool = False) -> list[str]:
    """The text of every distinct (image, text) pair of the shared archives and pages (of
    every extracted row with `rows`)."""
    pairs: dict[tuple, None] = {}
    for folder in ("commoncrawl", "webarchives"):
        for path in sorted((DATA / folder).iterdir()):
            if not path.name.startswith("LICENSE"):
                pairs.update(dict.fromkeys(((path.name, n) if rows else row[0], row[2])
                                           for n, row in enumerate(
                                               iter_file_pairs(str(path), FileReport()))))
    for page in sorted((DATA / "html" / "html").glob("*.html.gz")):
        _base, images = parse_html(gzip.decompress(page.read_bytes()), None)
        for image in images:
            for attribute in ATTRIBUTES:
                text = image.get(attribute, "").replace("\n", " ").replace("\r", " ").strip()
                if text:
                    pairs[(f"{page.name} {image.get('src')}"
                           + (f" {attribute}" if rows else ""), text)] = None
    return [text for _image, text in pairs if text]


def lists_at(ref: str, out: Path) -> Path:
    """The shipped worldwide lists of git ref `ref`, unpacked under `out`."""
    target = out / f"worldwide-{ref.replace('/', '_').replace('~', '-')}"
    if not target.exists():
        data = subprocess.run(["git", "-C", str(REPO), "archive", ref, LISTS],
                              capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(target, filter="data")
    return target / LISTS


def by_language(texts: list[str], languages: set[str]) -> dict[str, list[str]]:
    distinct = list(dict.fromkeys(texts))
    code_of = dict(zip(distinct, lid.identify(distinct)))
    codes = [code_of[t] for t in texts]
    grouped: dict[str, list[str]] = defaultdict(list)
    for text, code in zip(texts, codes):
        lang = lid.metadata_language(code, languages)   # "other" when no list has it
        if lang in languages:
            grouped[lang].append(text)
    return {lang: grouped[lang] for lang in sorted(grouped, key=lambda k: (-len(grouped[k]), k))}


def measure(entries, version: str, texts: list[str]) -> tuple[float, float]:
    """(share of texts with a match, mean distinct matches per text)."""
    matcher = Matcher(entries, version)
    matches = {t: len(matcher.match(t)) for t in set(texts)}
    found = [matches[t] for t in texts]
    return sum(n > 0 for n in found) / len(texts), sum(found) / len(texts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, help="a directory of lists (else --before-ref)")
    parser.add_argument("--before-ref", default="main", help="git ref of the before-lists")
    parser.add_argument("--after", type=Path, default=Path(default_worldwide_dir()))
    parser.add_argument("--min-texts", type=int, default=1, help="languages with fewer "
                                                                  "texts are left out")
    parser.add_argument("--rows", action="store_true", help="every extracted row, repeats "
                                                            "included (the pool before dedup)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = parser.parse_args(argv)
    before = load_metadata_set(args.before or lists_at(args.before_ref, args.out))
    after = load_metadata_set(args.after)
    texts = real_texts(args.rows)
    grouped = by_language(texts, set(before.languages) | set(after.languages))
    unit = "extracted rows" if args.rows else "(image, text) pairs"
    print(f"{len(texts)} real {unit}; {sum(map(len, grouped.values()))} in a language "
          f"with a list; before: {before.source}, after: {after.source}")
    print("share = texts with a match; per text = mean distinct matches per text (all texts)")
    header = (f"{'lang':6} {'texts':>6} | {'before':>15} | {'after':>15} | "
              f"{'after, reference':>16}")
    print(header)
    print(f"{'':6} {'':>6} | {'share':>7} {'per text':>7} | {'share':>7} {'per text':>7} | "
          f"{'share':>7} {'per text':>8}")
    for lang, group in grouped.items():
        if len(group) < args.min_texts:
            continue
        cells = []
        for lists, version in ((before, "v2"), (after, "v2"), (after, "v2-reference")):
            if lang in lists.lists:
                share, per_text = measure(lists.lists[lang].entries, version, group)
                cells.append(f"{share:7.1%} {per_text:7.2f}")
            else:
                cells.append(f"{'-':>7} {'-':>7}")
        print(f"{lang:6} {len(group):6d} | {cells[0]} | {cells[1]} | {cells[2]} ")
    english = grouped.get("en", [])
    if english:
        share, per_text = measure(load_metadata(None).entries, "v1", english)
        print(f"{'en*':6} {len(english):6d} | {'':15} | {share:7.1%} {per_text:7.2f} |")
        print("en*: the same English texts against the default English list (metaclip1: "
              "265,748 entries, v1 keys)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
