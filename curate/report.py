"""`curate report`: what a work directory holds, as one HTML page with PNG charts and a
table in the terminal.

Everything is read from the stage outputs with pyarrow (no Spark): the stage reports
(`__curate__/stage.json`), `counts/` (the matches per entry before balancing) and its
`__curate__/summary.json`, and `curated/` (after balancing: a bincount of the curated rows'
`matched_entry_ids` per language, streamed batch by batch) and its `__curate__/summary.json`.
A stage directory that is missing is named on the page and in the terminal; what
exists is still shown.

Charts are drawn on matplotlib's Agg canvas (`Figure` + `FigureCanvasAgg`): no pyplot,
no display, and the process's matplotlib backend is left as it was.
"""
from __future__ import annotations

import datetime as _dt
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from curate.errors import UserError
from curate.stages.io import (ERRORS_DIR, REPORT_FILE, SUMMARY_FILE, StageReport, local_path,
                              read_report)

STAGES = [("extract", "pairs"), ("dedup", "dedup"), ("match", "matched"),
          ("count", "counts"), ("sample", "curated")]
REPORT_DIR = "report"
INDEX = "index.html"
CHART_RANK, CHART_HEAD_TAIL, CHART_FLOW = "counts_by_rank.png", "head_tail.png", "row_flow.png"
CHART_SIZE = "size_by_t.png"
CHARTS = (CHART_RANK, CHART_HEAD_TAIL, CHART_FLOW, CHART_SIZE)
SIZE_POINTS = 12   # candidate t of the size-against-t table, log-spaced


def kept_matches(counts: np.ndarray, ts) -> np.ndarray:
    """Σ_e min(count_e, t) for each t: the matches the keep rule keeps in expectation when
    every text matches one entry (a head entry keeps about t, a tail entry all). From the
    counts alone; texts of several entries make the curated set somewhat larger."""
    ordered = np.sort(np.asarray(counts, dtype=np.int64))
    below = np.concatenate(([0], np.cumsum(ordered)))
    ts = np.asarray(ts, dtype=np.int64)
    k = np.searchsorted(ordered, ts, side="left")          # entries with count < t
    return below[k] + ts * (len(ordered) - k)


def size_grid(counts: np.ndarray, t: int | None) -> np.ndarray:
    """Log-spaced t from 1 to above the largest count, the sample's t among them."""
    top = max(2, int(np.max(counts)) + 1) if len(counts) else 2
    grid = np.unique(np.round(np.geomspace(1, top, SIZE_POINTS)).astype(np.int64))
    return np.unique(np.append(grid, t)) if t is not None else grid
TOP_ENTRIES = 20          # rows of each language's top-entries table
RANK_PANELS = 6           # languages drawn in counts_by_rank.png (most matches first)
HEAD_TAIL_LANGUAGES = 12  # languages drawn in head_tail.png
TERMINAL_LANGUAGES = 10   # languages printed in the terminal
MAX_CURVE_POINTS = 4000   # points per rank curve; log-spaced ranks beyond that
MATPLOTLIB_MISSING = "curate report needs matplotlib: pip install 'curate[report]'"


@dataclass
class Stage:
    """One of the five stage directories of a work directory."""
    stage: str
    directory: str
    path: Path
    report: StageReport | None     # None: missing or incomplete
    # "ok", "missing", "incomplete" (no readable __curate__/stage.json), or "stale" (made from
    # another output of an earlier stage than the one in this directory: another run's)
    status: str
    stale_from: str = ""


@dataclass
class Language:
    """One metadata language: counts/__curate__/summary.json's numbers and the entry counts."""
    code: str
    summary: dict                  # counts' summary.json "languages"[code] ({} without it)
    before: np.ndarray | None      # matches per entry id in the matched pool (counts/)
    after: np.ndarray | None       # matches per entry id in the curated rows
    kept_rows: int | None          # curated rows of this language
    t_count: int | None            # the t counts/__curate__/summary.json describes head and tail at
    t_sample: int | None           # the t the sample stage used
    top: list[tuple[int, str, int, int | None]] = field(default_factory=list)
    # (entry_id, entry, count before, count after) of the TOP_ENTRIES most matched entries

    @property
    def t(self) -> int | None:
        """The t of the charts: the sampling's, else the count summary's."""
        return self.t_sample if self.t_sample is not None else self.t_count

    @property
    def matches(self) -> int:
        return int(self.before.sum()) if self.before is not None else 0

    def head_shares(self) -> tuple[float | None, float | None]:
        """Share of all matches on head entries (count before >= t), before and after."""
        if self.before is None or self.t is None:
            return None, None
        head = self.before >= self.t
        before = _share(self.before, head)
        after = None
        if self.after is not None:
            after = _share(self.after[:len(head)], head[:len(self.after)])
        return before, after


@dataclass
class WorkdirReport:
    """What `curate report` found and wrote; `languages` in order of matches, most first."""
    workdir: Path
    output: Path
    stages: list[Stage]
    languages: list[Language]
    counts_summary: dict
    sample_summary: dict
    notes: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    domains: list[tuple[str, int]] = field(default_factory=list)   # top image hosts, curated
    # (lang, entry, [kept texts], [dropped texts]) for a few head entries
    examples: list[tuple[str, str, list[str], list[str]]] = field(default_factory=list)
    curated_rows: int = 0
    failed_inputs: list[tuple[str, str]] = field(default_factory=list)   # (path, reason)
    failed_files: int = 0

    @property
    def index(self) -> Path:
        return self.output / INDEX

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.stage == name)


def build_report(workdir: str, output: str | None = None) -> WorkdirReport:
    """Read WORKDIR, write index.html and the PNGs into `output` (default WORKDIR/report)."""
    charts = _matplotlib()
    report = read_workdir(workdir, output)
    report.output.mkdir(parents=True, exist_ok=True)
    for name in CHARTS:   # a chart not drawn this time must not linger from an earlier run
        (report.output / name).unlink(missing_ok=True)
    report.files = charts.draw(report)
    report.index.write_text(render_html(report), "utf-8")
    report.files.append(report.index)
    return report


