"""Metadata: the ordered list of strings substring matching runs against (ALGORITHM.md §3).

An entry's id is its position in the list, so entries are kept exactly as given, duplicates
included. Two file formats are read, told apart by content rather than by extension:

* a JSON list of strings (MetaCLIP's ``metadata.json``): the first non-space character is ``[``;
* UTF-8 text, one entry per line: only the line ending (``\\n`` or ``\\r\\n``) is removed,
  nothing else is stripped, and the only line skipped is the empty one after a final newline.

Either may be gzip-compressed (detected by the gzip magic bytes). The fingerprint hashes the
canonical JSON of the entries, so the same list has the same fingerprint in any format.

Spark workers rebuild a :class:`Metadata` from a broadcast of the raw bytes with
:func:`metadata_from_bytes`; the driver gets those bytes from :func:`read_metadata_bytes`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import zlib
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from curate.errors import UserError

if TYPE_CHECKING:  # importlib.resources.abc is 3.11+; the annotation is only a string
    from importlib.resources.abc import Traversable

__all__ = [
    "Metadata",
    "MetadataSet",
    "load_metadata_set",
    "metadata_set_from_bytes",
    "read_metadata_set_bytes",
    "default_metadata_path",
    "load_metadata",
    "metadata_from_bytes",
    "read_metadata_bytes",
]

DEFAULT_SOURCE = "default"
_DEFAULT_FILE = "metadata_en.json.gz"
_GZIP_MAGIC = b"\x1f\x8b"
_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, repr=False)
class Metadata:
    entries: tuple[str, ...]  # entry id = position
    lang: str  # "en" by default
    fingerprint: str  # sha256 hex of the canonical JSON of the entries list
    source: str  # the path it was read from, or "default"

    def __repr__(self) -> str:  # the entries can be 500k strings: never print them all
        return (
            f"Metadata(entries=<{len(self.entries)} entries>, lang={self.lang!r}, "
            f"fingerprint={self.fingerprint[:16]!r}..., source={self.source!r})"
        )


@dataclass(frozen=True, repr=False)
class MetadataSet:
    """The lists matching runs against: one per language (ALGORITHM.md §6), entry ids per
    list. A file gives one list (its language: `lang`, English by default); a directory
    gives one list per `{lang}.json` / `{lang}.txt` file in it (optionally `.gz`)."""
    lists: dict[str, Metadata]   # by language code, sorted
    fingerprint: str   # sha256 of the languages and their lists' fingerprints
    source: str
    worldwide: bool   # read from a directory of per-language lists

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.lists)

    def details(self) -> dict:
        """What stage reports record of it: outputs holding entry ids carry this."""
        return {"source": self.source, "fingerprint": self.fingerprint,
                "worldwide": self.worldwide,
                "entries": sum(len(m.entries) for m in self.lists.values()),
                "languages": {lang: {"entries": len(m.entries), "fingerprint": m.fingerprint}
                              for lang, m in self.lists.items()}}

    def __repr__(self) -> str:
        return (f"MetadataSet({', '.join(f'{k}: {len(v.entries)}' for k, v in self.lists.items())}"
                f", fingerprint={self.fingerprint[:16]!r}..., source={self.source!r})")


# `de.json`, `zh.txt.gz`, `pt-br.json`: a language code, then the format.
_LANG_FILE = re.compile(r"([a-z]{2,3}(?:[-_][a-z0-9]+)?)\.(?:json|txt)(?:\.gz)?")


def set_fingerprint(fingerprints: dict[str, str]) -> str:
    canonical = json.dumps(dict(sorted(fingerprints.items())), separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def read_metadata_set_bytes(path: str | os.PathLike | None, lang: str = "en"
                            ) -> dict[str, bytes]:
    """{language: raw list bytes} of a metadata file (one language: `lang`) or directory."""
    if path is not None and os.path.isdir(path):
        found: dict[str, str] = {}
        for name in sorted(os.listdir(path)):
            match = _LANG_FILE.fullmatch(name)
            if match:
                code = match.group(1).replace("_", "-")
                if code in found:
                    raise UserError(f"metadata directory {os.fspath(path)} has two lists for "
                                    f"{code}: {found[code]} and {name}")
                found[code] = name
        if not found:
            raise UserError(f"metadata directory {os.fspath(path)} holds no {{lang}}.json or "
                            "{lang}.txt list (e.g. en.json, de.json, zh.json)")
        return {code: read_metadata_bytes(os.path.join(path, name))
                for code, name in found.items()}
    return {lang: read_metadata_bytes(path)}


def metadata_set_from_bytes(raw: dict[str, bytes], source: str, worldwide: bool) -> MetadataSet:
    lists = {code: metadata_from_bytes(data, f"{source} [{code}]" if worldwide else source, code)
             for code, data in sorted(raw.items())}
    fingerprint = set_fingerprint({code: m.fingerprint for code, m in lists.items()})
    return MetadataSet(lists, fingerprint, source, worldwide)


def metadata_source(path: str | os.PathLike | None) -> tuple[str, bool]:
    """(the source a MetadataSet records, whether it is a directory of per-language lists)."""
    if path is None:
        return DEFAULT_SOURCE, False
    return os.fspath(path), os.path.isdir(path)


def load_metadata_set(path: str | os.PathLike | None = None, lang: str = "en") -> MetadataSet:
    """The metadata of a file or a directory of per-language lists (None: the packaged
    default English list). Any problem raises UserError naming the path. Parsed once per
    process while the files stay as they are (a 500k-entry list takes a second to parse,
    and a run checks the options, matches and counts with the same one)."""
    key = (None if path is None else os.path.abspath(path), lang, _file_signature(path))
    if key not in _LOADED:
        _LOADED.clear()   # one set at a time: lists are tens of MB
        _LOADED[key] = metadata_set_from_bytes(read_metadata_set_bytes(path, lang),
                                               *metadata_source(path))
    return _LOADED[key]


_LOADED: dict[tuple, MetadataSet] = {}


def _file_signature(path) -> tuple:
    """What changes when a metadata file or directory does (names, sizes, times)."""
    if path is None:
        return ()
    try:
        if os.path.isdir(path):
            return tuple((entry.name, entry.stat().st_size, entry.stat().st_mtime_ns)
                         for entry in sorted(os.scandir(path), key=lambda e: e.name))
        stat = os.stat(path)
        return (stat.st_size, stat.st_mtime_ns)
    except OSError:
        return ("unreadable",)   # read_metadata_set_bytes says why


def default_metadata_path() -> Traversable:
    """The packaged default English metadata (a gzipped JSON list).

    A :class:`importlib.resources.abc.Traversable`: a real path in a source tree or an
    installed package, an entry inside the archive when imported from a wheel or zip.
    Read it with ``.read_bytes()`` (or :func:`read_metadata_bytes`), not ``open()``.
    """
    return resources.files("curate") / "data" / _DEFAULT_FILE


def default_worldwide_dir() -> str:
    """The packaged worldwide directory (wordfreq-based lists of 45 languages, see its
    README.md), the metadata of `--languages all` when none is given."""
    return str(resources.files("curate") / "data" / "metadata_worldwide")


def fingerprint_entries(entries) -> str:
    """sha256 hex of the canonical JSON (UTF-8, compact, non-ASCII kept) of the entries list."""
    canonical = json.dumps(list(entries), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def read_metadata_bytes(path: str | os.PathLike | None) -> bytes:
    """Raw bytes of a metadata file, gunzipped if gzip-compressed; the default if ``path`` is None."""
    if path is None:
        resource = default_metadata_path()
        name = str(resource)
        try:
            data = resource.read_bytes()
        except (OSError, KeyError) as exc:  # KeyError: missing member of a zip import
            raise UserError(
                f"default metadata {name} cannot be read ({_reason(exc)}); "
                "rebuild it with scripts/build_default_metadata.py"
            ) from None
    else:
        name = os.fspath(path)
        try:
            with open(name, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise UserError(f"metadata file not found: {name}") from None
        except IsADirectoryError:
            raise UserError(f"metadata path is a directory, not a file: {name}") from None
        except OSError as exc:
            raise UserError(f"cannot read metadata file {name}: {_reason(exc)}") from None
    return _maybe_gunzip(data, name)


def metadata_from_bytes(data: bytes, name: str, lang: str = "en", *,
                        allow_blank: bool = False) -> Metadata:
    """Parse metadata from raw (already gunzipped) bytes; ``name`` is used in errors and as source.

    An empty or whitespace-only entry is a UserError naming the line or item: padded by
    spaces it matches nearly every text (v1's key of "" is two spaces, which spacing puts
    around every comma). ``allow_blank`` reads such a list anyway (`metadata stats` shows
    what a list holds)."""
    name = os.fspath(name)
    data = _maybe_gunzip(data, name)  # harmless on plain bytes; accepts a broadcast of the file
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"metadata file {name} is not UTF-8 text (invalid byte at offset {exc.start})"
        ) from None

    first = text.lstrip()[:1]
    is_json = first == "["
    if is_json:
        entries = _parse_json(text, name)
    else:
        if first == "{":
            _reject_json_object(text, name)
        entries = _parse_lines(text)

    if not entries:
        raise UserError(f"metadata file {name} holds no entries")
    if not allow_blank:
        _reject_blank(entries, name, is_json)
    try:
        fingerprint = fingerprint_entries(entries)
    except UnicodeEncodeError:
        bad = next(i for i, e in enumerate(entries) if not _encodable(e))
        raise UserError(
            f"metadata file {name}: entry {bad} is not valid Unicode (lone surrogate escape)"
        ) from None
    return Metadata(entries=tuple(entries), lang=lang, fingerprint=fingerprint, source=name)


def load_metadata(path: str | os.PathLike | None = None, lang: str = "en") -> Metadata:
    """Load metadata from ``path`` (JSON list or one entry per line, optionally gzipped).

    ``path=None`` loads the packaged default English list; its source is ``"default"``.
    Any problem with the file raises :class:`~curate.errors.UserError` naming the path.
    """
    data = read_metadata_bytes(path)
    if path is None:
        # Errors name the resource; the recorded source is the stable word "default".
        meta = metadata_from_bytes(data, str(default_metadata_path()), lang)
        return Metadata(meta.entries, meta.lang, meta.fingerprint, DEFAULT_SOURCE)
    return metadata_from_bytes(data, os.fspath(path), lang)


def _parse_json(text: str, name: str) -> list[str]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"metadata file {name} starts with '[' but is not valid JSON: "
            f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(value, list):
        raise UserError(f"metadata file {name} is JSON but not a list of strings")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise UserError(
                f"metadata file {name} is JSON but not a list of strings: "
                f"item {i} is {type(item).__name__} {_short(item)}"
            )
    return value


def _reject_blank(entries: list[str], name: str, is_json: bool) -> None:
    """A UserError at the first empty or whitespace-only entry (and how many there are)."""
    blank = [i for i, entry in enumerate(entries) if not entry.strip()]
    if not blank:
        return
    where = f"item {blank[0]} (entry id {blank[0]})" if is_json else \
        f"line {blank[0] + 1} (entry id {blank[0]})"
    what = "empty" if not entries[blank[0]] else "only whitespace"
    more = f" (and {len(blank) - 1} more)" if len(blank) > 1 else ""
    raise UserError(f"metadata file {name}: {where} is {what}{more}; such an entry matches "
                    "nearly every text, remove it")


def _reject_json_object(text: str, name: str) -> None:
    """A whole file that parses as a JSON object (e.g. {word: count}) is a wrong file, not
    one text entry; a text file whose first entry merely starts with '{' reads as text."""
    try:
        value = json.loads(text)
    except ValueError:
        return
    if isinstance(value, dict):
        raise UserError(
            f"metadata file {name} is a JSON object, not a list of strings "
            "(metadata is a JSON list or one entry per line)"
        )


def _parse_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the empty "line" after the final newline (or an empty file)
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _maybe_gunzip(data: bytes, name: str) -> bytes:
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise UserError(f"metadata file {name} is a corrupt gzip file: {_reason(exc)}") from None


def _encodable(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _short(value) -> str:
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 40 else text[:37] + "..."


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
