"""`curate metadata stats FILE|DIR`: what a metadata list or directory of lists holds.

FILE is any list curate.core.metadata reads (MetaCLIP's ``metadata.json``, a text file, either
gzipped); DIR is a build output (``metadata.json``) or a directory of ``{lang}.json`` lists.
Per language: entries, fingerprint, entries per source (when an ``entries.parquet`` of a
build describes exactly this list; else unknown), the duplicates (a string at more than one
id), the empty and single-punctuation strings, and the longest entries.
"""
from __future__ import annotations

import os
from collections import Counter, defaultdict
from pathlib import Path

from curate.core.metadata_build.assemble import SOURCE_TAGS, is_dropped

__all__ = ["metadata_stats", "list_stats", "format_stats"]


def list_stats(entries, top: int = 10, rows=None) -> dict:
    """Statistics of one list; `rows` are its (entry_id, entry, source) rows, if known."""
    from curate.core.metadata import fingerprint_entries

    ids = defaultdict(list)
    for i, e in enumerate(entries):
        ids[e].append(i)
    duplicates = [(e, where) for e, where in ids.items() if len(where) > 1]
    duplicates.sort(key=lambda d: d[1][0])
    bad = Counter(r for e in entries if (r := is_dropped(e)))
    longest = sorted(range(len(entries)), key=lambda i: (-len(entries[i]), i))[:top]
    sources = None
    if rows is not None and [r[1] for r in rows] == list(entries) \
            and [r[0] for r in rows] == list(range(len(entries))):
        counts = Counter(r[2] for r in rows)
        sources = {tag: counts[tag] for tag in [*SOURCE_TAGS, *sorted(counts)]
                   if counts[tag]}
    return {
        "entries": len(entries),
        "fingerprint": fingerprint_entries(entries),
        "sources": sources,
        "duplicates": sum(len(where) - 1 for _, where in duplicates),
        "duplicate_examples": [{"entry": e, "ids": where[:10]} for e, where in duplicates[:top]],
        "empty_or_punctuation": dict(sorted(bad.items())),
        "longest": [{"id": i, "length": len(entries[i]), "entry": entries[i]} for i in longest],
    }


def metadata_stats(path: str, lang: str | None = None, top: int = 10) -> dict:
    """Statistics of a metadata file or directory; UserError for what cannot be read."""
    from curate.options import load_settings
    from curate.core.metadata import metadata_from_bytes, read_metadata_bytes, read_metadata_set_bytes
    from curate.core.metadata_build.build import ENTRIES_PARQUET, LIST_FILE
    from curate.schemas import SUMMARY_FILE

    path = os.fspath(path)
    where = Path(path)
    if where.is_dir() and (where / LIST_FILE).is_file():
        directory, files = where, {lang or _built_lang(where / SUMMARY_FILE): where / LIST_FILE}
        raw = {code: read_metadata_bytes(f) for code, f in files.items()}
    elif where.is_dir():
        directory = where
        raw = read_metadata_set_bytes(path)
    else:
        directory = where.parent
        raw = {lang or load_settings()["lang"]: read_metadata_bytes(path)}
    rows_by_lang = _entry_rows(directory / ENTRIES_PARQUET)
    result = {"path": path, "languages": {}}
    for code, data in sorted(raw.items()):
        meta = metadata_from_bytes(data, path, code, allow_blank=True)   # it counts them
        result["languages"][code] = list_stats(meta.entries, top, rows_by_lang.get(code))
    return result


def _built_lang(summary: Path) -> str:
    """The language a build without --lang recorded, else the default one."""
    import json

    from curate.options import load_settings
    try:
        langs = json.loads(summary.read_text("utf-8"))["languages"]
        if len(langs) == 1:
            return next(iter(langs))
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        pass
    return load_settings()["lang"]


def _entry_rows(parquet: Path) -> dict[str, list]:
    from curate.core.metadata_build.files import read_entries

    if not parquet.is_file():
        return {}
    try:
        rows = read_entries(parquet)
    except Exception:   # a damaged or foreign file: sources are then unknown
        return {}
    by_lang = defaultdict(list)
    for lang, entry_id, entry, source, _ in rows:
        by_lang[lang].append((entry_id, entry, source))
    for lang_rows in by_lang.values():
        lang_rows.sort()
    return by_lang


def format_stats(stats: dict) -> str:
    """The text `curate metadata stats` prints."""
    lines = []
    for code, s in stats["languages"].items():
        lines.append(f"{code}: {s['entries']:,} entries, fingerprint {s['fingerprint'][:16]}")
        if s["sources"] is None:
            lines.append("  sources: unknown (no entries.parquet of a build for this list)")
        else:
            lines.append("  sources: " + ", ".join(
                f"{tag} {n:,}" for tag, n in s["sources"].items()))
        dup = s["duplicates"]
        lines.append(f"  duplicates: {dup:,}" + (" (" + "; ".join(
            f"{d['entry']!r} at {', '.join(map(str, d['ids']))}"
            for d in s["duplicate_examples"][:3]) + ")" if dup else ""))
        bad = s["empty_or_punctuation"]
        lines.append("  empty or single punctuation: " + (", ".join(
            f"{k} {v:,}" for k, v in bad.items()) or "none"))
        lines.append("  longest:")
        for item in s["longest"]:
            shown = item["entry"] if item["length"] <= 100 else item["entry"][:100] + "..."
            lines.append(f"    {item['length']:5d}  #{item['id']}  {shown!r}")
    return "\n".join(lines)
