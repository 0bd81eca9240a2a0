"""curate verify: is a work directory one coherent run, with nothing lost without a record?

Read only, no Spark: the stage reports and side files, the Parquet footers of every output,
and the matched and curated rows themselves in Arrow batches (one pass over `matched`, its
curated columns only). Why not Spark: the one pass that needs rows reads the matched set,
already the pool after dedup and matching, streamed a batch at a time (memory: a batch,
the count vectors, and the curated rows' keys); verify then runs anywhere a work directory
can be read (a laptop over s3://, a CI job) without a JVM. On a crawl-sized matched set it
is one process reading it once: minutes per hundred million rows, not a cluster's seconds.

Each check is one line: its name, ok or FAILED, and a short reason with the numbers. A
check that cannot read what it needs fails with what it could not read; the others run.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate import schemas
from curate.core.counting import partition_entry_counts
from curate.errors import UserError
from curate.stages import io
from curate.stages.io import STAGE_DIRS, StageReport

# The order a run writes them; the names are io.STAGE_DIRS'.
STAGES = ("extract", "dedup", "match", "count", "sample")
# Names a stage or Spark writes while working and removes when it finishes: one left
# among the outputs is an attempt that did not finish (or a run that is still going).
STRAY_NAMES = ("_temporary", "_attempts")
STRAY_MARKS = (".incomplete", ".replaced-", ".spark-staging")
STRAY_SIDE = (schemas.WRITING_FILE, f"{schemas.SIDE_DIR}/groups")


@dataclass
class Check:
    name: str
    ok: bool
    reason: str

    def line(self) -> str:
        return f"{self.name:<9} {'ok' if self.ok else 'FAILED':<6}  {self.reason}"


@dataclass
class Verification:
    workdir: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def to_json(self) -> dict:
        return {"workdir": self.workdir, "ok": self.ok,
                "checks": [asdict(check) for check in self.checks]}

    def lines(self) -> list[str]:
        return [check.line() for check in self.checks]


class _Failed(Exception):
    """A check's finding: its message is the FAILED line's reason."""


def verify(workdir: str) -> Verification:
    """Every check on `workdir` (a local path or a store's URI); a UserError when it is not
    a work directory at all."""
    run = _Workdir(workdir)
    result = Verification(io.stores.absolute(workdir))
    for name, check in CHECKS:
        try:
            reason = check(run)
            result.checks.append(Check(name, True, reason))
        except _Failed as failure:
            result.checks.append(Check(name, False, str(failure)))
        except (OSError, ValueError, KeyError, TypeError) as error:   # unreadable input
            result.checks.append(Check(name, False, f"cannot read it: {_short(error)}"))
    return result


class _Workdir:
    """What the checks read, each read once and only when a check needs it."""

    def __init__(self, workdir: str):
        self.root = workdir
        if not io.is_dir(workdir):
            raise UserError(f"{workdir}: no such work directory")
        present = set(io.list_dir(workdir))
        if not present & set(STAGE_DIRS.values()):
            raise UserError(f"{workdir} holds none of {', '.join(STAGE_DIRS.values())}: not a "
                            "work directory of curate run")
        self.dirs = {stage: io.join(workdir, name) for stage, name in STAGE_DIRS.items()}
        self._cache: dict = {}

    def _once(self, key, compute: Callable):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def report(self, stage: str) -> StageReport:
        def read():
            uri = self.dirs[stage]
            if not io.exists(io.join(uri, schemas.REPORT_FILE)):
                raise _Failed(f"{STAGE_DIRS[stage]} has no report ({schemas.REPORT_FILE})")
            return io.read_report(uri)
        return self._once(("report", stage), read)

    def rows(self, stage: str) -> int:
        """The rows an output's files hold, by their footers."""
        return self._once(("rows", stage),
                          lambda: sum(io.footer_rows(io.data_files(self.dirs[stage]))))

    def matched_scan(self) -> "_MatchedScan":
        return self._once("matched", lambda: _MatchedScan.read(self))


# ---------------------------------------------------------------------------- checks

def check_complete(run: _Workdir) -> str:
    missing = [STAGE_DIRS[s] for s in STAGES if not io.is_dir(run.dirs[s])]
    if missing:
        raise _Failed(f"missing output(s): {', '.join(missing)}")
    for stage in STAGES:
        report = run.report(stage)
        if report.stage != stage:
            raise _Failed(f"{STAGE_DIRS[stage]} holds the report of {report.stage}")
    written = {STAGE_DIRS[s]: run.rows(s) for s in STAGES}
    wrong = [f"{name}: report {run.report(s).rows_out}, files {written[name]}"
             for s, name in STAGE_DIRS.items() if s != "count"
             and run.report(s).rows_out != written[name]]
    counts_rows = run.report("count").details.get("count_rows")
    if counts_rows is not None and counts_rows != written["counts"]:
        wrong.append(f"counts: report {counts_rows} rows, files {written['counts']}")
    if wrong:
        raise _Failed("rows out by the report are not the rows in the files: " + "; ".join(wrong))
    return ("5 outputs with their reports; rows in the files as reported: "
            + ", ".join(f"{name} {n}" for name, n in written.items()))


def check_inputs(run: _Workdir) -> str:
    """Every listed input is a source of rows, a file read without rows, or in errors."""
    pairs = run.dirs["extract"]
    listed = io.read_text(io.join(pairs, schemas.INPUTS_FILE)).splitlines()
    errors = io.read_parquet(io.data_files(io.join(pairs, schemas.ERRORS_DIR)), ["path"])
    failed = set(errors["path"].to_pylist()) if errors is not None else set()
    sources: set[str] = set()
    for batch in _batches(pairs, ["source_path"]):
        sources.update(pc.unique(batch.column(0)).to_pylist())
    details = run.report("extract").details
    unknown = sorted((sources | failed) - set(listed))
    if unknown:
        raise _Failed(f"{len(unknown)} path(s) with rows or errors are not in "
                      f"{schemas.INPUTS_FILE} (first: {unknown[0]})")
    read, empty = details.get("files_read", 0), details.get("files_without_rows")
    without_rows = len(set(listed) - sources - failed)
    if len(set(listed)) != details.get("files") or details.get("files_failed") != len(failed) \
            or len(sources - failed) + without_rows != read \
            or (empty is not None and without_rows != empty):   # (None: before it was kept)
        raise _Failed(f"{len(set(listed))} inputs listed: {len(sources - failed)} sources of rows"
                      f", {without_rows} without rows, {len(failed)} in errors; the report says "
                      f"{details.get('files')} files: {read} read ({empty} without rows), "
                      f"{details.get('files_failed')} failed")
    return (f"{len(listed)} inputs: {len(sources - failed)} sources of rows, {without_rows} "
            f"read without rows, {len(failed)} in errors")


def check_dedup(run: _Workdir) -> str:
    pairs, dedup = run.rows("extract"), run.rows("dedup")
    report = run.report("dedup")
    duplicates = report.dropped.get("duplicate", 0)
    if report.rows_in != pairs or pairs != dedup + duplicates:
        raise _Failed(f"pairs {pairs} rows (dedup read {report.rows_in}) != dedup {dedup} + "
                      f"duplicates {duplicates}")
    return f"pairs {pairs} = dedup {dedup} + duplicates {duplicates}"


def check_match(run: _Workdir) -> str:
    dedup, matched = run.rows("dedup"), run.rows("match")
    report = run.report("match")
    dropped = sum(report.dropped.values())
    if report.rows_in != dedup or dedup != matched + dropped:
        raise _Failed(f"dedup {dedup} rows (match read {report.rows_in}) != matched {matched} "
                      f"+ unmatched {dropped}")
    by_language = report.details.get("matched_by_language")
    if by_language is not None:
        found = run.matched_scan().texts
        if {k: v for k, v in by_language.items() if v} != found:
            raise _Failed(f"matched rows per language: the report says {_pairs(by_language)}, "
                          f"the rows hold {_pairs(found)}")
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(report.dropped.items())) or "none"
    return f"dedup {dedup} = matched {matched} + unmatched {dropped} ({reasons})"


