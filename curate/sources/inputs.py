"""Turning what a user names into the list of input files, on the driver.

Names are local files, directories and globs, `s3://` keys and prefixes, `http(s)://` URLs,
and CommonCrawl listings (`warc.paths.gz`, `wat.paths.gz`). Only names and listings are
read here; no archive is opened.
"""
from __future__ import annotations

import glob
import os
from typing import TYPE_CHECKING
from importlib import resources

from curate.errors import UserError
from curate.sources.s3 import set_s3_endpoint
from curate.sources.streams import ARCHIVE_SUFFIXES, InputUnavailable, is_remote, list_inputs

if TYPE_CHECKING:
    from curate.options import ExtractOptions


def resolve_inputs(names: list[str], options: ExtractOptions) -> list[str]:
    """Input files in listing order, de-duplicated, then sampled (options.sample_fraction,
    options.seed) and limited (options.limit); listing keys joined to
    options.input_base_url; s3:// names listed at options.s3_endpoint_url."""
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
    if glob.has_magic(name):
        return sorted({os.path.abspath(p) for match in sorted(glob.glob(name, recursive=True))
                       for p in _expand_local(match)})
    if os.path.isdir(name):
        return sorted(os.path.abspath(os.path.join(root, f))
                      for root, _dirs, files in os.walk(name)
                      for f in files if f.endswith(ARCHIVE_SUFFIXES))
    if os.path.isfile(name):
        return [os.path.abspath(name)]   # a file named explicitly is read whatever its suffix
    return []


def bundled_sample() -> list[str]:
    """The genuine CommonCrawl CC-MAIN-2014-35 WARC and WAT shipped with the package."""
    sample = resources.files("curate.data").joinpath("sample")
    return sorted(str(p) for p in sample.iterdir() if p.name.endswith((".warc", ".wat")))