# ---------------------------------------------------------------------------------------
# Reading a work directory

def read_workdir(workdir: str, output: str | None = None) -> WorkdirReport:
    root = Path(local_path(workdir))
    stages = _find_stages(workdir, root)
    out = Path(local_path(output)) if output else root / REPORT_DIR
    counts, curated = stages[3], stages[4]
    counts_summary = _json(counts.path / SUMMARY_FILE) if counts.status == "ok" else {}
    sample_summary = _json(curated.path / SUMMARY_FILE) if curated.status == "ok" else {}
    notes = [_missing_note(s) for s in stages if s.status != "ok"]

    before = _read_counts(counts.path) if counts.status == "ok" else {}
    after, kept_rows = ({}, {})
    if curated.status == "ok":
        from curate.options import load_settings
        after, kept_rows = _read_curated(curated.path, load_settings()["lang"],
                                         {c: len(v) for c, v in before.items()})
    summaries = counts_summary.get("languages", {})
    t_count = {**(counts.report.details.get("t", {}) if counts.report else {}),
               **{c: s["t"] for c, s in summaries.items() if s.get("t") is not None}}
    t_sample = sample_summary.get("t") or (curated.report.details.get("t", {})
                                           if curated.report else {})
    codes = set(summaries) | set(before) | set(after)
    languages = [Language(code, summaries.get(code, {}), before.get(code), after.get(code),
                          kept_rows.get(code, 0) if curated.status == "ok" else None,
                          t_count.get(code), (t_sample or {}).get(code))
                 for code in codes]
    for lang in languages:   # one t per language on the page: the one the sample used
        if (lang.t_sample is not None and lang.before is not None
                and lang.summary.get("t") != lang.t_sample):
            from curate.core.sampling import language_summary
            lang.summary = {**lang.summary, **language_summary(lang.before, lang.t_sample)}
    languages.sort(key=lambda lang: (-lang.matches,
                                     -(lang.summary.get("matched_texts") or 0), lang.code))
    if before:
        _fill_top_entries(counts.path, languages)
    fingerprints = {s.directory: ((s.report.details.get("metadata") or {}).get("fingerprint"))
                    for s in stages if s.report}
    if len({f for f in fingerprints.values() if f}) > 1:
        notes.append("the stages were made with different metadata lists (fingerprints: "
                     + ", ".join(f"{d} {f[:12]}" for d, f in fingerprints.items() if f) + ")")
    report = WorkdirReport(root, out, stages, languages, counts_summary, sample_summary, notes)
    if curated.status == "ok":
        report.domains, report.curated_rows = _top_domains(curated.path)
        matched = stages[2]
        if matched.status == "ok" and languages:
            from curate.options import load_settings
            report.examples = _examples(matched.path, curated.path, languages[0],
                                        load_settings()["lang"])
    pairs = stages[0]
    if pairs.status == "ok":
        report.failed_inputs = _failed_inputs(pairs.path)
        report.failed_files = int(pairs.report.details.get("files_failed", 0))
    return report


TOP_DOMAINS = 10
FAILED_SHOWN = 20


def _top_domains(path: Path) -> tuple[list[tuple[str, int]], int]:
    """The most frequent image hosts of the curated rows, and the number of rows (one host
    holding half a set is worth seeing: a single photo gallery can). Counted by Arrow, batch
    by batch: a crawl's curated set has a billion rows."""
    import pyarrow.compute as pc
    from collections import Counter

    hosts: Counter = Counter()
    rows = 0
    for batch in _dataset(path).to_batches(columns=["url"]):
        parts = pc.extract_regex(batch.column("url"), _HOST)
        v6 = parts.field("v6")   # "" when the host is not an IPv6 literal
        host = pc.utf8_lower(pc.if_else(pc.equal(v6, ""), parts.field("host"), v6))
        for item in pc.value_counts(host).to_pylist():
            hosts[item["values"] or ""] += item["counts"]
        rows += batch.num_rows
    return hosts.most_common(TOP_DOMAINS), rows


# The host of an absolute http(s) URL (after any user info, before a port, path or query;
# an IPv6 literal without its brackets), as urlsplit's hostname.
_HOST = (r"^[A-Za-z][A-Za-z0-9+.\-]*://(?:[^/?#@]*@)?"
         r"(?:\[(?P<v6>[^\]]*)\]|(?P<host>[^/?#:\[]*))")
EXAMPLE_ENTRIES, EXAMPLES = 3, 3


def _examples(matched: Path, curated: Path, lang: Language, default_lang: str
              ) -> list[tuple[str, str, list[str], list[str]]]:
    """For the most matched head entries of a language: a few texts the sample kept and a
    few it dropped. The rows are found by Arrow, batch by batch (only rows holding one of
    those entries reach Python): all of curated, for what was kept; then matched, only
    until it has a few rows that are not among them."""
    head = [(entry_id, entry) for entry_id, entry, before, _after in lang.top
            if lang.t is not None and before >= lang.t][:EXAMPLE_ENTRIES]
    if not head:
        return []
    wanted = [entry_id for entry_id, _ in head]
    kept = {e: [] for e in wanted}
    kept_keys = {e: set() for e in wanted}
    for batch in _dataset(curated).to_batches(columns=_EXAMPLE_COLUMNS):
        for entry_id, uuid, text in _rows_with(batch, wanted, lang.code, default_lang):
            kept_keys[entry_id].add((uuid, text))
            if len(kept[entry_id]) < EXAMPLES:
                kept[entry_id].append(text)
    dropped = {e: [] for e in wanted}
    for batch in _dataset(matched).to_batches(columns=_EXAMPLE_COLUMNS):
        for entry_id, uuid, text in _rows_with(batch, wanted, lang.code, default_lang):
            if (uuid, text) not in kept_keys[entry_id] and len(dropped[entry_id]) < EXAMPLES:
                dropped[entry_id].append(text)
        if all(len(texts) >= EXAMPLES for texts in dropped.values()):
            break
    return [(lang.code, entry, kept[e], dropped[e]) for e, entry in head]


