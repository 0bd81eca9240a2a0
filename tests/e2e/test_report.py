"""`curate report` on a real `curate run` work directory: the page's numbers against the
stage reports, the summaries and the curated Parquet; the PNGs it links; the terminal
table; a missing stage; the user errors."""
from __future__ import annotations

import contextlib
import html
import io
import json
import os
import shutil
import struct
import subprocess
import sys
from html.parser import HTMLParser
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from browser_helpers import Browser, chromium
from cli_helpers import assert_verified, run_cli
from conftest import needed_tool
from curate import api
from curate.stages.io import ERRORS_DIR, read_report

STAGES = [("extract", "pairs"), ("dedup", "dedup"), ("match", "matched"), ("count", "counts"),
          ("sample", "curated")]
CHARTS = {"counts_by_rank.png", "head_tail.png", "row_flow.png", "size_by_t.png"}
T = 5   # small enough that the sample's most matched entry is a head entry


class Page(HTMLParser):
    """The page's numbers: (table id, row, key) -> data-value, and the images it shows."""

    def __init__(self, text: str):
        super().__init__()
        self.table = self.row = None
        self.values: dict[tuple, str] = {}
        self.rows: dict[str, list[str]] = {}
        self.images: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.table = attrs.get("id")
        elif tag == "tr" and "data-row" in attrs:
            self.row = attrs["data-row"]
            self.rows.setdefault(self.table, []).append(self.row)
        elif tag == "img":
            self.images.append(attrs["src"])
        if "data-key" in attrs:
            self.values[(self.table, self.row, attrs["data-key"])] = attrs["data-value"]

    def handle_endtag(self, tag):
        if tag == "table":
            self.table = self.row = None


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def workdir(spark, tmp_path_factory):
    work = tmp_path_factory.mktemp("work")
    assert run_cli("run", "-o", str(work), "--t", str(T)) == 0
    assert_verified(work)
    return work