def check_counts(run: _Workdir) -> str:
    """The counts table, summary.json and entry_counts/ equal a recount of `matched`."""
    counts_dir = run.dirs["count"]
    table = io.read_parquet(io.data_files(counts_dir), ["lang", "entry_id", "entry", "count"])
    stored, entries = {}, {}
    for code in sorted(pc.unique(table["lang"]).to_pylist()):
        rows = table.filter(pc.equal(table["lang"], code))
        ids = rows["entry_id"].to_numpy()
        if sorted(ids.tolist()) != list(range(len(ids))):
            raise _Failed(f"the {code} counts are not one row per entry 0..{len(ids) - 1}")
        stored[code] = np.zeros(len(ids), dtype=np.int64)
        stored[code][ids] = rows["count"].to_numpy()
        entries[code] = [""] * len(ids)
        for i, entry in zip(ids.tolist(), rows["entry"].to_pylist()):
            entries[code][i] = entry
    scan = run.matched_scan()
    for code, vector in stored.items():
        recount = scan.vectors.get(code, np.zeros(len(vector), dtype=np.int64))
        if not np.array_equal(vector, recount):
            wrong = np.flatnonzero(vector != recount)
            raise _Failed(f"{len(wrong)} {code} count(s) differ from a recount of matched "
                          f"(entry {int(wrong[0])}: {int(vector[wrong[0]])} stored, "
                          f"{int(recount[wrong[0]])} recounted)")
    extra = sorted(set(scan.vectors) - set(stored))
    if extra:
        raise _Failed(f"matched rows in {', '.join(extra)}, which the counts have no list for")
    _check_side_files(counts_dir, stored, entries, scan.texts)
    total = sum(int(v.sum()) for v in stored.values())
    return (f"{total} matches over {sum(len(v) for v in stored.values())} entries "
            f"({len(stored)} language(s)) = a recount of matched; summary and entry_counts agree")


