"""The extract core on hostile input (issue 17): every generated file of the hostile corpus
(tests/hostile_corpus.py) gives its exact rows or a recorded error with both readers,
bounded in memory and decided by size and structure bounds, never by the clock. The
corpus's shared half (edgecases, webarchives) is read by test_extract_core.py and, with
this half, by tests/e2e/test_hostile.py."""
from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest

from curate.core.extract import fast, html
from curate.core.extract.options import PageOptions
from curate.errors import UserError
from curate.sources.inputs import _expand_local
from curate.sources.local import listed_name, local_path, open_local
from curate.sources.streams import InputUnavailable
from extract_helpers import assert_counters_add_up, extract
from hostile_corpus import HEADER_TOO_LARGE, SMALL, build, gzip_bomb, members, page

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
READERS = ["warcio"] + (["fast"] if fast.AVAILABLE else [])
TESTS = Path(__file__).resolve().parents[1]
# Peak RSS of one Python process reading the whole generated corpus (measured: 260 MB, the
# 200,000-<img> page's tree; a 10 MiB page, max_page_bytes, costs about 20x its size).
MAX_RSS_BYTES = 512 * 1024 * 1024


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    return folder, build(folder)


def check(rows, report, expectation) -> None:
    """rows and report are exactly what the corpus says of the file."""
    assert len(rows) == expectation["rows"]
    for name, value in expectation["counters"].items():
        assert report.counters[name] == value, name
    if expectation["error"] is None:
        assert report.errors == [] and report.counters["files_read"] == 1
    else:
        assert len(report.errors) == 1 and report.counters["files_failed"] == 1
        assert report.errors[0][1].startswith(expectation["error"])
    assert_counters_add_up(report)


@pytest.mark.parametrize("reader", READERS)
def test_every_generated_file_gives_its_rows_or_its_error(corpus, reader):
    folder, expect = corpus
    for name, expectation in expect.items():
        rows, report = extract(os.path.join(str(folder), name), reader=reader)
        check(rows, report, expectation)


def test_control_characters_and_invalid_utf8_are_kept_as_text(corpus):
    folder, _expect = corpus
    rows, _report = extract(folder / "controls.warc")
    # NUL is U+FFFD in HTML; other controls stay in texts (§1 changes only CR and LF);
    # URLs are sent percent-encoded; bytes that are not UTF-8 are U+FFFD.
    assert [r[1:4] for r in rows] == [
        ("http://h.org/c%01%7F.jpg", "bell\x07 nul\ufffd tab\t esc\x1b", "alt"),
        ("http://h.org/%EF%BF%BD%EF%BF%BD.jpg", "bad \ufffd( utf8", "alt")]


@pytest.mark.parametrize("reader", READERS)
def test_a_page_url_that_is_not_utf8_is_read_as_warcio_reads_header_lines(corpus, reader):
    folder, _expect = corpus
    rows, _report = extract(folder / "controls-in-uri.warc.gz", reader=reader)
    # Not UTF-8: the line is Latin-1; a space becomes %20 (warcio's WARC-Target-URI rule).
    assert {r[4] for r in rows} == {"http://h.org/p\x01\x7f\xff\xfe\xc3\xa9%20q"}


def test_peak_memory_of_a_reader_on_the_whole_corpus_is_bounded(corpus):
    """One process reads every generated file (the gzip bomb of 3 GB, the 30 MB page, the
    200,000 images ...) with both readers, in a subprocess with a timeout: it ends, and
    its peak RSS is under MAX_RSS_BYTES. The peak is the process's VmHWM (the high-water
    mark of its own address space): ru_maxrss would not do, since Linux carries the forking
    pytest process's RSS over exec into the child's ru_maxrss (hundreds of MB after the
    sampling tests)."""
    folder, expect = corpus
    script = ("import os, sys\n"
              "from curate.core.extract.records import FileReport, iter_file_pairs\n"
              "for name in sorted(os.listdir(sys.argv[1])):\n"
              "    for reader in sys.argv[2:]:\n"
              "        sum(1 for _ in iter_file_pairs(os.path.join(sys.argv[1], name),\n"
              "                                       FileReport(), reader=reader))\n"
              "print(next(line.split()[1] for line in open('/proc/self/status')\n"
              "           if line.startswith('VmHWM:')))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(TESTS.parent), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", script, str(folder), *READERS], check=True,
                          timeout=300, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True)
    peak = int(done.stdout.split()[-1]) * 1024   # VmHWM is in kB
    assert peak < MAX_RSS_BYTES


# --- header and record bounds --------------------------------------------------------

