"""Parquet footers read by threads (io.read_footers) and sample's check of the files'
image_uuid ranges built on it (sample.files_hold_disjoint_images), on real files written
here: the threads give exactly what one loop over io.parquet_metadata gives, items in
order, and a broken file's error at its place, raised as the loop raises it."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.core.pick import ranges_are_disjoint
from curate.stages import io, sample


def write(path, first: int, rows: int, *, groups: int = 1, statistics: bool = True,
          column: str = "image_uuid") -> str:
    """A file of `rows` rows whose image_uuid run from `first` (sorted), in `groups`
    row groups."""
    uuids = [f"{first + i:08d}" + "f" * 56 for i in range(rows)]
    table = pa.table({column: pa.array(uuids, pa.string()),
                      "text": pa.array([f"text {i}" for i in range(rows)], pa.string())})
    pq.write_table(table, path, row_group_size=max(1, -(-rows // groups)),
                   write_statistics=statistics)
    return str(path)


def broken(path) -> str:
    path.write_bytes(b"PAR1 this is not a Parquet file")
    return str(path)


def summary(metadata) -> tuple:
    """What a footer says, as plain values."""
    def bounds(statistics):
        return ((statistics.min, statistics.max)
                if statistics is not None and statistics.has_min_max else None)

    return (metadata.num_rows, metadata.num_row_groups, tuple(metadata.schema.names),
            tuple((metadata.row_group(g).num_rows, bounds(metadata.row_group(g).column(0)
                                                          .statistics))
                  for g in range(metadata.num_row_groups)))


def outcome(items):
    """The items an iteration gives, then the error it ends with (type and message)."""
    seen = []
    try:
        for item in items:
            seen.append(item)
    except Exception as e:   # noqa: BLE001 - compared below
        return seen, (type(e), str(e))
    return seen, None


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> list[str]:
    """60 files: different sizes and row groups, some empty."""
    root = tmp_path_factory.mktemp("footers")
    return [write(root / f"part-{i:05d}.parquet", i * 1000, 0 if i % 17 == 5 else 1 + i * 7,
                  groups=1 + i % 4) for i in range(60)]


@pytest.mark.parametrize("threads", [2, 3, 8, 64])
def test_threads_give_what_a_loop_gives_in_order(files, threads):
    expected = [summary(io.parquet_metadata(uri)) for uri in files]
    assert list(io.read_footers(files, threads, summary)) == expected
    assert list(io.read_footers(files, 1, summary)) == expected
    whole = list(io.read_footers(files, threads))
    assert [summary(m) for m in whole] == expected
    assert all(m.equals(io.parquet_metadata(uri)) for m, uri in zip(whole, files))


@pytest.mark.parametrize("threads", [1, 4])
def test_a_broken_file_raises_at_its_place_as_the_loop_does(files, tmp_path, threads):
    uris = files[:30] + [broken(tmp_path / "part-broken.parquet")] + files[30:]

    def loop():
        for uri in uris:
            yield summary(io.parquet_metadata(uri))

    expected = outcome(loop())
    assert len(expected[0]) == 30 and expected[1] is not None
    assert expected[1][0].__name__ == "ArrowInvalid"
    assert outcome(io.read_footers(uris, threads, summary)) == expected
    # an error of `extract` is raised at its place too
    def fails_on_the_seventh(metadata):
        if metadata.num_rows == 1 + 7 * 7:   # files[7]
            raise ValueError("seventh")
        return metadata.num_rows
    seen, error = outcome(io.read_footers(files, threads, fails_on_the_seventh))
    assert len(seen) == 7 and error == (ValueError, "seventh")


def test_a_caller_that_stops_early_stops_the_reads_not_started(files):
    """Only the window of reads ahead of the caller (4 x threads) is ever started."""
    calls = []

    def count(metadata):
        calls.append(metadata.num_rows)
        return metadata.num_rows

    items = io.read_footers(files, 2, count)
    taken = [next(items) for _ in range(3)]
    items.close()
    assert taken == [io.parquet_metadata(uri).num_rows for uri in files[:3]]
    assert len(calls) <= 3 + 4 * 2 < len(files)


def reference(directory: str) -> bool:
    """files_hold_disjoint_images as it was: one loop over the footers."""
    ranges = []
    for uri in io.data_files(directory):
        metadata = io.parquet_metadata(uri)
        column = metadata.schema.names.index("image_uuid")
        groups = [metadata.row_group(g) for g in range(metadata.num_row_groups)]
        statistics = [g.column(column).statistics for g in groups if g.num_rows]
        if not all(s is not None and s.has_min_max for s in statistics):
            return False
        if statistics:
            ranges.append((min(s.min for s in statistics), max(s.max for s in statistics)))
    return ranges_are_disjoint(ranges)


def layout(root, name: str) -> str:
    """A directory of files laid out as `name` says; each case has 40 files or more, so
    that 4 threads keep a window that does not hold them all."""
    directory = root / name
    directory.mkdir()
    n = 0

    def add(first, rows, **kwargs):
        nonlocal n
        write(directory / f"part-{n:05d}.parquet", first, rows, **kwargs)
        n += 1

    for i in range(40):
        if name == "overlap_at_the_end" and i == 39:
            add(4 * 1000 + 2, 10)          # into the range of file 4, 4000-4004
        elif name == "empty_files" and i % 3 == 0:
            add(i * 1000, 0)
        elif name == "no_statistics_then_broken" and i == 20:
            add(i * 1000, 10, statistics=False)
        elif name == "no_statistics_then_broken" and i == 30:
            broken(directory / f"part-{n:05d}.parquet")
            n += 1
        elif name == "broken_then_no_statistics" and i == 20:
            broken(directory / f"part-{n:05d}.parquet")
            n += 1
        elif name == "broken_then_no_statistics" and i == 30:
            add(i * 1000, 10, statistics=False)
        elif name == "no_image_uuid" and i == 25:
            add(i * 1000, 10, column="url")
        else:
            add(i * 1000, 1 + i % 5, groups=1 + i % 3)
    (directory / "_SUCCESS").write_text("")          # skipped by data_files
    return str(directory)


@pytest.mark.parametrize("name, expected", [
    ("disjoint", True), ("overlap_at_the_end", False), ("empty_files", True),
    ("no_statistics_then_broken", False),   # the loop stops at the first file it cannot use
    ("broken_then_no_statistics", "ArrowInvalid"),
    ("no_image_uuid", "ValueError")])
def test_the_decision_is_the_loops(tmp_path, name, expected):
    directory = layout(tmp_path, name)
    decisions = {}
    for how, check in [("reference", reference),
                       ("serial", lambda d: sample.files_hold_disjoint_images(d, threads=1)),
                       ("threads", lambda d: sample.files_hold_disjoint_images(d, threads=4)),
                       ("default", sample.files_hold_disjoint_images)]:
        try:
            decisions[how] = check(directory)
        except Exception as e:   # noqa: BLE001 - compared below
            decisions[how] = (type(e).__name__, str(e))
    assert len({repr(d) for d in decisions.values()}) == 1, decisions
    found = decisions["reference"]
    assert (found if isinstance(found, bool) else found[0]) == expected
