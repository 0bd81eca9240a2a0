"""The report page is inert whatever the data says: every value read from a work directory
(texts, entries, language codes, hosts, file paths, error reasons, notes, report details,
the metadata's source, the work directory's name) reaches the HTML escaped. The page is
parsed with the standard library's HTMLParser, which builds what a browser would from the
same bytes: an escape that failed shows up as an element or attribute of its own."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from curate.report import CHARTS, Language, Stage, WorkdirReport, render_html
from curate.stages.io import StageReport
from html_helpers import PAGE_ATTRIBUTES, PAGE_TAGS, Parsed

# Each payload tries another way out: an element, an attribute (both quotes), a raw-text
# element's end (textarea, style, title), a comment, a javascript: URL, a character
# reference that must stay text.
PAYLOADS = [
    '<script>window.__pwned = 1; document.title = "pwned"</script>',
    '" onmouseover="window.__pwned = 1" data-x="',
    "' onmouseover='window.__pwned = 1' data-x='",
    '</textarea><img src=x onerror="window.__pwned = 1">',
    '</style><script>window.__pwned = 1</script><style>',
    '</title><svg onload="window.__pwned = 1"></svg>',
    '</pre><iframe src="javascript:window.__pwned = 1"></iframe>',
    'javascript:window.__pwned = 1',
    '<!-- --><a href="javascript:window.__pwned = 1">x</a>',
    '&lt;b&gt; &amp;amp; &#x3C;',
    r'$\frac{$ (malformed mathtext)',
]


def hostile(field: str) -> str:
    """One string holding every payload, tagged with the field it is put in."""
    return f"[{field}] " + " ".join(PAYLOADS)


def hostile_report(root: Path) -> WorkdirReport:
    """A report of a work directory whose every string from data is hostile."""
    def stage_report(stage, directory):
        return StageReport(stage, str(root / directory), rows_in=10, rows_out=7,
                           dropped={hostile(f"reason {stage}"): 3},
                           details={"note": hostile(f"details {stage}"),
                                    "failed_files": [{"path": hostile("details path"),
                                                      "reason": hostile("details reason")}]})

    stages = [Stage(stage, directory, root / directory, stage_report(stage, directory), "ok")
              for stage, directory in [("extract", "pairs"), ("dedup", "dedup"),
                                       ("match", "matched"), ("count", "counts"),
                                       ("sample", "curated")]]
    code = hostile("lang")
    language = Language(code, {"texts": 10, "matched_texts": 7, "total_matches": 9, "t": 2,
                               "entries": 3, "head_entries": 1},
                        before=np.array([5, 3, 1]), after=np.array([2, 2, 1]), kept_rows=4,
                        t_count=2, t_sample=2,
                        top=[(0, hostile("entry 0"), 5, 2), (1, hostile("entry 1"), 3, 2)])
    report = WorkdirReport(
        root, root / "report", stages, [language],
        counts_summary={"metadata": {"source": hostile("metadata source"), "entries": 3,
                                     "fingerprint": hostile("fingerprint")}},
        sample_summary={"unit": hostile("unit"), "seed": hostile("seed")},
        notes=[hostile("note")])
    report.examples = [(code, hostile("example entry"), [hostile("kept text")],
                        [hostile("dropped text")])]
    report.domains = [(hostile("host"), 4)]
    report.curated_rows = 4
    report.failed_inputs = [(hostile("failed path"), hostile("failed reason"))]
    report.failed_files = 1
    return report


@pytest.fixture
def page(tmp_path):
    # The work directory's own name is data too: it is the page's title.
    root = tmp_path / "work <script>window.__pwned = 1</script> \" ' &amp;"
    report = hostile_report(root)
    return report, render_html(report)


def test_no_element_or_attribute_comes_from_the_data(page):
    report, text = page
    parsed = Parsed(text)
    tags = [tag for tag, _attrs in parsed.elements]
    assert set(tags) <= PAGE_TAGS, set(tags) - PAGE_TAGS
    assert tags.count("style") == 1 and "script" not in tags and "a" not in tags
    for tag, attrs in parsed.elements:
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        assert set(attrs) <= PAGE_ATTRIBUTES, (tag, attrs)
        if "src" in attrs:   # the only sources are the report's own charts
            assert attrs["src"] in CHARTS, attrs
    # (no href among the attributes: nothing on the page is a link, javascript: or other)


def test_every_hostile_value_is_shown_as_the_text_it_was(page):
    report, text = page
    parsed = Parsed(text)
    assert parsed.title == f"curate report: {report.workdir.name}"
    shown = parsed.text
    for field in ["reason extract", "details extract", "details path", "details reason",
                  "lang", "entry 0", "entry 1", "metadata source", "unit", "seed", "note",
                  "example entry", "kept text", "dropped text", "host", "failed path",
                  "failed reason"]:
        value = hostile(field)
        # <pre> holds the details as JSON: its strings are JSON-escaped, not changed
        expected = json.dumps(value, ensure_ascii=False)[1:-1] if field.startswith(
            "details") else value
        assert expected in shown, field
    assert str(report.workdir.resolve()) in shown
    # attribute values survive whole: the row of a table is the entry, the code, the path
    rows = [attrs.get("data-row") for _tag, attrs in parsed.elements]
    assert hostile("lang") in rows and hostile("failed path") in rows
    assert hostile("host") in rows
    values = {attrs.get("data-value") for _tag, attrs in parsed.elements}
    assert {hostile("entry 0"), hostile("entry 1"), hostile("failed reason")} <= values
    keys = {attrs.get("data-key") for _tag, attrs in parsed.elements}
    assert f"dropped:{hostile('reason dedup')}" in keys


def test_in_a_browser_no_injected_script_runs(page, tmp_path):
    """What Chromium makes of the page: the title is the report's and no payload ran (each
    would set window.__pwned or the title; the img's onerror and the svg's onload fire by
    themselves, so an escape that failed would show)."""
    from browser_helpers import Browser, chromium
    from conftest import needed_tool

    report, text = page
    binary = needed_tool(chromium() or Path("/usr/bin/chromium"),
                         "install Debian's chromium (scripts/setup.sh --test does)")
    index = tmp_path / "index.html"
    index.write_text(text, "utf-8")
    browser = Browser(binary, tmp_path / "profile")
    try:
        tab = browser.open(index.as_uri())
        seen = tab.evaluate("JSON.stringify([document.title, typeof window.__pwned, "
                            "document.scripts.length, document.querySelectorAll("
                            "'iframe, svg, a, textarea').length])")
    finally:
        browser.close()
    assert json.loads(seen) == [f"curate report: {report.workdir.name}", "undefined", 0, 0]


def test_the_charts_draw_whatever_the_codes_and_reasons_hold(tmp_path):
    """Language codes and drop reasons reach chart labels, where matplotlib would read
    $...$ as mathtext and stop at a malformed one: they are drawn as they are."""
    from curate.report import _matplotlib

    report = hostile_report(tmp_path / "work")
    malformed = r"$\frac{$"   # short: the hostile strings would not fit a legend
    report.languages[0].code = f"en {malformed}"
    for stage in report.stages:
        stage.report.dropped = {f"reason {malformed}": 3}
    report.output.mkdir(parents=True)
    written = _matplotlib().draw(report)
    assert sorted(p.name for p in written) == sorted(CHARTS)
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)