@pytest.mark.parametrize("reader", READERS)
def test_a_header_line_of_1_gb_after_a_sound_record_is_refused_after_1_mib(tmp_path, reader):
    bomb = tmp_path / "tail.gz"
    gzip_bomb(bomb, 1 << 30, b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://x/")
    sound = members(page("http://h.org/1", SMALL))
    path = tmp_path / "mid.warc.gz"
    path.write_bytes(sound + bomb.read_bytes())
    rows, report = extract(path, reader=reader)
    assert [r[2] for r in rows] == ["first", "second"]
    assert report.errors == [(len(sound), HEADER_TOO_LARGE)]
    assert_counters_add_up(report)


@pytest.mark.parametrize("reader", READERS)
def test_a_record_over_max_record_bytes_ends_the_file_unread(tmp_path, reader):
    head = (b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://x/\r\n"
            b"Content-Type: application/http; msgtype=response\r\nContent-Length: %d\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" % (2 << 30))
    path = tmp_path / "huge.warc.gz"
    gzip_bomb(path, 2 << 30, head)   # an honest 2 GB record of zeros
    rows, report = extract(path, reader=reader)
    assert rows == [] and report.errors == [
        (0, "record too large: Content-Length 2147483648 over max_record_bytes (1073741824)")]
    assert report.counters["records_skipped:too_large_record"] == 1
    assert_counters_add_up(report)


@pytest.mark.parametrize("reader", READERS)
def test_the_header_bound_is_an_option(tmp_path, reader):
    uri = "http://h.org/" + "a" * 5000
    path = tmp_path / "long-uri.warc"
    path.write_bytes(page(uri, SMALL))
    assert len(extract(path, reader=reader)[0]) == 2
    rows, report = extract(path, PageOptions(max_header_bytes=4096), reader=reader)
    assert rows == [] and report.errors == [(0, HEADER_TOO_LARGE.replace("1048576", "4096"))]


# --- structure bounds of a page --------------------------------------------------------

def depth(payload: bytes) -> int:
    """The smallest max_depth the page is not too deep for."""
    low, high = 0, 1 << 20
    while low < high:
        mid = (low + high) // 2
        low, high = (mid + 1, high) if html.too_deep(payload, mid) else (low, mid)
    return low


def test_real_pages_nest_far_below_the_default_depth():
    pages = [gzip.open(p).read() for p in sorted((DATA / "html" / "html").glob("*.html.gz"))]
    assert len(pages) == 181
    # The deepest two nest 51 levels (as counted), 40 times less than the default bound.
    assert not any(html.too_deep(p, 51) for p in pages)
    assert sum(html.too_deep(p, 50) for p in pages) == 2
    assert PageOptions().max_depth == 2048


@pytest.mark.parametrize("body, expected", [
    (b"<div>" * 3000, 3000),
    (b"<div></x>" * 3000, 3000),              # stray end tags close nothing
    (b"<div></div>" * 3000, 1),
    (b"<div/>" * 3000, 3000),                 # HTML ignores the slash ...
    (b"<svg>" + b"<path/>" * 3000, 1),        # ... foreign content does not
    (b"<p><li><td><img><br>" * 3000, 0),      # void, or closed by the next of their kind
    (b"<a>" * 3000, 1),
    (b"<script>" + b"if(a<b)" * 3000 + b"</script><div>", 1),
    (b"<!--" + b"<div>" * 3000 + b"--><div>", 1),
    (b"<div><span><b></div>" * 3000, 0 + 3),  # </div> closes what it holds
])
def test_nesting_depth_is_counted_as_the_tree_builder_nests(body, expected):
    assert depth(body) == expected


def test_the_image_and_text_bounds_are_options(tmp_path):
    path = tmp_path / "p.warc"
    path.write_bytes(page("http://h.org/", SMALL + b'<img src="/c.jpg" alt="third">'))
    rows, report = extract(path, PageOptions(max_images=2, max_text_chars=5))
    assert [r[2] for r in rows] == ["first"]
    assert report.counters["texts_dropped:too_many_images"] == 1
    assert report.counters["texts_dropped:text_too_long"] == 1
    assert_counters_add_up(report)


# --- file names and kinds --------------------------------------------------------------

@pytest.mark.parametrize("raw", [b"/d/plain.warc.gz", "/d/日本語 x.warc".encode(),
                                 b"/d/not-utf8-\xff.warc", b"/d/new\nline%41.warc"])
def test_listed_names_are_the_path_or_a_reversible_file_uri(raw):
    path = os.fsdecode(raw)
    name = listed_name(path)
    assert name.encode("utf-8") and "\n" not in name and local_path(name) == path
    assert (name == path) == (b"\n" not in raw and b"\xff" not in raw)
    assert listed_name(name) == name


def test_a_fifo_is_refused_without_blocking_and_named_explicitly_is_a_user_error(tmp_path):
    fifo = tmp_path / "fifo.warc.gz"
    os.mkfifo(fifo)
    with pytest.raises(InputUnavailable, match="^not a regular file: a FIFO$"):
        open_local(str(fifo))
    with pytest.raises(UserError, match="fifo.warc.gz: not a regular file \\(a FIFO\\)"):
        _expand_local(str(fifo))
    # Found by a directory or a glob, it is listed: its task records it.
    assert _expand_local(str(tmp_path)) == _expand_local(str(tmp_path / "*")) == [str(fifo)]


def test_a_glob_through_a_symlink_loop_ends_and_lists_each_file_once(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("a.warc.gz", "sub/b.warc.gz"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub" / "up").symlink_to("..")
    (tmp_path / "self").symlink_to(".")
    expected = [str(tmp_path / "a.warc.gz"), str(tmp_path / "sub" / "b.warc.gz")]
    assert _expand_local(str(tmp_path / "**" / "*.warc.gz")) == expected
    assert _expand_local(str(tmp_path / "**")) == expected
    assert _expand_local(str(tmp_path / "*")) == expected
    assert _expand_local(str(tmp_path)) == expected