_EXAMPLE_COLUMNS = ["image_uuid", "text", "lang", "matched_entry_ids"]


def _rows_with(batch, entry_ids: list[int], code: str, default_lang: str):
    """(entry id, image_uuid, text) of each row of language `code` (a null lang is
    default_lang) and each of `entry_ids` its matched set holds."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = batch.column("matched_entry_ids")
    flat = pc.list_flatten(ids)
    hit = pc.is_in(flat, value_set=pa.array(entry_ids, flat.type)).to_numpy(
        zero_copy_only=False)
    if not hit.any():
        return []
    rows = pc.list_parent_indices(ids).to_numpy()[hit]
    entries = flat.to_numpy(zero_copy_only=False)[hit]
    langs = pc.fill_null(batch.column("lang"), default_lang)
    in_lang = pc.equal(langs, code).to_numpy(zero_copy_only=False)[rows]
    rows, entries = rows[in_lang], entries[in_lang]
    uuids = batch.column("image_uuid").take(pa.array(rows)).to_pylist()
    texts = batch.column("text").take(pa.array(rows)).to_pylist()
    return zip(entries.tolist(), uuids, texts)


def _failed_inputs(path: Path) -> list[tuple[str, str]]:
    """(path, reason) of the input files extract could not read completely (_errors)."""
    errors = path / ERRORS_DIR
    if not errors.is_dir():
        return []
    table = _dataset(errors).to_table(columns=["path", "reason"])
    seen: dict[str, str] = {}
    for name, reason in zip(table["path"].to_pylist(), table["reason"].to_pylist()):
        seen.setdefault(name, reason)
    return sorted(seen.items())


def _find_stages(workdir: str, root: Path) -> list[Stage]:
    if not root.exists():
        raise UserError(f"{workdir}: no such directory (make a work directory with "
                        f"`curate run -o {workdir}`)")
    if not root.is_dir():
        raise UserError(f"{workdir}: not a directory")
    stages = []
    for stage, directory in STAGES:
        path = root / directory
        try:
            report = read_report(str(path)) if path.is_dir() else None
        except (ValueError, TypeError):   # not JSON, or not a stage report's fields
            report = None
        status = "ok" if report else ("incomplete" if path.is_dir() else "missing")
        stages.append(Stage(stage, directory, path, report, status))
    _mark_stale(stages)
    if all(s.status == "missing" for s in stages):
        own = read_report(str(root)) if (root / REPORT_FILE).is_file() else None
        if own is not None:
            raise UserError(f"{workdir} is the output of the {own.stage} stage; pass the work "
                            f"directory that holds it ({root.parent})")
        raise UserError(f"{workdir} is not a curate work directory: it has none of "
                        + ", ".join(f"{d}/" for _s, d in STAGES)
                        + f" (make one with `curate run -o {workdir}`)")
    return stages


def _mark_stale(stages: list[Stage]) -> None:
    """A stage output made from another output of an earlier stage than the one here (its
    report's made_from ids), or from a stale one, is "stale": the directory mixes runs."""
    by_stage = {s.stage: s for s in stages}
    for stage in stages:   # (in pipeline order: staleness runs downstream)
        if stage.status != "ok":
            continue
        for upstream_stage, made_from_id in stage.report.made_from.items():
            upstream = by_stage.get(upstream_stage)
            if upstream is None:
                continue
            if upstream.status == "stale" or (upstream.report is not None
                                              and upstream.report.id != made_from_id):
                stage.status = "stale"
                stage.stale_from = upstream.directory
        if stage.status == "stale":
            stage.report = None   # its numbers are another run's: shown nowhere


def _missing_note(stage: Stage) -> str:
    if stage.status == "stale":
        return (f"{stage.directory}/ is stale: it was made from another {stage.stale_from}/ "
                f"than the one in this directory (an earlier run's), so its numbers are not "
                f"shown; re-run the stages from {stage.directory}/ on")
    what = ("is missing" if stage.status == "missing"
            else f"has no readable {REPORT_FILE} (unfinished or not a stage output)")
    return f"{stage.directory}/ {what}: the {stage.stage} stage's numbers are not shown"


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as error:
        raise UserError(f"{path}: not valid JSON ({error})") from None


def _dataset(path: Path):
    import pyarrow.dataset as ds
    # Spark's and our side files (_SUCCESS, .crc, __curate__/ ...) start with "_" or ".",
    # which the dataset skips.
    return ds.dataset(str(path), format="parquet")


def _read_counts(path: Path) -> dict[str, np.ndarray]:
    """counts/ -> one vector per language, indexed by entry id."""
    import pyarrow.compute as pc

    table = _dataset(path).to_table(columns=["lang", "entry_id", "count"])
    vectors = {}
    for code in pc.unique(table["lang"]).to_pylist():
        rows = table.filter(pc.equal(table["lang"], code))
        ids = rows["entry_id"].to_numpy()
        vector = np.zeros(int(ids.max()) + 1 if len(ids) else 0, dtype=np.int64)
        vector[ids] = rows["count"].to_numpy()
        vectors[code] = vector
    return vectors


def _read_curated(path: Path, default_lang: str, sizes: dict[str, int]
                  ) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """curated/ -> matches per entry id and rows, per language, one batch at a time."""
    import pyarrow.compute as pc

    vectors = {code: np.zeros(size, dtype=np.int64) for code, size in sizes.items()}
    rows: dict[str, int] = {}
    for batch in _dataset(path).to_batches(columns=["lang", "matched_entry_ids"]):
        langs = pc.fill_null(batch.column("lang"), default_lang)
        ids = batch.column("matched_entry_ids")
        for code in pc.unique(langs).to_pylist():
            own = pc.filter(ids, pc.equal(langs, code))
            rows[code] = rows.get(code, 0) + len(own)
            flat = pc.list_flatten(own).to_numpy(zero_copy_only=False).astype(np.int64)
            counts = np.bincount(flat, minlength=len(vectors.get(code, ())))
            vector = vectors.get(code, np.zeros(0, dtype=np.int64))
            if len(counts) > len(vector):
                vector = np.concatenate([vector, np.zeros(len(counts) - len(vector), np.int64)])
            vector[:len(counts)] += counts
            vectors[code] = vector
    return vectors, rows


def _fill_top_entries(counts_path: Path, languages: list[Language]) -> None:
    """Each language's TOP_ENTRIES entries with most matches (ties: lower entry id first),
    with their strings read only for those rows."""
    import pyarrow.dataset as ds

    wanted: dict[str, np.ndarray] = {}
    for lang in languages:
        if lang.before is None or not lang.matches:
            continue
        order = np.argsort(-lang.before, kind="stable")[:TOP_ENTRIES]
        wanted[lang.code] = order[lang.before[order] > 0]
    if not wanted:
        return
    floor = min(int(lang.before[ids].min()) for lang in languages
                if (ids := wanted.get(lang.code)) is not None and len(ids))
    table = _dataset(counts_path).to_table(columns=["lang", "entry_id", "entry"],
                                           filter=ds.field("count") >= floor)
    names = {(c, i): e for c, i, e in zip(table["lang"].to_pylist(),
                                          table["entry_id"].to_pylist(),
                                          table["entry"].to_pylist())}
    for lang in languages:
        for entry_id in wanted.get(lang.code, ()):
            after = None
            if lang.after is not None:
                after = int(lang.after[entry_id]) if entry_id < len(lang.after) else 0
            lang.top.append((int(entry_id), names.get((lang.code, int(entry_id)), ""),
                             int(lang.before[entry_id]), after))


def _share(vector: np.ndarray, mask: np.ndarray) -> float | None:
    total = int(vector.sum())
    return float(vector[mask].sum() / total) if total else None


# ---------------------------------------------------------------------------------------
# Charts

def _matplotlib() -> "_Charts":
    """The chart drawer, or the one-line user error when matplotlib is not installed."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise UserError(MATPLOTLIB_MISSING) from None
    return _Charts(Figure, FigureCanvasAgg)


class _Charts:
    """The PNGs, each drawn on its own Agg canvas (never pyplot, so never a display)."""

    def __init__(self, figure_class, canvas_class):
        self.figure_class, self.canvas_class = figure_class, canvas_class

    def draw(self, report: WorkdirReport) -> list[Path]:
        written = []
        charted = [lang for lang in report.languages if lang.matches]
        if any(lang.before is not None for lang in report.languages):
            written.append(self._save(self.counts_by_rank(charted, report),
                                      report.output / CHART_RANK))
            written.append(self._save(self.head_tail(charted), report.output / CHART_HEAD_TAIL))
            if charted:
                written.append(self._save(self.size_by_t(charted[:RANK_PANELS]),
                                          report.output / CHART_SIZE))
        written.append(self._save(self.row_flow(report.stages), report.output / CHART_FLOW))
        return written

    def _figure(self, width: float, height: float):
        figure = self.figure_class(figsize=(width, height), dpi=110, layout="constrained")
        self.canvas_class(figure)
        return figure

    @staticmethod
    def _save(figure, path: Path) -> Path:
        figure.savefig(path, format="png")
        return path

    def counts_by_rank(self, languages: list[Language], report: WorkdirReport):
        shown = languages[:RANK_PANELS]
        cols = min(max(len(shown), 1), 3)
        rows = max(1, math.ceil(len(shown) / cols))
        figure = self._figure(5.4 * cols, 4.0 * rows)
        axes = iter(figure.subplots(rows, cols, squeeze=False).flat)
        for lang, ax in zip(shown, axes):   # (shown first: an empty one takes no axes)
            before = _ranked(lang.before)
            top = int(before[0]) if len(before) else 1
            ax.loglog(*_curve(before), color="#4c72b0", lw=2.2, drawstyle="steps-post",
                      label=f"before (matched): {len(before):,} entries, "
                            f"{int(before.sum()):,} matches")
            title = f"{_literal(lang.code)}: {lang.matches:,} matches"
            if lang.after is not None:
                after = _ranked(lang.after)
                if len(after):
                    ax.loglog(*_curve(after), color="#dd8452", lw=1.4,
                              drawstyle="steps-post",
                              label=f"after (curated): {len(after):,} entries, "
                                    f"{int(after.sum()):,} matches")
                title += f" → {int(lang.after.sum()):,} after balancing"
            if lang.t is not None:
                ax.axhline(lang.t, color="#333333", ls="--", lw=1, label=f"t = {lang.t:,}")
                top = max(top, lang.t)
            ax.set_ylim(0.7, top * 2.5)
            ax.set_xlim(0.8, max(len(before), 1) * 1.5)
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("entry rank (each curve sorted by its own counts)", fontsize=8)
            ax.set_ylabel("matched texts per entry", fontsize=8)
            ax.grid(True, which="major", alpha=0.3)
            ax.legend(fontsize=7, loc="upper right")
        if not shown:
            ax = next(axes)
            ax.text(0.5, 0.5, "no entry was matched", ha="center", va="center")
            ax.set_axis_off()
        for ax in axes:
            ax.set_axis_off()
        rest = len(languages) - len(shown)
        figure.suptitle("Matches per metadata entry by rank, before and after balancing"
                        + (f" ({rest} more languages in the tables)" if rest > 0 else ""),
                        fontsize=11)
        return figure

    def head_tail(self, languages: list[Language]):
        shown = [lang for lang in languages if lang.t is not None][:HEAD_TAIL_LANGUAGES]
        bars = []   # (label, head share, head entries, position)
        for i, lang in enumerate(shown):
            before, after = lang.head_shares()
            heads = int((lang.before >= lang.t).sum())
            if before is not None:
                bars.append((f"{_literal(lang.code)} before", before, heads, len(bars) + 0.4 * i))
            if after is not None:
                bars.append((f"{_literal(lang.code)} after", after, heads, len(bars) + 0.4 * i))
        figure = self._figure(8.5, max(2.4, 1.2 + 0.45 * len(bars)))
        ax = figure.subplots()
        ax.set_title("Matches on head and tail entries, before and after balancing",
                     fontsize=11)
        if not bars:   # (an axis with nothing on it collapses under constrained layout)
            ax.set_axis_off()
            ax.text(0.5, 0.5, "no matches to divide", ha="center", va="center")
            return figure
        y = np.array([b[3] for b in bars])
        head = np.array([b[1] for b in bars])
        ax.barh(y, head, color="#c44e52", label="head entries (count before ≥ t)")
        ax.barh(y, 1 - head, left=head, color="#55a868", label="tail entries")
        for i, (_label, share, heads, _y) in zip(y, bars):
            ax.text(0.01, i, f"head {share:.1%} ({_plural(heads, 'entry', 'entries')})",
                    va="center",
                    fontsize=8, color="white" if share > 0.3 else "black")
            ax.text(0.99, i, f"tail {1 - share:.1%}", va="center", ha="right", fontsize=8,
                    color="white")
        ax.set_yticks(y, [b[0] for b in bars], fontsize=9)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(_percent)
        ax.set_xlabel("share of all matches")
        figure.legend(fontsize=8, loc="outside lower center", ncols=2)
        return figure

    def size_by_t(self, languages: list[Language]):
        figure = self._figure(9, 4.2)
        ax = figure.subplots()
        for lang in languages:
            ts = np.unique(np.round(np.geomspace(1, max(2, int(lang.before.max()) + 1),
                                                 64)).astype(np.int64))
            line, = ax.loglog(ts, kept_matches(lang.before, ts), lw=1.6,
                              label=_literal(lang.code))
            if lang.t is not None:
                ax.plot([lang.t], kept_matches(lang.before, [lang.t]), "o",
                        color=line.get_color())
        ax.set_xlabel("t (English's; every language's own t is marked)", fontsize=8)
        ax.set_ylabel("expected matches kept, Σ min(count, t)", fontsize=8)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7)
        ax.set_title("Expected curated size against t, from the counts", fontsize=11)
        return figure

    def row_flow(self, stages: list[Stage]):
        reasons = []
        for s in stages:
            for reason in (s.report.dropped if s.report else {}):
                if _reason_group(reason) not in reasons:
                    reasons.append(_reason_group(reason))
        palette = ["#dd8452", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c",
                   "#ccb974", "#64b5cd"]
        colors = {r: palette[i % len(palette)] for i, r in enumerate(reasons)}
        figure = self._figure(9, 1.4 + 0.55 * len(stages))
        ax = figure.subplots()
        labelled = set()
        widest = max([s.report.rows_in for s in stages if s.report] + [1])
        for i, s in enumerate(stages):
            if not s.report:
                ax.text(0, i, f"  {s.directory}/ {s.status}", va="center", fontsize=9,
                        color="#888888")
                continue
            r = s.report
            ax.barh(i, r.rows_out, color="#4c72b0",
                    label=None if "kept" in labelled else "rows out")
            labelled.add("kept")
            left = r.rows_out
            grouped: dict[str, int] = {}
            for reason, n in r.dropped.items():
                grouped[_reason_group(reason)] = grouped.get(_reason_group(reason), 0) + n
            for group, n in grouped.items():
                if n:
                    ax.barh(i, n, left=left, color=colors[group],
                            label=None if group in labelled else f"dropped: {_literal(group)}")
                    labelled.add(group)
                    left += n
            ax.text(r.rows_in + widest * 0.01, i, f"{r.rows_in:,} → {r.rows_out:,}",
                    va="center", fontsize=8)
        ax.set_yticks(range(len(stages)), [f"{s.stage}\n({s.directory}/)" for s in stages],
                      fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, widest * 1.22)
        ax.set_xlabel("rows (extract: text candidates; sample: rows in = matched pairs)")
        figure.legend(fontsize=8, loc="outside lower center", ncols=min(len(labelled), 4))
        ax.set_title("Row flow through the stages", fontsize=11)
        return figure


def _literal(text: str) -> str:
    """A string from the data as a chart shows it: matplotlib reads $...$ as mathtext, and
    a malformed one (a crafted language code or drop reason) would stop the drawing."""
    return text.replace("$", r"\$")


def _plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _percent(value, _position) -> str:
    return f"{value:.0%}"


def _reason_group(reason: str) -> str:
    """no_match:en -> no_match: the chart's colours per kind of reason (tables: each one)."""
    return reason.split(":", 1)[0]


def _ranked(vector: np.ndarray) -> np.ndarray:
    """The positive counts, largest first."""
    return np.sort(vector[vector > 0])[::-1]


def _curve(ranked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rank, count), thinned to log-spaced ranks when long (same shape on log-log axes)."""
    ranks = np.arange(1, len(ranked) + 1)
    if len(ranked) <= MAX_CURVE_POINTS:
        return ranks, ranked
    keep = np.unique(np.geomspace(1, len(ranked), MAX_CURVE_POINTS).astype(np.int64)) - 1
    return ranks[keep], ranked[keep]


# ---------------------------------------------------------------------------------------
# The page

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: .2em; }
h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
code { background: #f3f3f3; padding: 0 .25em; border-radius: 3px; }
table { border-collapse: collapse; margin: .6em 0; }
th, td { border: 1px solid #ddd; padding: .25em .6em; vertical-align: top; }
th { background: #f3f5f8; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.missing td { color: #999; font-style: italic; }
tr.head td { background: #fdf1f1; }
ul.reasons { margin: 0; padding-left: 1.1em; }
.note { background: #fff7e0; border-left: 4px solid #e0a800; padding: .4em .8em; }
.meta { color: #555; }
img { max-width: 100%; border: 1px solid #eee; }
.cards { display: flex; flex-wrap: wrap; gap: .8em; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: .5em .9em; min-width: 9em; }
.card b { display: block; font-size: 1.35em; }
"""


def render_html(report: WorkdirReport) -> str:
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>curate report: {_e(report.workdir.name)}</title>",
        f"<style>{_CSS}</style>", "</head>", "<body>",
        "<h1>curate report</h1>",
        f'<p class="meta">Work directory <code>{_e(report.workdir.resolve())}</code> · written '
        f"{_dt.datetime.now().astimezone().isoformat(timespec='seconds')}"
        f"{_metadata_line(report)}{_sampling_line(report)}</p>",
    ]
    parts += [f'<p class="note" data-note="{i}">{_e(note)}</p>'
              for i, note in enumerate(report.notes)]
    parts += _cards(report)
    parts += ['<h2 id="flow">Row flow</h2>',
              "<p>Rows into and out of every stage; the dropped rows by reason add up to "
              "rows in − rows out.</p>", _flow_table(report)]
    parts += _img(report, CHART_FLOW, "Row flow through the stages")
    parts += ['<h2 id="balancing">Balancing</h2>']
    if any(lang.before is not None for lang in report.languages):
        parts += ["<p>Matched texts per metadata entry, by rank, on log-log axes: before "
                  "balancing (the matched pool, <code>counts/</code>) and after (the curated "
                  "rows, <code>curated/</code>). Entries matched t times or more (the head) "
                  "are sampled down to about t; the tail is kept. Entries with no match are "
                  "not drawn.</p>"]
        parts += _img(report, CHART_RANK, "Matches per entry by rank, before and after")
        parts += ['<p id="keep-rule">How a pair is kept (ALGORITHM.md §5): each entry e a text '
                  "matches has p<sub>e</sub> = 1 when it is a tail entry (matched fewer than t "
                  "times) and t / count<sub>e</sub> when it is a head entry; the pair is kept "
                  "with probability 1 − ∏(1 − p<sub>e</sub>) over its entries. So a text that "
                  "also matches a tail entry is always kept, and a head entry keeps about t "
                  "texts of its own plus those kept for another entry: its count after "
                  "balancing can stay above t.</p>"]
        parts += ["<p>The share of all matches that falls on head entries (count before "
                  "balancing ≥ t) and on tail entries.</p>"]
        parts += _img(report, CHART_HEAD_TAIL, "Head and tail shares")
        parts += ["<p>Which t? The matches the keep rule keeps in expectation, "
                  "Σ<sub>e</sub> min(count<sub>e</sub>, t), for candidate t, from the counts "
                  "alone (texts that match several entries make the curated set somewhat "
                  "larger; <code>--target-size</code> finds t from the rows themselves).</p>",
                  *_size_table(report)]
        parts += _img(report, CHART_SIZE, "Expected curated size against t")
    else:
        parts.append('<p class="note">No counts: the per-entry charts need '
                     "<code>counts/</code>.</p>")
    parts += ['<h2 id="languages">Languages</h2>', _language_table(report)]
    parts += ['<h2 id="examples">Kept and dropped, by head entry</h2>', *_example_table(report)]
    parts += ['<h2 id="domains">Image hosts</h2>', *_domain_table(report)]
    parts += ['<h2 id="failed">Failed input files</h2>', *_failed_table(report)]
    parts += ['<h2 id="top">Top entries</h2>', *_top_tables(report)]
    parts += ['<h2 id="details">Stage details</h2>', *_details(report)]
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _metadata_line(report: WorkdirReport) -> str:
    metadata = report.counts_summary.get("metadata") or next(
        ((s.report.details.get("metadata") or {}) for s in report.stages
         if s.report and s.report.details.get("metadata")), {})
    if not metadata:
        return ""
    return (f" · metadata {_e(metadata.get('source', '?'))}, "
            f"{_fmt(metadata.get('entries'))} entries in "
            f"{len(metadata.get('languages') or {}) or 1} language(s), fingerprint "
            f"<code>{_e(str(metadata.get('fingerprint', ''))[:12])}</code>")


