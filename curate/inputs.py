"""Turning what a user names (files, directories, globs) into the list of input files.

Only names are listed here, on the driver; no file is opened.
"""
from __future__ import annotations

import glob
import os
from importlib import resources

from curate.errors import UserError

ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".wat", ".wat.gz", ".arc", ".arc.gz")


def expand_inputs(names: list[str]) -> list[str]:
    """Sorted, de-duplicated absolute paths; a name that matches nothing is a user error."""
    paths: set[str] = set()
    for name in names:
        found = _expand_one(name)
        if not found:
            raise UserError(f"{name}: no such file, directory or matching WARC/WAT/ARC file")
        paths.update(os.path.abspath(p) for p in found)
    return sorted(paths)


def _expand_one(name: str) -> list[str]:
    if glob.has_magic(name):
        return [p for match in sorted(glob.glob(name, recursive=True))
                for p in _expand_one(match)]
    if os.path.isdir(name):
        return [os.path.join(root, f) for root, _dirs, files in os.walk(name)
                for f in sorted(files) if f.endswith(ARCHIVE_SUFFIXES)]
    if os.path.isfile(name):
        return [name]   # a file named explicitly is read whatever its suffix
    return []


def bundled_sample() -> list[str]:
    """The genuine CommonCrawl CC-MAIN-2014-35 WARC and WAT shipped with the package."""
    sample = resources.files("curate.data").joinpath("sample")
    return sorted(str(p) for p in sample.iterdir() if p.name.endswith((".warc", ".wat")))