@pytest.fixture(scope="module")
def rendered(workdir):
    """`curate report WORKDIR` once, with what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = run_cli("report", str(workdir))
    assert code == 0
    directory = workdir / "report"
    text = (directory / "index.html").read_text("utf-8")
    return SimpleNamespace(dir=directory, html=text, page=Page(text), stdout=out.getvalue())


def curated_bincounts(workdir, sizes: dict[str, int]) -> dict[str, np.ndarray]:
    curated = pd.read_parquet(workdir / "curated", columns=["lang", "matched_entry_ids"])
    return {lang: np.bincount(np.concatenate([np.asarray(ids, dtype=np.int64) for ids in
                                              curated.matched_entry_ids[curated.lang == lang]]
                                             or [np.zeros(0, np.int64)]), minlength=size)
            for lang, size in sizes.items()}


def count_vectors(workdir) -> dict[str, np.ndarray]:
    counts = pd.read_parquet(workdir / "counts", columns=["lang", "entry_id", "count"])
    vectors = {}
    for lang, rows in counts.groupby("lang"):
        vectors[lang] = np.zeros(rows.entry_id.max() + 1, dtype=np.int64)
        vectors[lang][rows.entry_id.to_numpy()] = rows["count"].to_numpy()
    return vectors


def test_the_page_holds_every_stage_report(workdir, rendered):
    values = rendered.page.values
    reports = {stage: read_report(str(workdir / name)) for stage, name in STAGES}
    assert reports["match"].dropped and reports["sample"].dropped["not_sampled"] > 0
    for stage, report in reports.items():
        assert values[("row-flow", stage, "rows_in")] == str(report.rows_in)
        assert values[("row-flow", stage, "rows_out")] == str(report.rows_out)
        for reason, n in report.dropped.items():
            assert values[("row-flow", stage, f"dropped:{reason}")] == str(n)
    shown = {key[2] for key in values if key[0] == "row-flow" and key[2].startswith("dropped:")}
    assert shown == {f"dropped:{r}" for report in reports.values() for r in report.dropped}
    assert rendered.page.rows["row-flow"] == [stage for stage, _name in STAGES]
    assert 'class="note"' not in rendered.html   # nothing missing


# What the browser shows: each cell with a number, its text and exact value, per table/row.
CELLS_JS = """JSON.stringify([...document.querySelectorAll('td.num[data-key]')].map(td => [
  td.closest('table').id, td.closest('tr').dataset.row, td.dataset.key, td.dataset.value,
  td.innerText.trim()]))"""
IMAGES_JS = """JSON.stringify([...document.images].map(i => [i.getAttribute('src'), i.complete,
  i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().width]))"""
CARDS_JS = """JSON.stringify(Object.fromEntries([...document.querySelectorAll('.card')].map(
  c => [c.childNodes[1].textContent, c.querySelector('b').innerText])))"""


@pytest.fixture(scope="module")
def in_browser(rendered, tmp_path_factory):
    """The report as headless Chromium shows it: images, numeric cells and cards."""
    binary = needed_tool(chromium() or __import__("pathlib").Path("/usr/bin/chromium"),
                         "install Debian's chromium (scripts/setup.sh --test does)")
    browser = Browser(binary, tmp_path_factory.mktemp("chromium-profile"))
    try:
        tab = browser.open((rendered.dir / "index.html").as_uri())
        seen = SimpleNamespace(images=json.loads(tab.evaluate(IMAGES_JS)),
                               cells=json.loads(tab.evaluate(CELLS_JS)),
                               cards=json.loads(tab.evaluate(CARDS_JS)))
        tab.screenshot(rendered.dir.parent / "report-screenshot.png")
    finally:
        browser.close()
    return seen


def shown_number(text: str) -> float:
    """A number as the page prints it: 1,234 / 12.5% / 0.123."""
    return float(text[:-1].replace(",", "")) / 100 if text.endswith("%") else \
        float(text.replace(",", ""))


def test_in_a_browser_every_image_loads(in_browser):
    assert {src for src, *_ in in_browser.images} == CHARTS
    for src, complete, width, height, shown_width in in_browser.images:
        assert complete and width >= 400 and height >= 150 and shown_width > 0, src


def test_in_a_browser_the_numbers_agree_with_the_summaries(workdir, in_browser):
    """Every number a user reads in a table is the value behind it (rounded as shown),
    and the cards repeat the stage reports and the languages table."""
    cells = {(table, row, key): (value, text) for table, row, key, value, text
             in in_browser.cells}
    assert len(cells) > 50
    for (table, row, key), (value, text) in cells.items():
        if value == "":
            assert text == "—", (table, row, key)
        else:
            assert shown_number(text) == pytest.approx(float(value), abs=0.0005, rel=0.001), \
                (table, row, key, value, text)
    cards = in_browser.cards
    for label, name in [("pairs extracted", "pairs"), ("distinct pairs", "dedup"),
                        ("matched pairs", "matched"), ("curated pairs", "curated")]:
        assert cards[label] == f"{read_report(str(workdir / name)).rows_out:,}"
    en = json.loads((workdir / "counts" / "__curate__/summary.json").read_text())["languages"]["en"]
    assert en["t"] == T and en["head_entries"] >= 1
    assert cards["head share of matches (en, before)"] == \
        cells[("languages", "en", "head_share_of_matches")][1] == \
        f"{en['head_share_of_matches']:.1%}"


def test_every_chart_it_shows_is_a_png(rendered):
    assert set(rendered.page.images) == CHARTS
    for name in rendered.page.images:
        path = rendered.dir / name
        width, height = png_size(path)
        assert width >= 400 and height >= 150
        with Image.open(path) as image:
            image.verify()
            assert image.format == "PNG" and image.size == (width, height)


def test_the_language_table_is_the_count_summary(workdir, rendered):
    values, rows = rendered.page.values, rendered.page.rows
    summary = json.loads((workdir / "counts" / "__curate__/summary.json").read_text())["languages"]
    sample = json.loads((workdir / "curated" / "__curate__/summary.json").read_text())
    curated = pd.read_parquet(workdir / "curated", columns=["lang"])
    assert sorted(rows["languages"]) == sorted(summary) == ["en"]
    for lang, numbers in summary.items():
        assert numbers["t"] == T and numbers["head_entries"] >= 1
        for key, expected in numbers.items():
            shown = values[("languages", lang, key)]
            assert (float(shown) if isinstance(expected, float) else int(shown)) == expected
        assert int(values[("languages", lang, "sample_t")]) == sample["t"][lang]
        assert int(values[("languages", lang, "kept_rows")]) == int((curated.lang == lang).sum())
        # the language mix: shares of all texts and of the curated rows
        assert float(values[("languages", lang, "text_share")]) == pytest.approx(
            numbers["texts"] / sum(n["texts"] for n in summary.values()))
        assert float(values[("languages", lang, "curated_share")]) == pytest.approx(
            (curated.lang == lang).mean())


def test_hosts_failed_inputs_and_the_keep_rule_are_on_the_page(workdir, rendered, tmp_path,
                                                                 capsys, data_dir):
    """The curated set's top image hosts (counted from its urls), the keep rule beside the
    rank chart, and the input files extract could not read, named with their reasons."""
    from collections import Counter
    from urllib.parse import urlsplit

    values, rows = rendered.page.values, rendered.page.rows
    urls = pd.read_parquet(workdir / "curated", columns=["url"]).url
    hosts = Counter(urlsplit(u).hostname for u in urls).most_common(10)
    assert rows["domains"] == [host for host, _n in hosts]
    for host, n in hosts:
        assert int(values[("domains", host, "rows")]) == n
    text = (workdir / "report" / "index.html").read_text("utf-8")
    assert 'id="keep-rule"' in text and "1 − ∏(1 − p<sub>e</sub>)" in text
    assert "Every input file was read completely." in text
    # a work directory whose extract met broken files names them
    broken = tmp_path / "broken"
    assert run_cli("run", str(data_dir / "edgecases"), "-o", str(broken),
                   "--max-failed-fraction", "1") == 0
    assert_verified(broken)   # every broken input is in errors or read
    capsys.readouterr()
    assert run_cli("report", str(broken)) == 0
    page = Page((broken / "report" / "index.html").read_text("utf-8"))
    errors = pd.read_parquet(broken / "pairs" / ERRORS_DIR).drop_duplicates("path")
    assert sorted(page.rows["failed"]) == sorted(errors.path)
    for name, reason in zip(errors.path, errors.reason):
        assert page.values[("failed", name, "reason")] == reason


def test_kept_and_dropped_examples_of_head_entries(workdir, rendered):
    """For the most matched head entries, texts that are kept are curated rows with the
    entry, and texts that are dropped are matched rows with it that were not curated."""
    import re

    text = (workdir / "report" / "index.html").read_text("utf-8")
    table = text[text.index('<table id="examples">'):]
    table = table[:table.index("</table>")]
    curated = pd.read_parquet(workdir / "curated")
    matched = pd.read_parquet(workdir / "matched")
    names = dict(zip(*[pd.read_parquet(workdir / "counts")[c] for c in ("entry", "entry_id")]))
    rows = re.findall(r'<tr data-row="en:([^"]*)">(.*?)</tr>', table)
    assert rows, "the bundled sample at t = 5 has a head entry"
    for entry, cells in rows:
        kept_cell, dropped_cell = re.findall(r"<ul[^>]*>(.*?)</ul>", cells)
        kept = re.findall(r"<li>(.*?)</li>", kept_cell)
        dropped = re.findall(r"<li>(.*?)</li>", dropped_cell)
        entry_id = names[html.unescape(entry)]
        has = lambda frame: frame[[entry_id in ids for ids in frame.matched_entry_ids]]
        assert kept and set(map(html.unescape, kept)) <= set(has(curated).text)
        assert dropped and not set(map(html.unescape, dropped)) & set(has(curated).text)
        assert set(map(html.unescape, dropped)) <= set(has(matched).text)


def test_which_t_the_expected_size_against_t_from_the_counts(workdir, rendered):
    """The size-against-t table: Σ_e min(count_e, t) for log-spaced t, the sample's t
    among them, computed here from the count vectors."""
    values, rows = rendered.page.values, rendered.page.rows
    counts = count_vectors(workdir)["en"]
    ts = [int(t) for t in rows["size-by-t"]]
    assert T in ts and ts == sorted(ts) and ts[0] == 1 and ts[-1] > counts.max()
    for t in ts:
        want = int(np.minimum(counts, t).sum())
        assert int(values[("size-by-t", str(t), "kept")]) == want
    assert int(values[("size-by-t", str(ts[-1]), "kept")]) == int(counts.sum())


def test_one_t_per_language_on_the_page_the_samples(workdir, tmp_path, capsys):
    """Re-sampled at another t than count's, the page's languages table, cards and terminal
    all describe head and tail at the sample's t (none at count's)."""
    from curate.core.sampling import language_summary

    again = tmp_path / "again"
    shutil.copytree(workdir, again, ignore=shutil.ignore_patterns("report"))
    t = 2   # one more head entry than at count's T = 5 on the bundled sample
    assert run_cli("sample", str(again / "matched"), "--counts", str(again / "counts"),
                   "-o", str(again / "curated"), "--t", str(t)) == 0
    capsys.readouterr()
    assert run_cli("report", str(again)) == 0
    printed = capsys.readouterr().out
    values = Page((again / "report" / "index.html").read_text("utf-8")).values
    want = language_summary(count_vectors(again)["en"], t)
    assert int(values[("languages", "en", "t")]) == t == int(values[("languages", "en",
                                                                     "sample_t")])
    assert int(values[("languages", "en", "head_entries")]) == want["head_entries"] != int(
        json.loads((again / "counts" / "__curate__/summary.json").read_text())["languages"]["en"][
            "head_entries"])
    assert float(values[("languages", "en", "head_share_of_matches")]) == pytest.approx(
        want["head_share_of_matches"])
    line = next(row for row in printed.splitlines() if row.startswith("en "))
    assert f" {t} " in f" {line} " and f"{want['head_entries']:,}" in line


def test_after_balancing_is_a_bincount_of_the_curated_rows(workdir, rendered, tmp_path):
    values, rows = rendered.page.values, rendered.page.rows
    before = count_vectors(workdir)
    after = curated_bincounts(workdir, {lang: len(v) for lang, v in before.items()})
    for lang, vector in before.items():
        top = np.argsort(-vector, kind="stable")[:20]
        top = top[vector[top] > 0]
        assert [int(r) for r in rows[f"top-{lang}"]] == top.tolist()
        for entry_id in top:
            assert int(values[(f"top-{lang}", str(entry_id), "before")]) == vector[entry_id]
            assert int(values[(f"top-{lang}", str(entry_id), "after")]) == after[lang][entry_id]
    # balancing did cut the head: the most matched entry lost rows
    head = int(np.argmax(before["en"]))
    assert after["en"][head] < before["en"][head]

    # The whole vectors, through the Python API.
    report = api.report(str(workdir), str(tmp_path / "api"))
    assert (tmp_path / "api" / "index.html").is_file()
    for lang in report.languages:
        assert np.array_equal(lang.before, before[lang.code])
        assert np.array_equal(lang.after, after[lang.code])


def test_the_terminal_table_has_the_key_numbers(workdir, rendered):
    lines = rendered.stdout.splitlines()
    for stage, name in STAGES:
        report = read_report(str(workdir / name))
        line = next(line for line in lines if line.split()[:1] == [stage])
        assert f"{report.rows_in:,}" in line and f"{report.rows_out:,}" in line
        for reason, n in report.dropped.items():
            assert f"{reason} {n:,}" in line
    en = json.loads((workdir / "counts" / "__curate__/summary.json").read_text())["languages"]["en"]
    line = next(line for line in lines if line.split()[:1] == ["en"])
    assert line.split()[1:5] == [f"{en['texts']:,}", f"{en['matched_texts']:,}",
                                 f"{en['entries']:,}", str(T)]
    assert lines[-1] == f"report: {workdir / 'report' / 'index.html'}"


def test_a_missing_stage_is_named_and_the_rest_is_shown(workdir, tmp_path, capsys):
    partial = tmp_path / "partial"
    shutil.copytree(workdir, partial, ignore=shutil.ignore_patterns("curated", "report"))
    out = tmp_path / "elsewhere"
    assert run_cli("report", str(partial), "-o", str(out)) == 0
    printed = capsys.readouterr().out
    assert not (partial / "report").exists()
    text = (out / "index.html").read_text("utf-8")
    page = Page(text)
    assert "curated/ is missing" in text and "curated/ is missing" in printed
    assert page.values[("row-flow", "sample", "status")] == "missing"
    match = read_report(str(partial / "matched"))
    assert page.values[("row-flow", "match", "rows_out")] == str(match.rows_out)
    assert page.values[("languages", "en", "kept_rows")] == ""
    assert page.values[("top-en", page.rows["top-en"][0], "after")] == ""
    assert set(page.images) == CHARTS
    assert all(png_size(out / name)[0] > 0 for name in page.images)


def test_outputs_of_another_run_are_stale_not_one_run(workdir, tmp_path, capsys, data_dir):
    """Each stage records the outputs it was made from; after extract is redone on other
    input, dedup/ ... curated/ are an earlier run's: the report marks them stale (all of
    them, downstream of the change) and shows none of their numbers as this run's."""
    mixed = tmp_path / "mixed"
    shutil.copytree(workdir, mixed, ignore=shutil.ignore_patterns("report"))
    reports = {name: read_report(str(mixed / name))
               for name in ("pairs", "dedup", "matched", "counts", "curated")}
    assert reports["dedup"].made_from == {"extract": reports["pairs"].id}
    assert reports["curated"].made_from == {"match": reports["matched"].id,
                                            "count": reports["counts"].id}
    other = data_dir / "commoncrawl" / "CC-MAIN-2020-34-sample.warc.gz"
    assert run_cli("extract", str(other), "-o", str(mixed / "pairs")) == 0
    capsys.readouterr()
    assert run_cli("report", str(mixed)) == 0
    printed = capsys.readouterr().out
    page = Page((mixed / "report" / "index.html").read_text("utf-8"))
    for stage, directory in (("dedup", "dedup"), ("match", "matched"), ("count", "counts"),
                             ("sample", "curated")):
        assert page.values[("row-flow", stage, "status")] == "stale"
        assert f"{directory}/ is stale" in printed
    assert page.values[("row-flow", "extract", "rows_out")] == str(
        read_report(str(mixed / "pairs")).rows_out)
    # re-running the later stages makes the directory one run again
    for args in (["dedup", "pairs", "-o", "dedup"], ["match", "dedup", "-o", "matched"],
                 ["count", "matched", "-o", "counts"],
                 ["sample", "matched", "--counts", "counts", "-o", "curated"]):
        command, *rest = args
        assert run_cli(command, *[str(mixed / a) if a in ("pairs", "dedup", "matched",
                                                           "counts", "curated") else a
                                  for a in rest]) == 0
    capsys.readouterr()
    assert run_cli("report", str(mixed)) == 0
    assert "stale" not in capsys.readouterr().out