def _sampling_line(report: WorkdirReport) -> str:
    s = report.sample_summary
    if not s:
        return ""
    line = f" · sampling unit {_e(s.get('unit'))}, seed {_e(s.get('seed'))}"
    if s.get("target_size") is not None:
        line += f", target size {_fmt(s['target_size'])}"
    if s.get("expected_size") is not None:
        line += f", expected size {_fmt(s['expected_size'])}"
    return line


def _cards(report: WorkdirReport) -> list[str]:
    def out(stage):
        r = report.stage(stage).report
        return r.rows_out if r else None
    cards = [("pairs extracted", out("extract")), ("distinct pairs", out("dedup")),
             ("matched pairs", out("match")), ("curated pairs", out("sample"))]
    matched, curated = out("match"), out("sample")
    if matched and curated is not None:
        cards.append(("curated / matched", curated / matched))
    heads = [lang.head_shares() for lang in report.languages[:1]]
    if heads and heads[0][0] is not None:
        lang = report.languages[0]
        cards.append((f"head share of matches ({lang.code}, before)", heads[0][0]))
        if heads[0][1] is not None:
            cards.append((f"head share of matches ({lang.code}, after)", heads[0][1]))
    items = []
    for label, value in cards:
        shown = "—" if value is None else (f"{value:.1%}" if isinstance(value, float)
                                           else f"{value:,}")
        items.append(f'<div class="card"><b>{shown}</b>{_e(label)}</div>')
    return ['<div class="cards">', *items, "</div>"]


