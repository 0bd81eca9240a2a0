"""Match benchmark: curate's matcher beside MetaCLIP's per-text loop, and the Spark match
stage, per core, in one run.

    .venv/bin/python bench/match.py                 # --spark-rows 1200000
    .venv/bin/python bench/match.py --skip-spark    # only the in-process part
    .venv/bin/python bench/match.py --skip-spark --repeat 3 --profile   # best of 3, per part

Metadata: a 500,000-entry English list built from the registry sources in ../shared/data
(cached as --out/match/metadata.json, rebuilt when missing): every lemma of every WordNet 3.0
synset (data.noun, data.verb, data.adj, data.adv; `_` -> space, adjective markers removed;
sorted), the wikiwords 2012 unigrams (by count descending), wordfreq's large_en words (in
frequency-bucket order), the Wikipedia vital-article titles (sorted), "0" ... "99", then word
bigrams of the vital-article summaries (by count descending, then string) until the list
holds 500,000 entries. Empty and single-punctuation strings are dropped; each string is kept
once, at its first source, so every key is distinct.

Texts (real, read from ../shared/data, never copied):
- image texts (alt, title, data-image-title) extracted with curate's extract core from every
  WARC/WAT in commoncrawl/ and webarchives/ and from bench/extract.py's WARC of the 181 real
  news pages x 7 copies (--out/extract/warc-7x, when it exists), in that order, with their
  natural repetition;
- the Conceptual Captions validation captions, deduplicated (first occurrence kept).

Lines, each timed in CPU seconds of this process (time.process_time), so rates are per core:
- (a) reference   MetaCLIP's substr_matching, written here as MetaCLIP's code has it: one
                  Python call per text, `spacing`, then `automaton.iter` over keys
                  " " + entry + " " (values (entry_id, key)), ids collected in a set;
- (b) curate      what a match task runs: curate.core.matching.match_batches over the texts
                  as one DEDUP-schema Arrow batch (--assume-lang en, v1 keys; each distinct
                  text matched once, all of them in one BatchMatcher.match_many call; the
                  batch is built outside the timed region).
A pass is one run over a whole text list; a list shorter than 100,000 texts is timed over
ceil(100,000 / len) passes, (a) and (b) alternating pass by pass, each pass a fresh call, so
no pass sees repetition the list itself does not hold.
- (c) the Spark match stage, curate.api.match(..., MatchOptions(..., languages="en",
  assume_lang="en", spacing="v1")) on local[1], over two DEDUP-schema Parquet inputs of >= --spark-rows rows:
  'pipeline' (the extracted rows deduplicated by (image_uuid, text) as the dedup stage would,
  then the captions) and 'as-occur' (the texts exactly as (a) and (b) see them), each written
  in whole copies (a repeated (url, text) gets `#copy-k[-dup-n]` appended to its URL, so every
  (image_uuid, text) is distinct). Runs on one SparkSession: cold on 'pipeline' (the Python
  worker parses the metadata and builds its automaton), then warm on both (the worker reuses
  them). Rows/s per core = rows / wall seconds with one task slot, compared with (b) over the
  same rows in the batches the stage hands to Python (spark.sql.execution.arrow.
  maxRecordsPerBatch rows per match_batches call). Beside it, the Python worker's CPU seconds
  (ru_utime + ru_stime, read inside the worker by a one-row probe job before and after each
  run) and the JVM's (/proc/<pid>/stat), and three floors: Parquet read + write unchanged;
  the same with an identity mapInArrow in between; and that persisted DISK_ONLY and scanned
  once more (a second pass over the rows, which the stage does not make).
- (d) the peak RSS of that Python worker (ru_maxrss and VmHWM), read by the same probe job,
  which also checks that it runs in the worker holding the automaton.
- LID: curate.core.lid.identify over the image texts and captions, when curate.core.lid exists.
"""
from __future__ import annotations

import argparse
import collections
import csv
import gc
import gzip
import hashlib
import importlib.util
import json
import math
import os
import re
import shutil
import string
import sys
import time
import unicodedata
from pathlib import Path

import ahocorasick

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CAPTIONS = DATA / "captions" / "Validation_GCC-1.1.0-Validation.tsv"
METADATA_SIZE = 500_000
MIN_TIMED_TEXTS = 100_000

TARGETS = {
    "alt": 1.5,        # (b) / (a) on the real image texts, at least
    "captions": 1.0,   # (b) / (a) on the unique captions, at least
    "spark": 0.75,     # (c) / (b) per core, at least
    "rss_bytes": 1e9,  # (d) at most
}


# --- metadata ------------------------------------------------------------------------------