@pytest.mark.parametrize("make", [lambda tmp: tmp / "nowhere", lambda tmp: tmp])
def test_not_a_workdir_is_one_line_and_exit_2(make, tmp_path, capsys):
    code = run_cli("report", str(make(tmp_path)))
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("curate: error: ")
    assert str(tmp_path) in err and "Traceback" not in err
    assert not (tmp_path / "report").exists()


def test_without_matplotlib_it_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    for module in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, module, None)   # import raises ImportError
    assert run_cli("report", str(tmp_path)) == 2
    assert capsys.readouterr().err == ("curate: error: curate report needs matplotlib: "
                                       "pip install 'curate[report]'\n")


def test_charts_are_drawn_without_the_configured_display_backend(workdir, tmp_path):
    """A display backend that breaks on import: the report must not load it (Agg only)."""
    (tmp_path / "display_backend.py").write_text("raise RuntimeError('display backend')\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(MPLBACKEND="module://display_backend",
               PYTHONPATH=os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "curate.cli", "report", str(workdir), "-o",
                           str(tmp_path / "out")], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert {p.name for p in (tmp_path / "out").iterdir()} == CHARTS | {"index.html"}


def test_report_is_a_command_with_an_example(capsys):
    assert run_cli("--help") == 0
    listed = capsys.readouterr().out
    assert any(line.split()[:1] == ["report"] for line in listed.splitlines())
    assert run_cli("report", "--help") == 0
    assert "Example:  curate report work" in capsys.readouterr().out