def _fmt(value, kind: str = "int") -> str:
    if value is None:
        return "—"
    if kind == "pct":
        return f"{value:.1%}"
    if kind == "float":
        return f"{value:,.3f}"
    if kind == "id":
        return str(value)
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def _cell(key: str, value, kind: str = "int") -> str:
    """A table cell: the number shown, and exactly as read in data-value."""
    raw = "" if value is None else (repr(float(value)) if kind in ("pct", "float")
                                    else str(value))
    css = ' class="num"' if kind != "text" else ""
    shown = _e(value) if kind == "text" else _fmt(value, kind)
    return f'<td{css} data-key="{_e(key)}" data-value="{_e(raw)}">{shown}</td>'


def _flow_table(report: WorkdirReport) -> str:
    rows = ['<table id="row-flow">',
            "<tr><th>stage</th><th>output</th><th>rows in</th><th>rows out</th>"
            "<th>dropped (by reason)</th><th>kept</th><th>seconds</th></tr>"]
    for s in report.stages:
        if not s.report:
            rows.append(f'<tr class="missing" data-row="{s.stage}"><td>{s.stage}</td>'
                        f"<td><code>{s.directory}/</code></td><td colspan=5 "
                        f'data-key="status" data-value="{s.status}">{s.status}</td></tr>')
            continue
        r = s.report
        reasons = "".join(f'<li data-key="dropped:{_e(k)}" data-value="{_e(v)}">{_e(k)}: '
                          f"{v:,}</li>" for k, v in r.dropped.items())
        dropped = f'<ul class="reasons">{reasons}</ul>' if reasons else "—"
        kept = r.rows_out / r.rows_in if r.rows_in else None
        rows.append(f'<tr data-row="{s.stage}"><td>{s.stage}</td>'
                    f"<td><code>{s.directory}/</code></td>"
                    f'{_cell("rows_in", r.rows_in)}{_cell("rows_out", r.rows_out)}'
                    f"<td>{dropped}</td>{_cell('kept_share', kept, 'pct')}"
                    f'<td class="num">{r.seconds:.1f}</td></tr>')
    rows.append("</table>")
    return "\n".join(rows)


