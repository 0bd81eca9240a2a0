"""CommonCrawl path listings: reading (local, S3, HTTP), sampling, task order, writing.

The listing is written here (CommonCrawl's real listings are not in ../shared/data) with
keys of the real form; the objects the keys name are the real CommonCrawl files of
../shared/data, put into moto's S3 under those keys (bucket `commoncrawl`, as the real one)
and served under the same paths by the local HTTP server, so an expanded listing is opened
and compared byte for byte. https://data.commoncrawl.org/ itself is only joined, not
fetched (no network here).
"""
from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

from conftest_servers import put_files
from curate.sources import listing
from curate.sources.listing import is_listing, read_listing, select, task_order, listing_text
from curate.sources.streams import InputUnavailable, open_input

KEYS = {
    "crawl-data/CC-MAIN-2024-22/segments/1715971057216.39/wat/"
    "CC-MAIN-20240517233122-20240518023122-00000.warc.wat.gz":
        "commoncrawl/CC-MAIN-2024-22-whirlwind.warc.wat.gz",
    "crawl-data/CC-MAIN-2014-35/segments/1408500800168.29/wat/"
    "CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2.internal.warc.wat.gz":
        "commoncrawl/CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2.internal.warc.wat",
    "crawl-data/CC-MAIN-2020-34/segments/1596439735792.85/warc/"
    "CC-MAIN-20200803083123-20200803113123-00000.warc.gz":
        "commoncrawl/CC-MAIN-2020-34-sample.warc.gz",
}
LISTING_KEY = "crawl-data/CC-MAIN-2024-22/wat.paths.gz"


@pytest.fixture(scope="module")
def crawl(tmp_path_factory, data_dir, moto_s3, data_server):
    """The listing (gzip and plain) in tmp; its objects in moto and on the HTTP server."""
    tmp = tmp_path_factory.mktemp("crawl")
    objects: dict[str, Path] = {}
    for key, name in KEYS.items():
        source = data_dir / name
        if key.endswith(".gz") and not name.endswith(".gz"):   # real CC keys are gzipped
            target = tmp / Path(key).name
            target.write_bytes(gzip.compress(source.read_bytes()))
            source = target
        objects[key] = source
    # real listings are LF-terminated; a CRLF line, padding and blank lines are tolerated
    keys = list(KEYS)
    text = f"{keys[0]}\n\n  {keys[1]}\r\n{keys[2]}\n\n"
    gz, plain = tmp / "wat.paths.gz", tmp / "wat.paths"
    gz.write_bytes(gzip.compress(text.encode()))
    plain.write_text(text)
    put_files(moto_s3.url, "commoncrawl", {**objects, LISTING_KEY: gz})
    data_server.aliases.update({f"/{k}": v for k, v in objects.items()})
    data_server.aliases[f"/{LISTING_KEY}"] = gz
    return {"gz": gz, "plain": plain, "objects": objects, "keys": keys}


@pytest.fixture
def listing_sources(crawl, s3, data_server):
    """The same gzip listing from local disk, from S3 (moto) and over HTTP."""
    return {"local": str(crawl["gz"]), "s3": f"s3://commoncrawl/{LISTING_KEY}",
            "http": f"{data_server.url}/{LISTING_KEY}"}


@pytest.mark.parametrize("where", ["local", "s3", "http"])
@pytest.mark.parametrize("base", ["s3://commoncrawl/", "s3://commoncrawl",
                                  "https://data.commoncrawl.org/", "https://data.commoncrawl.org"])
def test_read_listing_joins_keys_to_either_base(listing_sources, crawl, where, base):
    expected_base = base.rstrip("/") + "/"
    assert read_listing(listing_sources[where], base) == [
        expected_base + k for k in crawl["keys"]]


def test_expanded_listing_opens_from_s3_and_http(listing_sources, crawl, data_server):
    for base in ("s3://commoncrawl/", data_server.url + "/"):
        names = read_listing(listing_sources["local"], base)
        assert len(names) == len(KEYS)
        for name, key in zip(names, crawl["keys"]):
            with open_input(name) as fh:
                assert fh.read() == crawl["objects"][key].read_bytes(), name


def test_plain_listing_and_gzip_by_magic(crawl, tmp_path):
    base = "https://data.commoncrawl.org/"
    expected = [base + k for k in crawl["keys"]]
    assert read_listing(str(crawl["plain"]), base) == expected
    disguised = tmp_path / "gzipped-but-named.paths"     # gzip is found by its magic bytes
    disguised.write_bytes(crawl["gz"].read_bytes())
    assert read_listing(str(disguised), base) == expected


