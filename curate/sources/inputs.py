"""Turning what a user names into the list of input files, on the driver.

Names are local files, directories and globs, `s3://` keys and prefixes, `http(s)://` URLs,
and CommonCrawl listings (`warc.paths.gz`, `wat.paths.gz`). Only names and listings are
read here; no archive is opened.
"""
from __future__ import annotations

import fnmatch
import glob
import os
from typing import TYPE_CHECKING
from importlib import resources

from curate.errors import UserError
from curate.sources.local import file_kind, listed_name
from curate.sources.s3 import set_s3_endpoint
from curate.sources.streams import ARCHIVE_SUFFIXES, InputUnavailable, is_remote, list_inputs

if TYPE_CHECKING:
    from curate.options import ExtractOptions


def resolve_inputs(names: list[str], options: ExtractOptions) -> list[str]:
    """Input files in listing order, de-duplicated, then sampled (options.sample_fraction,
    options.seed) and limited (options.limit); listing keys joined to
    options.input_base_url; s3:// names listed at options.s3_endpoint_url. Local paths
    come as sources.local.listed_name gives them (a file:// URI for a path that is not
    UTF-8 or holds a control character)."""
    from curate.sources import listing

    set_s3_endpoint(options.s3_endpoint_url)
    found: dict[str, None] = {}
    for name in names:
        try:
            if listing.is_listing(name):
                paths = listing.read_listing(name, options.input_base_url)
            elif is_remote(name):
                paths = list_inputs(name)
            else:
                paths = _expand_local(name)
        except InputUnavailable as e:
            raise UserError(f"{name}: {e.reason}") from None
        if not paths:
            raise UserError(f"{name}: no such file, directory or matching WARC/WAT/ARC file")
        found.update(dict.fromkeys(paths))
    return listing.select(list(found), limit=options.limit,
                          sample_fraction=options.sample_fraction, seed=options.seed)


def _expand_local(name: str) -> list[str]:
    """The files a local name stands for. A file found in a directory or by a glob that is
    not a regular file (a FIFO named .warc.gz) is listed, and its task records it as an
    error without opening it for reading (open_local); one named explicitly is a user
    error. Directory symlinks are not descended (os.walk's default, and `**` here), so a
    symlink loop ends; a file reached twice through a symlinked directory is listed once,
    by its shortest name."""
    return [listed_name(p) for p in _unique_files(_expand(name))]


def _expand(name: str, named: bool = True) -> list[str]:
    if glob.has_magic(name):
        return sorted({os.path.abspath(p) for match in sorted(_glob(name))
                       for p in _expand(match, named=False)})
    if os.path.isdir(name):
        return sorted(os.path.abspath(os.path.join(root, f))
                      for root, _dirs, files in os.walk(name)
                      for f in files if f.endswith(ARCHIVE_SUFFIXES))
    if os.path.isfile(name):
        return [os.path.abspath(name)]   # a file named explicitly is read whatever its suffix
    try:
        kind = file_kind(os.stat(name).st_mode)
    except OSError:
        return []
    if not named:
        return [os.path.abspath(name)]   # found by a glob: its task records it
    raise UserError(f"{listed_name(name)}: not a regular file ({kind}): name a WARC, WAT or "
                    f"ARC file or a directory of them")


def _unique_files(paths: list[str]) -> list[str]:
    """paths, each real file once (by its shortest name, then the first), in order."""
    chosen: dict[str, str] = {}
    for path in sorted(paths, key=lambda p: (len(p), p)):
        chosen.setdefault(os.path.realpath(path), path)
    kept = set(chosen.values())
    return [p for p in paths if p in kept]


def _glob(pattern: str) -> list[str]:
    """glob.glob(pattern, recursive=True), but `**` descends real directories only: glob's
    follows directory symlinks, so through a symlink loop it does not end."""
    if "**" not in pattern:
        return glob.glob(pattern)   # one directory level per component: it ends
    parts = pattern.split(os.sep)
    first = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    top, rest = os.sep.join(parts[:first]) or ("/" if pattern.startswith(os.sep) else "."), \
        parts[first:]
    roots = [top] if first == 0 or not glob.has_magic(top) else glob.glob(top)
    found = []
    for root in roots:
        for directory, dirs, files in os.walk(root):
            relative = os.path.relpath(directory, root)
            below = [] if relative == "." else relative.split(os.sep)
            found.extend(os.path.join(directory, entry) for entry in dirs + files
                         if _matches(below + [entry], rest))
            if _matches(below, rest):
                found.append(directory)
    return sorted({p[2:] if p.startswith("./") and not pattern.startswith("./") else p
                   for p in found})


def _matches(parts: list[str], patterns: list[str]) -> bool:
    """Whether path components match pattern components as glob's do (`**`: any number of
    directories; names starting with a dot only by a pattern that does)."""
    if not patterns:
        return not parts
    head = patterns[0]
    if head == "**":
        return any(_matches(parts[i:], patterns[1:]) for i in range(len(parts) + 1)
                   if not any(p.startswith(".") for p in parts[:i]))
    if not parts or (parts[0].startswith(".") and not head.startswith(".")):
        return False
    return fnmatch.fnmatchcase(parts[0], head) and _matches(parts[1:], patterns[1:])


def bundled_sample() -> list[str]:
    """The genuine CommonCrawl CC-MAIN-2014-35 WARC and WAT shipped with the package."""
    sample = resources.files("curate.data").joinpath("sample")
    return sorted(str(p) for p in sample.iterdir() if p.name.endswith((".warc", ".wat")))