LANGUAGE_COLUMNS = [   # (key, header, kind); keys of counts/__curate__/summary.json unless noted
    ("texts", "texts", "int"), ("matched_texts", "matched texts", "int"),
    ("total_matches", "matches", "int"),
    ("mean_matches_per_matched_text", "matches per matched text", "float"),
    ("entries", "entries", "int"), ("entries_with_zero_matches", "entries matched by none", "int"),
    ("t", "t", "int"), ("head_entries", "head entries", "int"),
    ("head_share_of_matches", "head share", "pct"), ("tail_proportion", "tail proportion", "pct"),
]


def _language_table(report: WorkdirReport) -> str:
    if not report.languages:
        return '<p class="note">No languages: <code>counts/</code> and <code>curated/</code> ' \
               "are both missing.</p>"
    header = "".join(f"<th>{_e(h)}</th>" for _k, h, _kind in LANGUAGE_COLUMNS)
    rows = [f'<p>Numbers of <code>counts/{SUMMARY_FILE}</code>, with head and tail at the t '
            "the sample stage used (the count stage's t where nothing was sampled), and the "
            "rows the sample kept per language; the language mix is each language's share "
            "of all texts and of the curated rows.</p>",
            '<table id="languages">',
            f"<tr><th>language</th>{header}<th>sample t</th><th>kept rows</th>"
            "<th>kept / matched texts</th><th>share of texts</th>"
            "<th>share of curated</th></tr>"]
    all_texts = sum(lang.summary.get("texts") or 0 for lang in report.languages)
    all_kept = sum(lang.kept_rows or 0 for lang in report.languages)
    for lang in report.languages:
        cells = "".join(_cell(key, lang.summary.get(key), kind)
                        for key, _h, kind in LANGUAGE_COLUMNS)
        matched = lang.summary.get("matched_texts")
        kept_share = lang.kept_rows / matched if matched and lang.kept_rows is not None else None
        texts = lang.summary.get("texts")
        rows.append(f'<tr data-row="{_e(lang.code)}"><td><b>{_e(lang.code)}</b></td>{cells}'
                    f"{_cell('sample_t', lang.t_sample)}{_cell('kept_rows', lang.kept_rows)}"
                    f"{_cell('kept_share', kept_share, 'pct')}"
                    f"{_cell('text_share', _fraction(texts, all_texts), 'pct')}"
                    f"{_cell('curated_share', _fraction(lang.kept_rows, all_kept), 'pct')}</tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _fraction(part: int | None, whole: int) -> float | None:
    return part / whole if part is not None and whole else None


def _size_table(report: WorkdirReport) -> list[str]:
    lang = next((lang for lang in report.languages if lang.before is not None
                 and lang.matches), None)
    if lang is None:
        return []
    rows = [f'<table id="size-by-t"><tr><th>t ({_e(lang.code)})</th>'
            "<th>expected matches kept</th><th>share of all matches</th></tr>"]
    ts = size_grid(lang.before, lang.t)
    total = lang.matches
    for t, kept in zip(ts.tolist(), kept_matches(lang.before, ts).tolist()):
        mark = ' class="head"' if t == lang.t else ""
        label = f"{t:,} (the sample's)" if t == lang.t else f"{t:,}"
        rows.append(f'<tr{mark} data-row="{t}"><td>{label}</td>{_cell("kept", kept)}'
                    f'{_cell("share", kept / total, "pct")}</tr>')
    rows.append("</table>")
    return rows


def _table(intro: str, table_id: str, headers: list[str], rows: list[str]) -> list[str]:
    """A paragraph, then a table of `rows` (each a `<tr ...>...</tr>`) under `headers`."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    return [f"<p>{intro}</p>", f'<table id="{table_id}">', f"<tr>{head}</tr>", *rows,
            "</table>"]


def _example_table(report: WorkdirReport) -> list[str]:
    if not report.examples:
        return ['<p class="note">No head entry: with this t the sample kept every matched '
                "pair of the most matched entries.</p>"]
    def cell(texts):
        return '<td><ul class="reasons">' + "".join(f"<li>{_e(t)}</li>" for t in texts) + \
            "</ul></td>"

    return _table("For the most matched head entries: texts the sample kept and texts it "
                  "dropped (a few of each).", "examples", ["entry", "kept", "dropped"],
                  [f'<tr data-row="{_e(code)}:{_e(entry)}"><td><b>{_e(entry)}</b> '
                   f"({_e(code)})</td>{cell(kept)}{cell(dropped)}</tr>"
                   for code, entry, kept, dropped in report.examples])


def _domain_table(report: WorkdirReport) -> list[str]:
    if not report.domains:
        return ['<p class="note">No curated rows: the hosts need <code>curated/</code>.</p>']
    total = report.curated_rows
    return _table(f"The {len(report.domains)} image hosts with the most curated rows (of "
                  f"{total:,}).", "domains", ["host", "rows", "share"],
                  [f'<tr data-row="{_e(host)}"><td>{_e(host)}</td>{_cell("rows", n)}'
                   f'{_cell("share", n / total if total else None, "pct")}</tr>'
                   for host, n in report.domains])


def _failed_table(report: WorkdirReport) -> list[str]:
    if not report.failed_files:
        return ["<p>Every input file was read completely.</p>"]
    shown = report.failed_inputs[:FAILED_SHOWN]
    return _table(f"{report.failed_files:,} input files could not be read completely; "
                  f"{len(shown)} shown, all in <code>pairs/__curate__/errors</code>.", "failed",
                  ["input file", "reason"],
                  [f'<tr data-row="{_e(name)}"><td><code>{_e(name)}</code></td>'
                   f'{_cell("reason", reason, "text")}</tr>' for name, reason in shown])


def _top_tables(report: WorkdirReport) -> list[str]:
    with_top = [lang for lang in report.languages if lang.top]
    if not with_top:
        return ['<p class="note">No entry counts: they need <code>counts/</code>.</p>']
    parts = [f"<p>The {TOP_ENTRIES} entries with most matches in each language, before and "
             "after balancing; head entries (count ≥ t) are shaded.</p>"]
    for i, lang in enumerate(with_top):
        open_ = " open" if i < RANK_PANELS else ""
        rows = [f"<details{open_}><summary><b>{_e(lang.code)}</b> (t = {_fmt(lang.t)})"
                "</summary>", f'<table id="top-{_e(lang.code)}">',
                "<tr><th>rank</th><th>entry id</th><th>entry</th><th>before</th>"
                "<th>after</th><th>after / before</th></tr>"]
        for rank, (entry_id, entry, before, after) in enumerate(lang.top, 1):
            head = lang.t is not None and before >= lang.t
            ratio = after / before if after is not None and before else None
            rows.append(f'<tr data-row="{entry_id}"{" class=head" if head else ""}>'
                        f'<td class="num">{rank}</td>{_cell("entry_id", entry_id, "id")}'
                        f'{_cell("entry", entry, "text")}{_cell("before", before)}'
                        f'{_cell("after", after)}{_cell("after_share", ratio, "pct")}</tr>')
        rows += ["</table>", "</details>"]
        parts.append("\n".join(rows))
    return parts


def _details(report: WorkdirReport) -> list[str]:
    parts = []
    for s in report.stages:
        if not s.report:
            continue
        details = {k: v for k, v in s.report.details.items() if k != "metadata"}
        parts.append(f"<details><summary>{s.stage} (<code>{s.directory}/{REPORT_FILE}</code>)"
                     f"</summary><pre>{_e(json.dumps(details, indent=2, ensure_ascii=False))}"
                     "</pre></details>")
    return parts or ["<p>No stage reports.</p>"]


def _img(report: WorkdirReport, name: str, alt: str) -> list[str]:
    return [f'<p><img src="{name}" alt="{_e(alt)}"></p>']


# ---------------------------------------------------------------------------------------
# The terminal

def format_terminal(report: WorkdirReport) -> str:
    """The key numbers as two compact tables, and where the page is."""
    flow = [("stage", "output", "rows in", "rows out", "dropped")]
    for s in report.stages:
        if s.report:
            r = s.report
            flow.append((s.stage, f"{s.directory}/", f"{r.rows_in:,}", f"{r.rows_out:,}",
                         ", ".join(f"{k} {v:,}" for k, v in r.dropped.items()) or "-"))
        else:
            flow.append((s.stage, f"{s.directory}/", "", "", s.status))
    lines = [_text_table(flow, right={2, 3}), ""]
    langs = [("lang", "texts", "matched", "entries", "t", "head", "head share",
              "tail prop", "kept")]
    for lang in report.languages[:TERMINAL_LANGUAGES]:
        s = lang.summary
        t = _fmt(lang.t)   # the sample's t, the one its numbers are at
        langs.append((lang.code, _fmt(s.get("texts")), _fmt(s.get("matched_texts")),
                      _fmt(s.get("entries")), t, _fmt(s.get("head_entries")),
                      _fmt(s.get("head_share_of_matches"), "pct"),
                      _fmt(s.get("tail_proportion"), "pct"), _fmt(lang.kept_rows)))
    if len(langs) > 1:
        lines.append(_text_table(langs, right=set(range(1, 9))))
        more = len(report.languages) - TERMINAL_LANGUAGES
        if more > 0:
            lines.append(f"... and {more} more languages on the page")
        lines.append("")
    lines += [f"note: {note}" for note in report.notes]
    lines.append(f"report: {report.index}")
    return "\n".join(lines)


def _text_table(rows: list[tuple[str, ...]], right: set[int]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.rjust(w) if i in right else c.ljust(w)
                               for i, (c, w) in enumerate(zip(row, widths))).rstrip()
                     for row in rows)