def test_full_names_in_a_listing_are_kept(tmp_path):
    mixed = tmp_path / "mixed.paths"
    mixed.write_text("crawl-data/a.warc.gz\ns3://mirror/b.warc.gz\nhttps://mirror/c.warc.gz\n")
    assert read_listing(str(mixed), "https://data.commoncrawl.org/") == [
        "https://data.commoncrawl.org/crawl-data/a.warc.gz", "s3://mirror/b.warc.gz",
        "https://mirror/c.warc.gz"]


def test_unreadable_listings(tmp_path, s3):
    bad = tmp_path / "bad.paths.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(InputUnavailable) as e:
        read_listing(str(bad), "s3://commoncrawl/")
    assert e.value.reason.startswith("not a readable path listing")
    binary = tmp_path / "binary.paths"
    binary.write_bytes(b"\xff\xfe\x00crawl-data")
    with pytest.raises(InputUnavailable):
        read_listing(str(binary), "s3://commoncrawl/")
    with pytest.raises(InputUnavailable) as e:
        read_listing(str(tmp_path / "absent.paths.gz"), "s3://commoncrawl/")
    assert e.value.reason == "missing file"
    with pytest.raises(InputUnavailable) as e:
        read_listing("s3://commoncrawl/crawl-data/CC-MAIN-1999-01/warc.paths.gz", "s3://x/")
    assert e.value.reason.startswith("missing key: s3://commoncrawl/")


def test_is_listing():
    for name in ("warc.paths.gz", "wat.paths.gz", "/x/warc.paths",
                 "s3://commoncrawl/a/wat.paths.gz",
                 "https://data.commoncrawl.org/crawl-data/CC-MAIN-2024-22/warc.paths.gz?x=1"):
        assert is_listing(name), name
    for name in ("x.warc.gz", "paths", "warc.paths.gz.md5", "s3://b/paths/", "x.wat.gz"):
        assert not is_listing(name), name


def test_join_key():
    for base in ("s3://commoncrawl", "s3://commoncrawl/", "s3://commoncrawl//"):
        for key in ("crawl-data/x.warc.gz", "/crawl-data/x.warc.gz"):
            assert listing.join_key(base, key) == "s3://commoncrawl/crawl-data/x.warc.gz"
    assert listing.join_key("s3://commoncrawl/", "https://elsewhere/x.warc.gz") == \
        "https://elsewhere/x.warc.gz"
    assert listing.join_key("", "crawl-data/x.warc.gz") == "crawl-data/x.warc.gz"


# ------------------------------------------------------------------------------- selection

def synthetic(n: int = 10_000) -> list[str]:
    return [f"s3://commoncrawl/crawl-data/CC-MAIN-2024-22/segments/1715971057216.{i % 100:02d}"
            f"/warc/CC-MAIN-20240517233122-20240518023122-{i:05d}.warc.gz" for i in range(n)]


def test_select_is_deterministic_and_order_independent():
    paths = synthetic()
    chosen = select(paths, sample_fraction=0.1, seed=7)
    shuffled = paths[:]
    random.Random(1).shuffle(shuffled)
    again = select(shuffled, sample_fraction=0.1, seed=7)
    assert set(again) == set(chosen)
    assert again == [p for p in shuffled if p in set(chosen)]   # the given order is kept
    assert chosen == [p for p in paths if p in set(chosen)]
    # a path's fate does not depend on the other paths
    assert select(paths[:3000], sample_fraction=0.1, seed=7) == [
        p for p in chosen if p in set(paths[:3000])]
    other = select(paths, sample_fraction=0.1, seed=8)
    assert set(other) != set(chosen)
    assert len(set(other) & set(chosen)) < 300    # about 0.1 * 0.1 * 10,000 = 100


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.5, 0.9])
def test_select_fraction_within_binomial_bounds(fraction):
    n = 10_000
    kept = len(select(synthetic(n), sample_fraction=fraction, seed=0))
    sigma = (n * fraction * (1 - fraction)) ** 0.5
    assert abs(kept - n * fraction) <= 5 * sigma, (kept, fraction)