def msgpack_unpack(data: bytes):
    """The msgpack subset wordfreq's files use: arrays, maps, strings, small ints."""
    pos = 0

    def length(width: int) -> int:
        nonlocal pos
        n = int.from_bytes(data[pos:pos + width], "big")
        pos += width
        return n

    def text(n: int) -> str:
        nonlocal pos
        s = data[pos:pos + n].decode("utf-8")
        pos += n
        return s

    def read():
        nonlocal pos
        tag = data[pos]
        pos += 1
        if tag <= 0x7F:
            return tag
        if 0x80 <= tag <= 0x8F:
            return {read(): read() for _ in range(tag & 0x0F)}
        if 0x90 <= tag <= 0x9F:
            return [read() for _ in range(tag & 0x0F)]
        if 0xA0 <= tag <= 0xBF:
            return text(tag & 0x1F)
        if tag in (0xD9, 0xDA, 0xDB):
            return text(length({0xD9: 1, 0xDA: 2, 0xDB: 4}[tag]))
        if tag in (0xDC, 0xDD):
            return [read() for _ in range(length(2 if tag == 0xDC else 4))]
        if tag in (0xDE, 0xDF):
            return {read(): read() for _ in range(length(2 if tag == 0xDE else 4))}
        if tag in (0xCC, 0xCD, 0xCE):
            return length({0xCC: 1, 0xCD: 2, 0xCE: 4}[tag])
        raise ValueError(f"msgpack tag {tag:#x} at byte {pos - 1} not supported")

    value = read()
    if pos != len(data):
        raise ValueError(f"msgpack: {len(data) - pos} trailing bytes")
    return value


def wordnet_lemmas() -> list[str]:
    """Every lemma of every synset of the four WordNet data files, distinct, sorted."""
    marker = re.compile(r"\((?:a|p|ip)\)$")
    lemmas: set[str] = set()
    for name in ("data.noun", "data.verb", "data.adj", "data.adv"):
        with open(DATA / "wordnet" / name, encoding="utf-8") as f:
            for line in f:
                if line.startswith("  "):   # licence header
                    continue
                fields = line.split(" ")
                for i in range(int(fields[3], 16)):   # w_cnt is hexadecimal
                    lemmas.add(marker.sub("", fields[4 + 2 * i]).replace("_", " "))
    return sorted(lemmas)


def summary_bigrams() -> list[str]:
    """Adjacent word pairs of the vital-article summaries, not across punctuation, by
    count descending, then string."""
    with open(DATA / "wiki" / "summaries_en-us.json", encoding="utf-8") as f:
        summaries = json.load(f)
    counts: collections.Counter = collections.Counter()
    for key in sorted(summaries):
        for span in re.split(r"[^\w\s'\-]+", summaries[key].get("extract") or ""):
            words = span.split()
            counts.update(f"{a} {b}" for a, b in zip(words, words[1:]))
    return [b for b, _ in sorted(counts.items(), key=lambda bc: (-bc[1], bc[0]))]


def _dropped(s: str) -> bool:
    return s == "" or (len(s) == 1 and (unicodedata.category(s).startswith("P")
                                        or s in string.punctuation))