def _check_side_files(counts_dir: str, stored: dict, entries: dict, texts: dict) -> None:
    summary = io.read_json(io.join(counts_dir, schemas.SUMMARY_FILE))["languages"]
    for code, vector in stored.items():
        said = summary.get(code, {})
        if said.get("total_matches") != int(vector.sum()) or \
                said.get("matched_texts") != texts.get(code, 0):
            raise _Failed(f"summary.json says {code}: {said.get('matched_texts')} texts, "
                          f"{said.get('total_matches')} matches; the recount "
                          f"{texts.get(code, 0)}, {int(vector.sum())}")
        entry_counts = io.read_json(io.join(counts_dir, schemas.ENTRY_COUNTS_DIR,
                                            f"{code}.json"))
        # (duplicate entries match alike: they share one key and one count, as count writes)
        if entry_counts != dict(zip(entries[code], vector.tolist())):
            raise _Failed(f"entry_counts/{code}.json is not the counts table's {code} counts")


def check_curated(run: _Workdir) -> str:
    """curated <= matched; each curated row is a matched row, ids and all."""
    curated, matched = run.rows("sample"), run.rows("match")
    report = run.report("sample")
    if curated > matched or report.rows_in != matched:
        raise _Failed(f"curated {curated} rows, matched {matched}; sample read {report.rows_in}")
    scan = run.matched_scan()
    if scan.curated_missing:
        key = scan.curated_missing[0]
        raise _Failed(f"{len(scan.curated_missing)} curated row(s) are not matched rows with "
                      f"the same ids (first: image_uuid {key[0]}, text {key[1][:60]!r})")
    return f"curated {curated} <= matched {matched}; every curated row is a matched row"