def test_select_limit_and_edges():
    paths = synthetic(100)
    assert select(paths) == paths
    assert select(paths, sample_fraction=1.0) == paths
    assert select(paths, limit=5) == paths[:5]
    assert select(paths, limit=0) == []
    assert select(paths, limit=1000) == paths
    sampled = select(paths, sample_fraction=0.5, seed=3)
    assert select(paths, limit=4, sample_fraction=0.5, seed=3) == sampled[:4]
    for bad in (0, -0.1, 1.5):
        with pytest.raises(ValueError):
            select(paths, sample_fraction=bad)
    with pytest.raises(ValueError):
        select(paths, limit=-1)


def test_task_order_is_a_deterministic_permutation():
    paths = synthetic(1000)
    order = task_order(paths, seed=0)
    assert sorted(order) == sorted(paths)
    assert order != paths
    shuffled = paths[:]
    random.Random(2).shuffle(shuffled)
    assert task_order(shuffled, seed=0) == order
    assert task_order(paths, seed=1) != order
    assert task_order([], seed=0) == []
    # neighbours in the listing spread out: the first tenth holds files from all over it
    first = {paths.index(p) for p in order[:100]}
    assert max(first) - min(first) > 800


# ---------------------------------------------------------------------------------- writing

def test_listing_text_round_trips_and_refuses_line_breaks(tmp_path):
    # (The file is written inside the stage's staged output, which appears whole or not at
    # all: curate.stages.io.staged_output; tests/spark/test_extract_stage.py checks it.)
    target = tmp_path / "inputs.txt"
    paths = synthetic(50)
    target.write_text(listing_text(paths))
    assert target.read_text() == "".join(p + "\n" for p in paths)
    assert read_listing(str(target), "") == paths
    with pytest.raises(ValueError):
        listing_text(["a", "b\nc"])
    with pytest.raises(ValueError):
        listing_text(["a\rb"])
    assert listing_text([]) == ""


def crawl_keys(n: int) -> list[str]:
    """n keys shaped as a CC-MAIN-2024-22 wat.paths listing's."""
    return [f"crawl-data/CC-MAIN-2024-22/segments/17159710{i // 1000:05d}.{i % 97:02d}/wat/"
            f"CC-MAIN-20240517{i % 240000:06d}-20240518{i % 240000:06d}-{i:05d}.warc.wat.gz"
            for i in range(n)]


@pytest.mark.parametrize("where", ["local", "http"])
def test_reading_a_listing_holds_about_its_own_size(tmp_path, data_server, where):
    """A crawl's listing (here 20,000 keys, 2.4 MB unpacked) is read with memory of a few
    times its size: the read asked for 1 GiB + 1 bytes at once, which Python allocates up
    front (tracemalloc saw a 1 GiB peak; only the pages touched were resident)."""
    import tracemalloc

    keys = crawl_keys(20_000)
    text = "".join(k + "\n" for k in keys).encode()
    packed = tmp_path / "wat.paths.gz"
    packed.write_bytes(gzip.compress(text))
    data_server.aliases["/memory/wat.paths.gz"] = packed
    name = str(packed) if where == "local" else f"{data_server.url}/memory/wat.paths.gz"
    tracemalloc.start()
    try:
        names = read_listing(name, "s3://commoncrawl/")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert names == ["s3://commoncrawl/" + k for k in keys]
    assert peak < 10 * len(text), (peak, len(text))


@pytest.mark.parametrize("packed", [False, True])
def test_listing_size_limit_is_exact_whatever_the_pieces(tmp_path, monkeypatch, packed):
    """Read in pieces (here of 7 bytes), a listing of exactly the limit is read whole and
    one byte more is refused, plain or gzip (the limit is on the unpacked text)."""
    monkeypatch.setattr(listing, "_READ_BYTES", 7)
    text = "".join(k + "\n" for k in crawl_keys(20)).encode()
    monkeypatch.setattr(listing, "_MAX_LISTING_BYTES", len(text))
    path = tmp_path / ("wat.paths.gz" if packed else "wat.paths")
    path.write_bytes(gzip.compress(text) if packed else text)
    assert read_listing(str(path), "") == crawl_keys(20)
    path.write_bytes(gzip.compress(text + b"x") if packed else text + b"x")
    with pytest.raises(InputUnavailable) as e:
        read_listing(str(path), "")
    assert e.value.reason == (f"not a readable path listing: ValueError: larger than "
                              f"{len(text)} bytes")
