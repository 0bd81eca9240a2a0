"""WordNet synset head lemmas (ALGORITHM.md §3: 86,654 strings in MetaCLIP's list).

Reads a WordNet 3.0 database directory in the Princeton layout (Debian's
``/usr/share/wordnet``: ``data.noun``, ``data.verb``, ``data.adj``, ``data.adv``). Each synset
line is ``offset lex_filenum ss_type w_cnt word lex_id ...``; its head lemma is the first
``word``, with ``_`` -> space and the adjective markers ``(a)``, ``(p)``, ``(ip)`` removed
(``used_to(p)`` -> ``used to``). The distinct lemmas are kept, case as written (matching is
case-sensitive, so ``Paris`` and ``paris`` are two entries): 87,379 from WordNet 3.0, within
1% of MetaCLIP's 86,654. Licence header lines (starting with two spaces) are skipped.
"""
from __future__ import annotations

import os
import re

from curate.errors import UserError

__all__ = ["DATA_FILES", "head_lemmas", "check_wordnet_dir"]

DATA_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
_ADJ_MARKER = re.compile(r"\((?:a|p|ip)\)$")


def check_wordnet_dir(directory: str) -> None:
    """UserError unless `directory` holds the four WordNet data files."""
    if not os.path.isdir(directory):
        raise UserError(f"--wordnet {directory}: no such directory")
    missing = [f for f in DATA_FILES if not os.path.isfile(os.path.join(directory, f))]
    if missing:
        raise UserError(f"--wordnet {directory}: not a WordNet database directory "
                        f"(no {', '.join(missing)})")


def head_lemmas(directory: str) -> list[str]:
    """The distinct synset head lemmas, sorted by code point."""
    check_wordnet_dir(directory)
    lemmas: set[str] = set()
    for name in DATA_FILES:
        path = os.path.join(directory, name)
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if line.startswith("  "):   # the licence header: "  1 This software ..."
                    continue
                fields = line.split(" ", 5)
                if len(fields) < 6 or not fields[0].isdigit():
                    raise UserError(f"{path}:{lineno}: not a WordNet synset line")
                lemmas.add(_ADJ_MARKER.sub("", fields[4]).replace("_", " "))
    return sorted(lemmas)