def check_lineage(run: _Workdir) -> str:
    """Each stage's input is the output the previous stage's report names."""
    ids = {stage: run.report(stage).id for stage in STAGES}
    wanted = {"dedup": {"extract": ids["extract"]}, "match": {"dedup": ids["dedup"]},
              "count": {"match": ids["match"]},
              "sample": {"match": ids["match"], "count": ids["count"]}}
    for stage, upstream in wanted.items():
        made_from = run.report(stage).made_from
        for name, want in upstream.items():
            if made_from.get(name) != want:
                raise _Failed(f"{STAGE_DIRS[stage]} was made from {name} output "
                              f"{made_from.get(name) or '(none)'}, but {STAGE_DIRS[name]} is "
                              f"{want}")
    fingerprints = {STAGE_DIRS[s]: (run.report(s).details.get("metadata") or {}).get(
        "fingerprint") for s in ("match", "count", "sample")}
    if len({f for f in fingerprints.values() if f}) > 1:
        raise _Failed("metadata fingerprints differ: " + ", ".join(
            f"{name} {(f or '-')[:12]}" for name, f in fingerprints.items()))
    return "each stage read the output the previous report names; one metadata fingerprint"


def check_stray(run: _Workdir) -> str:
    found = [name for name in io.list_dir(run.root)
             if any(mark in name for mark in STRAY_MARKS)]
    for stage in STAGES:
        out, name = run.dirs[stage], STAGE_DIRS[stage]
        found += [f"{name}/{entry}" for entry in io.list_dir(out)
                  if entry in STRAY_NAMES or any(mark in entry for mark in STRAY_MARKS)]
        found += [f"{name}/{side}" for side in STRAY_SIDE if io.exists(io.join(out, side))]
    if found:
        raise _Failed(f"{len(found)} left by an unfinished write: {', '.join(found[:5])}"
                      + (", ..." if len(found) > 5 else ""))
    return "no attempt folders, temporaries or in-progress markers"


CHECKS = [("complete", check_complete), ("inputs", check_inputs), ("dedup", check_dedup),
          ("match", check_match), ("counts", check_counts), ("curated", check_curated),
          ("lineage", check_lineage), ("stray", check_stray)]


# ------------------------------------------------------------------- the one pass

@dataclass
class _MatchedScan:
    """What one pass over the matched rows gives: rows per language (`texts`), the count
    vectors (core.counting, as count computes them), and the curated rows not found among
    them with the same columns ((image_uuid, text) of each)."""
    texts: dict
    vectors: dict
    curated_missing: list

    @classmethod
    def read(cls, run: _Workdir) -> "_MatchedScan":
        sizes = _list_sizes(run)
        default = next(iter(sizes)) if len(sizes) == 1 else "en"   # (match sets every lang)
        wanted = _curated_rows(run)
        uuids = _array({key[0] for key in wanted})
        found: set = set()

        def batches():
            for batch in _batches(run.dirs["match"], schemas.CURATED.names):
                hits = batch.filter(pc.is_in(batch.column("image_uuid"), value_set=uuids))
                found.update(_row_key(row) for row in hits.to_pylist())
                yield batch

        texts, vectors = partition_entry_counts(batches(), sizes, default)
        missing = sorted(key[:2] for key in wanted - found)
        return cls(texts, vectors, missing)


def _list_sizes(run: _Workdir) -> dict:
    """Entries per language's list, as the counts table has them (zeros included)."""
    table = io.read_parquet(io.data_files(run.dirs["count"]), ["lang", "entry_id"])
    largest = table.group_by("lang").aggregate([("entry_id", "max")])
    return {lang: int(top) + 1 for lang, top in zip(largest["lang"].to_pylist(),
                                                     largest["entry_id_max"].to_pylist())}


def _curated_rows(run: _Workdir) -> set:
    rows: set = set()
    for batch in _batches(run.dirs["sample"], schemas.CURATED.names):
        rows.update(_row_key(row) for row in batch.to_pylist())
    return rows


def _row_key(row: dict) -> tuple:
    """A curated row as a comparable tuple, key first: (image_uuid, text, the rest)."""
    return tuple(tuple(row[name]) if isinstance(row[name], list) else row[name]
                 for name in _KEY_ORDER)


_KEY_ORDER = ["image_uuid", "text"] + [n for n in schemas.CURATED.names
                                       if n not in ("image_uuid", "text")]


def _array(values: set):
    return pa.array(sorted(values), pa.string())


def _batches(output: str, columns: list[str]):
    for uri in io.data_files(output):
        yield from io.parquet_batches(uri, columns)


def _pairs(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def _short(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