def build_metadata(path: Path) -> dict:
    with open(DATA / "wiki" / "wikiwords_enwiki2012_unigram_counts.json", encoding="utf-8") as f:
        unigram_counts = json.load(f)
    with gzip.open(DATA / "wiki" / "large_en.msgpack.gz") as f:
        buckets = msgpack_unpack(f.read())
    if not (isinstance(buckets[0], dict) and buckets[0].get("format") == "cB"):
        raise ValueError(f"large_en.msgpack.gz: unexpected header {buckets[0]!r}")
    with open(DATA / "wiki" / "titles_en-us.json", encoding="utf-8") as f:
        titles = sorted(json.load(f))
    sources = [
        ("WordNet 3.0, every lemma of every synset", wordnet_lemmas()),
        ("wikiwords enwiki 2012 unigrams", [w for w, _ in sorted(unigram_counts.items(),
                                                                 key=lambda wc: (-wc[1], wc[0]))]),
        ("wordfreq large_en words", [w for bucket in buckets[1:] for w in bucket]),
        ("Wikipedia vital-article titles", titles),
        ('numbers "0" ... "99"', [str(i) for i in range(100)]),
        ("bigrams of the vital-article summaries", summary_bigrams()),
    ]
    seen: set[str] = set()
    entries: list[str] = []
    composition = []
    for name, items in sources:
        kept = 0
        for s in items:
            if len(entries) == METADATA_SIZE:
                break
            if _dropped(s) or s in seen:
                continue
            seen.add(s)
            entries.append(s)
            kept += 1
        composition.append({"source": name, "strings": len(items), "kept": kept})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(entries, ensure_ascii=False, separators=(",", ":")), "utf-8")
    tmp.replace(path)
    info = {"entries": len(entries), "composition": composition,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    path.with_name("metadata.composition.json").write_text(json.dumps(info, indent=1), "utf-8")
    return info


def load_metadata(out: Path) -> tuple[Path, list[str], dict]:
    path = out / "metadata.json"
    info_path = out / "metadata.composition.json"
    if not (path.exists() and info_path.exists()):
        started = time.monotonic()
        build_metadata(path)
        print(f"metadata built in {time.monotonic() - started:.1f} s -> {path}")
    info = json.loads(info_path.read_text("utf-8"))
    entries = json.loads(path.read_text("utf-8"))
    if len(entries) != info["entries"] or len(set(entries)) != len(entries):
        raise SystemExit(f"{path}: damaged cache (delete it to rebuild)")
    return path, entries, info


# --- texts ---------------------------------------------------------------------------------

def extract_texts(extract_dir: Path) -> tuple[list[tuple], dict[str, list[tuple]]]:
    """PAIRS rows of every real WARC/WAT, by group: "real" (commoncrawl/, webarchives/)
    and "7x" (bench/extract.py's corpus)."""
    from curate.core.extract.records import FileReport, iter_file_pairs

    groups: dict[str, list[Path]] = {
        "real": (sorted((DATA / "commoncrawl").glob("*.warc*"))
                 + sorted((DATA / "webarchives").glob("*.warc*"))),
        "7x": sorted(extract_dir.glob("*.warc*")) if extract_dir.is_dir() else [],
    }
    rows: list[tuple] = []
    by_group: dict[str, list[tuple]] = {}
    for group, paths in groups.items():
        by_group[group] = []
        for p in paths:
            by_group[group].extend(iter_file_pairs(str(p), FileReport()))
        rows.extend(by_group[group])
    return rows, by_group


def read_captions() -> list[tuple[str, str]]:
    """(caption, image URL), first occurrence of each caption."""
    with open(CAPTIONS, encoding="utf-8", newline="") as f:
        seen: dict[str, str] = {}
        for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            seen.setdefault(row[0], row[1])
    return list(seen.items())


# --- (a) MetaCLIP's reference, as its code has it ------------------------------------------

spaced_metadata = None
automaton = None


def spacing(text):
    puncts_to_wrap = [",", ".", ";", ":", "?", "!", "`"]
    chars_to_space = ["\t", "\n", "\r"]

    spaced_text = f" {text} "
    for punct_to_wrap in puncts_to_wrap:
        spaced_text = spaced_text.replace(punct_to_wrap, f" {punct_to_wrap} ")
    for char_to_space in chars_to_space:
        spaced_text = spaced_text.replace(char_to_space, " ")
    return spaced_text


def initialize_automaton(metadata):
    automaton = ahocorasick.Automaton()
    for idx, key in enumerate(spaced_metadata):
        automaton.add_word(key, (idx, key))
    automaton.make_automaton()
    return automaton


def substr_matching(text, metadata):
    global spaced_metadata, automaton
    if spaced_metadata is None:
        spaced_metadata = [f" {entry} " for entry in metadata]
    text = spacing(text)
    if automaton is None:
        automaton = initialize_automaton(metadata)
    matched_entry_ids = set()
    for end_index, (entry_id, original_value) in automaton.iter(text):
        matched_entry_ids.add(entry_id)
    return list(matched_entry_ids)


def reference_pass(texts, metadata):
    return [substr_matching(text, metadata) for text in texts]


# --- in-process comparison -----------------------------------------------------------------

def cpu(fn, *args):
    started = time.process_time()
    result = fn(*args)
    return time.process_time() - started, result


def dedup_batch(texts: list[str]):
    """The texts as one DEDUP-schema Arrow batch, as the match stage's tasks receive them
    (built outside the timed region: the JVM builds them in the stage)."""
    import pyarrow as pa

    from curate import schemas

    n = len(texts)
    columns = {name: pa.nulls(n, field.type) for name, field in zip(schemas.DEDUP.names,
                                                                     schemas.DEDUP)}
    filler = pa.array(["x"] * n)
    columns.update(image_uuid=filler, url=filler, text=pa.array(texts), text_source=filler,
                   source_path=filler)
    return pa.RecordBatch.from_pydict(columns, schema=schemas.DEDUP)


def stage_core_pass(batch, metadata, plan) -> list:
    """(b): what a match task runs on its batch (core.matching.match_batches): each
    distinct text matched once, rows without a match dropped."""
    from collections import Counter

    from curate.core.matching import match_batches

    return list(match_batches(iter([batch]), metadata, plan, Counter()))


def compare(label: str, texts: list[str], entries: list[str], metadata, repeat: int = 1
            ) -> dict:
    """(a) and (b) over `texts`; with repeat > 1 the whole timing runs that many times and
    each side keeps its least CPU time (a shared machine only ever slows a run down)."""
    from curate.core.matching import MatchPlan

    plan = MatchPlan(frozenset({"en"}), "en", "v1")
    batch = dedup_batch(texts)
    passes = max(1, math.ceil(MIN_TIMED_TEXTS / len(texts)))
    ref_cpu = ours_cpu = math.inf
    for _ in range(repeat):
        ref_run = ours_run = 0.0
        for _ in range(passes):
            seconds, ref = cpu(reference_pass, texts, entries)
            ref_run += seconds
            seconds, ours = cpu(stage_core_pass, batch, metadata, plan)
            ours_run += seconds
        ref_cpu, ours_cpu = min(ref_cpu, ref_run), min(ours_cpu, ours_run)
    got = [(text, ids) for out in ours for text, ids in
           zip(out.column("text").to_pylist(), out.column("matched_entry_ids").to_pylist())]
    want = [(text, sorted(ids)) for text, ids in zip(texts, ref) if ids]
    assert got == want, f"(a) and (b) differ on {label}"
    timed = passes * len(texts)
    return {"label": label, "texts": len(texts), "distinct": len(set(texts)), "passes": passes,
            "a": timed / ref_cpu, "b": timed / ours_cpu, "ratio": ref_cpu / ours_cpu,
            "matched": len(want), "matches": sum(len(ids) for _, ids in want)}


def print_compare(rows: list[dict]) -> None:
    print(f"\n{'in process, 1 core (CPU s)':40s} {'texts':>7s} {'distinct':>8s} {'passes':>6s} "
          f"{'(a) texts/s':>11s} {'(b) texts/s':>11s} {'(b)/(a)':>8s}  matched  ids/matched")
    for r in rows:
        print(f"  {r['label']:38s} {r['texts']:7,d} {r['distinct']:8,d} {r['passes']:6d} "
              f"{r['a']:11,.0f} {r['b']:11,.0f} {r['ratio']:7.2f}x  "
              f"{r['matched'] / r['texts']:6.1%}"
              f"  {r['matches'] / max(1, r['matched']):.2f}")


def compare_batch(texts: list[str], entries: list[str], repeat: int) -> dict:
    """(b') curate.core.matching.BatchMatcher.match_many (v1, the whole list in one walk)
    beside (a), each side's best CPU time of `repeat` runs; the ids checked against (a)."""
    from curate.core.matching import BatchMatcher

    matcher = BatchMatcher(entries)
    ref_cpu, ref = best_cpu(repeat, reference_pass, texts, entries)
    ours_cpu, ours = best_cpu(repeat, matcher.match_many, texts)
    assert ours.to_pylist() == [sorted(ids) for ids in ref], "(a) and (b') differ"
    return {"ratio": ref_cpu / ours_cpu, "a": len(texts) / ref_cpu, "b": len(texts) / ours_cpu}


def best_cpu(repeat: int, fn, *args):
    """The least CPU seconds of `repeat` calls, and the last result."""
    best = math.inf
    for _ in range(repeat):
        gc.collect()
        seconds, result = cpu(fn, *args)
        best = min(best, seconds)
    return best, result


def profile_core(texts: list[str], metadata, repeat: int) -> None:
    """Where (b)'s time per text goes on `texts`: each part timed alone over the whole list
    (spacing; the stage's v1 matching, the worker's BatchMatcher.match_many over the
    texts; the rest of match_batches: dedup, outcomes, Arrow, which is match_batches less
    match_many), as shares of one match_batches call; alone, the parts need not sum to it
    exactly. For comparison, Matcher.match over the texts one by one (the v2 path)."""
    from curate.core.matching import (Matcher, MatchPlan, spacing as curate_spacing,
                                      worker_matcher)

    repeat = max(repeat, 5)   # short parts: noise on a shared machine needs more tries
    plan = MatchPlan(frozenset({"en"}), "en", "v1")
    batch = dedup_batch(texts)
    matcher = worker_matcher(metadata, "en", "v1")
    total, _ = best_cpu(repeat, stage_core_pass, batch, metadata, plan)
    matching, _ = best_cpu(repeat, matcher.match_many, texts)
    per_text = Matcher(metadata.lists["en"].entries, "v1")
    parts = {}
    parts["spacing"], _ = best_cpu(repeat, lambda: list(map(curate_spacing, texts)))
    parts["BatchMatcher.match_many (spacing included)"] = matching
    parts["rest of match_batches (dedup, outcomes, Arrow)"] = total - matching
    parts["info: Matcher.match text by text instead"], _ = best_cpu(
        repeat, lambda: list(map(per_text.match, texts)))
    print(f"\nprofile of (b) on {len(texts):,} texts, CPU s, each part alone, best of {repeat}: "
          f"match_batches {total * 1e3:.1f} ms ({total / len(texts) * 1e6:.2f} us/text)")
    for name, seconds in parts.items():
        print(f"  {name:48s} {seconds * 1e3:7.1f} ms {seconds / len(texts) * 1e6:6.2f} us/text "
              f"{seconds / total:6.1%}")


# --- Spark -----------------------------------------------------------------------------------

def spark_inputs(rows: list[tuple], captions: list[tuple[str, str]]) -> dict[str, list[tuple]]:
    """The two row sequences the stage runs over, each row (url, text, text_source,
    source_path): "pipeline", the extracted rows deduplicated by (image_uuid, text) as the
    dedup stage would, then the captions; "as-occur", the texts exactly as (a) and (b) see
    them (image texts with their natural repetition, then the unique captions)."""
    caption_rows = [(url, text, "alt", str(CAPTIONS)) for text, url in captions]
    seen: set[tuple[str, str]] = set()
    pipeline = []
    for row in rows:
        if (row[0], row[2]) not in seen:
            seen.add((row[0], row[2]))
            pipeline.append((row[1], row[2], row[3], row[5]))
    as_occur = [(row[1], row[2], row[3], row[5]) for row in rows]
    return {"pipeline": pipeline + caption_rows, "as-occur": as_occur + caption_rows}


def write_dedup_input(path: Path, base: list[tuple], copies: int) -> tuple[list[str], list[str]]:
    """`base` written `copies` times as one DEDUP-schema Parquet file; a (url, text) pair met
    again (a later copy, or a repeat inside `base`) gets `#copy-k` / `-dup-n` appended to its
    URL, so every (image_uuid, text) is distinct as after dedup. Returns (image_uuid, text)
    of each row, in order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate import schemas

    occurrences: collections.Counter = collections.Counter()
    urls, texts, sources, paths = [], [], [], []
    for copy in range(copies):
        occurrences.clear()
        for url, text, source, source_path in base:
            dup = occurrences[(url, text)]
            occurrences[(url, text)] += 1
            if copy or dup:
                url = f"{url}#copy-{copy}" + (f"-dup-{dup}" if dup else "")
            urls.append(url)
            texts.append(text)
            sources.append(source)
            paths.append(source_path)
    uuids = [hashlib.sha224(u.replace("\t", "").replace(" ", "").encode("utf-8")).hexdigest()[:24]
             for u in urls]
    assert len(set(zip(uuids, texts))) == len(texts), "input rows must be distinct (uuid, text)"
    columns = {f.name: pa.nulls(len(texts), f.type) for f in schemas.DEDUP}
    columns.update(image_uuid=pa.array(uuids, pa.string()), url=pa.array(urls, pa.string()),
                   text=pa.array(texts, pa.string()), text_source=pa.array(sources, pa.string()),
                   source_path=pa.array(paths, pa.string()))
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    pq.write_table(pa.table(columns, schema=schemas.DEDUP), path / "part-00000.parquet")
    return uuids, texts


def _probe_worker(batches):
    """Runs in a Python worker: its pid, CPU seconds, peak RSS, and the automata it holds."""
    import os
    import resource

    import pyarrow as pa

    for _ in batches:
        pass
    usage = resource.getrusage(resource.RUSAGE_SELF)
    status = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                status[key] = int(value.split()[0])
    try:
        from curate.core import matching
        matchers = len(matching._WORKER_MATCHERS)
    except Exception:   # the name may change: then "unknown"
        matchers = -1
    yield pa.RecordBatch.from_pydict({
        "pid": [os.getpid()], "cpu": [usage.ru_utime + usage.ru_stime],
        "maxrss_kb": [usage.ru_maxrss], "hwm_kb": [status.get("VmHWM", -1)],
        "rss_kb": [status.get("VmRSS", -1)], "matchers": [matchers]})


def probe(spark) -> dict:
    row = spark.range(1, numPartitions=1).mapInArrow(
        _probe_worker, "pid long, cpu double, maxrss_kb long, hwm_kb long, rss_kb long, "
                       "matchers long").collect()[0]
    return row.asDict()


def jvm_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _identity_batches(batches):
    yield from batches


def _persisted_floor(spark, source: str, out: str) -> None:
    """The match stage's shape without matching: mapInArrow output persisted on disk,
    written, then scanned once more (the stage collects its counters row that way)."""
    from pyspark import StorageLevel

    from curate import schemas

    stream = spark.read.parquet(source).mapInArrow(
        _identity_batches, schemas.spark_schema(schemas.DEDUP)).persist(StorageLevel.DISK_ONLY)
    try:
        stream.write.mode("overwrite").parquet(out)
        stream.where(stream.text.isNull()).select("text").collect()
    finally:
        stream.unpersist()


def bench_spark(out: Path, metadata_path: Path, matcher, rows: list[tuple],
                captions: list[tuple[str, str]], spark_rows: int) -> dict:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    work = out / "spark"   # inputs and outputs of this run only: removed at the end
    shutil.rmtree(work, ignore_errors=True)
    try:
        return _bench_spark(work, metadata_path, matcher, rows, captions, spark_rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _bench_spark(work: Path, metadata_path: Path, matcher, rows: list[tuple],
                 captions: list[tuple[str, str]], spark_rows: int) -> dict:
    import pyarrow.parquet as pq

    from curate import api, schemas
    from curate.options import MatchOptions
    from curate.core.metadata import load_metadata_set
    from curate.stages.session import get_spark

    inputs = {}
    print()
    for name, base in spark_inputs(rows, captions).items():
        copies = max(1, math.ceil(spark_rows / len(base)))
        uuids, texts = write_dedup_input(work / f"dedup-{name}", base, copies)
        inputs[name] = {"uuids": uuids, "texts": texts, "dir": work / f"dedup-{name}"}
        print(f"Spark input {name!r}: {len(texts):,} rows = {copies} copies x {len(base):,} "
              f"rows, {len(set(texts[:len(base)])) / len(base):.1%} distinct texts per copy")
    print(f"  'pipeline': the {len(rows):,} extracted rows deduplicated by (image_uuid, text) as "
          f"the dedup stage would, then the {len(captions):,} captions; 'as-occur': the texts as "
          f"(a) and (b) see them, then the captions. A (url, text) pair met again (later copy, or "
          f"a repeat) gets '#copy-k[-dup-n]' appended to its URL, so (image_uuid, text) stay "
          f"distinct; text_source and source_path are the real ones, the other columns null")

    spark = get_spark("local[1]")
    spark.range(1000).count()   # start the JVM before any clock runs
    jvm_pid = int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
    batch = int(spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch", "10000"))

    # (b) on the same rows, in the batches the stage hands to Python (ids per row by the
    # reference, for the parity check; the rate by the stage's core).
    from curate.core.matching import MatchPlan
    from curate.core.metadata import metadata_set_from_bytes
    from curate.core.reference import match_texts
    bench_metadata = metadata_set_from_bytes({"en": metadata_path.read_bytes()}, "bench", False)
    plan = MatchPlan(frozenset({"en"}), "en", "v1")
    for data in inputs.values():
        texts = data["texts"]
        batches = [dedup_batch(texts[start:start + batch])
                   for start in range(0, len(texts), batch)]
        gc.collect()
        started = time.process_time()
        for one in batches:
            stage_core_pass(one, bench_metadata, plan)
        data["b"] = len(texts) / (time.process_time() - started)
        data["expected"] = match_texts(matcher, texts)

    started = time.process_time()
    load_metadata_set(str(metadata_path))
    driver_load = time.process_time() - started

    print(f"Spark local[1] (one task slot; SPARK_LOCAL_IP={os.environ['SPARK_LOCAL_IP']}), "
          f"Arrow batch {batch:,} rows; api.match(dedup, out, MatchOptions(<bench metadata>, "
          f"languages='en', assume_lang='en', spacing='v1'), spark)")
    print(f"  driver: load_metadata_set of the bench metadata takes {driver_load:.2f} CPU s "
          f"(paid once per stage call, inside its wall time)")
    before = probe(spark)
    runs = {}
    for run_name, input_name in (("cold", "pipeline"), ("warm", "pipeline"), ("warm", "as-occur")):
        data = inputs[input_name]
        target = work / f"matched-{run_name}-{input_name}"
        jvm_before = jvm_cpu(jvm_pid)
        started = time.monotonic()
        try:
            report = api.match(str(data["dir"]), str(target), MatchOptions(
                str(metadata_path), languages="en", assume_lang="en", spacing="v1"), spark)
        except Exception as e:   # the stage is being changed: say exactly what failed
            print(f"  {run_name} run on {input_name!r} FAILED: {type(e).__name__}: {e}")
            return {"failed": f"{type(e).__name__}: {e}"}
        wall = time.monotonic() - started
        jvm_seconds = jvm_cpu(jvm_pid) - jvm_before
        after = probe(spark)
        run = {"wall": wall, "rows_in": report.rows_in, "jvm": jvm_seconds,
               "worker": after["cpu"] - before["cpu"], "probe": after, "input": input_name,
               "same_worker": after["pid"] == before["pid"], "b": data["b"]}
        before = after
        # Identity: every matched row has (b)'s ids, and every row (b) matches is there.
        key_ids = {(u, t): ids for u, t, ids in zip(data["uuids"], data["texts"],
                                                     data["expected"])}
        table = pq.read_table(target, columns=["image_uuid", "text", "matched_entry_ids"])
        got = table.to_pydict()
        run["mismatches"] = sum(1 for u, t, ids in zip(got["image_uuid"], got["text"],
                                                       got["matched_entry_ids"])
                                if key_ids.get((u, t)) != ids)
        run["rows_out"] = table.num_rows
        run["identical"] = (run["mismatches"] == 0 and
                            table.num_rows == sum(1 for ids in data["expected"] if ids))
        runs[(run_name, input_name)] = run

    print(f"  {'run':5s} {'input':9s} {'rows in':>9s} {'rows out':>9s} {'wall s':>7s} "
          f"{'rows/s/core':>11s} {'(b) rows/s':>10s} {'(c)/(b)':>7s} {'worker CPU s':>12s} "
          f"{'rows/worker-CPU-s':>17s} {'JVM CPU s':>9s}  ids vs (b)")
    for (run_name, input_name), run in runs.items():
        rows_in = run["rows_in"]
        rate = rows_in / run["wall"]
        print(f"  {run_name:5s} {input_name:9s} {rows_in:9,d} {run['rows_out']:9,d} "
              f"{run['wall']:7.2f} {rate:11,.0f} {run['b']:10,.0f} {rate / run['b']:6.0%} "
              f"{run['worker']:12.2f} {rows_in / run['worker']:17,.0f} {run['jvm']:9.2f}  "
              f"{'identical' if run['identical'] else 'DIFFERENT: %d rows' % run['mismatches']}"
              f"{'' if run['same_worker'] else ' (worker pid changed: CPU unknown)'}")
    print(f"  (b) rows/s: the stage's core (match_batches) in this process over the same rows, "
          f"one call per {batch:,}-row batch, CPU s. rows/s/core = rows / wall s (one task slot). "
          f"worker CPU = ru_utime + ru_stime of the reused Python worker, read inside it by a "
          f"one-row probe job before and after each run (the probe's own cost included); JVM "
          f"CPU from /proc/<pid>/stat of the driver JVM (= the executor in local mode)")

    # Floors on the 'pipeline' input: what any Spark stage over these rows pays.
    data = inputs["pipeline"]
    floors = [
        ("read + write Parquet unchanged",
         lambda: spark.read.parquet(str(data["dir"])).write.mode("overwrite")
         .parquet(str(work / "floor-copy"))),
        ("read + mapInArrow identity + write",
         lambda: spark.read.parquet(str(data["dir"])).mapInArrow(
             _identity_batches, schemas.spark_schema(schemas.DEDUP)).write.mode("overwrite")
         .parquet(str(work / "floor-arrow"))),
        ("the same, persisted DISK_ONLY, + 1 more scan",
         lambda: _persisted_floor(spark, str(data["dir"]), str(work / "floor-persist"))),
    ]
    warm = runs[("warm", "pipeline")]
    n = len(data["texts"])
    print(f"  {'floors on pipeline, local[1]':50s} {'wall s':>7s} {'rows/s/core':>11s} "
          f"{'JVM CPU s':>9s}")
    for label, job in floors:
        jvm_before = jvm_cpu(jvm_pid)
        started = time.monotonic()
        job()
        wall = time.monotonic() - started
        print(f"    {label:48s} {wall:7.2f} {n / wall:11,.0f} {jvm_cpu(jvm_pid) - jvm_before:9.2f}")
    print(f"    {'the warm match stage (above)':48s} {warm['wall']:7.2f} "
          f"{warm['rows_in'] / warm['wall']:11,.0f} {warm['jvm']:9.2f}")
    return {"runs": runs, "probe": runs[("warm", "as-occur")]["probe"],
            "identical": all(r["identical"] for r in runs.values())}


def bench_lid(texts: list[str]) -> None:
    if importlib.util.find_spec("curate.core.lid") is None:
        print("\nLID: curate.core.lid not available")
        return
    try:
        started = time.process_time()
        from curate.core import lid
        lid.identify(texts[:8])   # loads the model
        load = time.process_time() - started
        gc.collect()
        seconds, codes = cpu(lid.identify, texts)
    except Exception as e:
        print(f"\nLID: curate.core.lid.identify failed: {type(e).__name__}: {e}")
        return
    top = ", ".join(f"{c} {n / len(codes):.0%}"
                    for c, n in collections.Counter(codes).most_common(5))
    print(f"\nLID: curate.core.lid.identify on {len(texts):,} texts (image texts + captions): "
          f"{len(texts) / seconds:,.0f} texts/s/core (CPU s; import + first call with model load "
          f"{load:.2f} s not included); top codes: {top}")


# --- main ----------------------------------------------------------------------------------

def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> None:
    wall_started = time.monotonic()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--spark-rows", type=int, default=1_200_000,
                        help="rows of each Spark input, at least (whole copies)")
    parser.add_argument("--skip-spark", action="store_true")
    parser.add_argument("--repeat", type=int, default=1,
                        help="time the in-process lines this many times, keep each side's best")
    parser.add_argument("--profile", action="store_true",
                        help="print where (b)'s time per text goes on the unique captions")
    args = parser.parse_args()
    out = args.out / "match"

    metadata_path, entries, info = load_metadata(out)
    print(f"metadata: {len(entries):,} distinct English entries ({metadata_path}), in this "
          f"order (kept: not already given by an earlier source):")
    for part in info["composition"]:
        print(f"  {part['source']:45s} {part['strings']:9,d} strings, {part['kept']:9,d} kept")

    rows, by_group = extract_texts(args.out / "extract" / "warc-7x")
    texts = [row[2] for row in rows]
    real = [row[2] for row in by_group["real"]]
    corpus = [row[2] for row in by_group["7x"]]
    one_copy = [row[2] for row in by_group["7x"]   # bench/extract.py's copy 0: hosts c0.<host>
                if (row[4] or "").split("//", 1)[-1].startswith("c0.")]
    sources = collections.Counter(row[3] for row in rows)
    print(f"\nimage texts: {len(texts):,} ({', '.join(f'{k} {v:,}' for k, v in sources.items())}), "
          f"distinct/total {len(set(texts)) / len(texts):.1%}")
    print(f"  real files (commoncrawl/, webarchives/): {len(real):,} texts, distinct/total "
          f"{len(set(real)) / len(real):.1%}")
    if corpus:
        print(f"  bench/extract.py warc-7x: {len(corpus):,} texts, distinct/total "
              f"{len(set(corpus)) / len(corpus):.1%}; its 7 copies repeat each of the 181 real "
              f"pages 7 times, so part of this repetition is made by the corpus (one copy: "
              f"{len(one_copy):,} texts, distinct/total "
              f"{len(set(one_copy)) / max(1, len(one_copy)):.1%})")
    else:
        print("  bench/extract.py's warc-7x corpus is missing (run bench/extract.py to build it)")
    captions = read_captions()
    caption_texts = [c for c, _ in captions]
    print(f"captions: {len(caption_texts):,} unique")

    global spaced_metadata, automaton
    gc.collect()
    started = time.process_time()
    spaced_metadata = [f" {entry} " for entry in entries]
    automaton = initialize_automaton(entries)
    ref_build = time.process_time() - started
    from curate.core.matching import Matcher, MatchPlan
    gc.collect()
    ours_build, matcher = cpu(Matcher, entries, "v1")
    sizes = [automaton.get_stats().get("total_size", 0)]
    ours_automaton = getattr(matcher, "_automaton", None)
    sizes.append(ours_automaton.get_stats().get("total_size", 0) if ours_automaton else 0)
    print(f"\nautomaton build over {len(entries):,} keys (CPU s): (a) {ref_build:.2f} "
          f"({sizes[0] / 2**20:,.0f} MiB), (b) {ours_build:.2f} ({sizes[1] / 2**20:,.0f} MiB)")

    # (b) runs the stage's own core, whose worker-cached matcher is built here, untimed.
    from curate.core.metadata import metadata_set_from_bytes
    metadata = metadata_set_from_bytes({"en": json.dumps(entries).encode("utf-8")}, "bench",
                                       False)
    stage_core_pass(dedup_batch(["warm up"]), metadata, MatchPlan(frozenset({"en"}), "en", "v1"))
    gc.collect()
    results = [compare("real image texts, as they occur", texts, entries, metadata, args.repeat),
               compare("unique captions", caption_texts, entries, metadata, args.repeat)]
    info_rows = [compare("  info: real files only", real, entries, metadata, args.repeat)]
    if one_copy:
        info_rows.append(compare("  info: real files + one 181-page copy", real + one_copy,
                                 entries, metadata, args.repeat))
    print_compare(results + info_rows)
    cap = results[1]
    print(f"  distinct captions (after dedup, the common case), best of {args.repeat}: "
          f"(b)/(a) {cap['ratio']:.2f}x; rows/s per core (a) {cap['a']:,.0f}, (b) {cap['b']:,.0f}")
    batch = compare_batch(caption_texts, entries, max(args.repeat, 5))
    print(f"  (b') BatchMatcher.match_many alone (the stage's v1 matcher) on the distinct "
          f"captions, best of {max(args.repeat, 5)}: (b')/(a) {batch['ratio']:.2f}x; rows/s per core "
          f"(a) {batch['a']:,.0f}, (b') {batch['b']:,.0f}; identical ids (asserted)")
    if args.profile:
        profile_core(caption_texts, metadata, args.repeat)
    print("  (a) and (b): identical id sets on every text (asserted)")
    print(f"  a list shorter than {MIN_TIMED_TEXTS:,} texts is timed over `passes` passes, (a) "
          "and (b) alternating, each pass a fresh call over the list as it is (no replication "
          "inside a pass)")

    spark = None
    if not args.skip_spark:
        spark = bench_spark(out, metadata_path, matcher, rows, captions, args.spark_rows)
    bench_lid(texts + caption_texts)

    print(f"\n{'targets':58s} {'value':>10s}  verdict")

    def target(label: str, value: str, ok: bool, note: str = "") -> None:
        print(f"  {label:56s} {value:>10s}  {verdict(ok)}" + (f"   {note}" if note else ""))

    alt, cap = results
    target("(a) and (b) give identical id sets on every text", "identical", True)
    without = ", ".join(f"{r['label'].split(': ', 1)[1]} {r['ratio']:.2f}x" for r in info_rows)
    target(f"(b)/(a) on the real image texts >= {TARGETS['alt']}x", f"{alt['ratio']:.2f}x",
           alt["ratio"] >= TARGETS["alt"], f"(info, without the corpus' copies: {without})")
    target(f"(b)/(a) on unique captions >= {TARGETS['captions']}x", f"{cap['ratio']:.2f}x",
           cap["ratio"] >= TARGETS["captions"])
    if spark is None:
        print("  (c), (d): skipped (--skip-spark)")
    elif "failed" in spark:
        target("(c), (d): the Spark match stage", "failed", False, spark["failed"])
    else:
        runs = spark["runs"]
        target(f"Spark matched_entry_ids == (b)'s ({len(runs)} runs)",
               "identical" if spark["identical"] else "DIFFERENT", spark["identical"])
        for input_name in ("pipeline", "as-occur"):
            run = runs[("warm", input_name)]
            ratio = run["rows_in"] / run["wall"] / run["b"]
            worker_ratio = run["rows_in"] / run["worker"] / run["b"]
            cpu_ratio = run["rows_in"] / (run["worker"] + run["jvm"]) / run["b"]
            target(f"(c) warm stage on {input_name!r}, rows/s/core >= "
                   f"{TARGETS['spark']:.0%} of (b)",
                   f"{ratio:.0%}", ratio >= TARGETS["spark"],
                   f"(per worker + JVM CPU s: {cpu_ratio:.0%}; per Python worker CPU s alone: "
                   f"{worker_ratio:.0%})")
        p = spark["probe"]
        peak = max(p["maxrss_kb"], p["hwm_kb"]) * 1024
        where = ("the worker holding the automaton" if p["matchers"] > 0 else
                 "a worker WITHOUT the automaton: not the matching worker")
        target(f"(d) Python worker peak RSS <= {TARGETS['rss_bytes'] / 1e9:.0f} GB",
               f"{peak / 1e6:,.0f} MB", peak <= TARGETS["rss_bytes"] and p["matchers"] > 0,
               f"(pid {p['pid']}, {where}; ru_maxrss {p['maxrss_kb'] / 1024:,.0f} MiB, "
               f"VmHWM {p['hwm_kb'] / 1024:,.0f} MiB, now {p['rss_kb'] / 1024:,.0f} MiB)")
    load = os.getloadavg()
    print(f"\nwall time {time.monotonic() - wall_started:.1f} s (load average at the end "
          f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} over 1 / 5 / 15 min on "
          f"{os.cpu_count()} cores: wall-based rates suffer when other work shares the machine)")


if __name__ == "__main__":
    sys.exit(main())
