"""extract's job as the driver builds it, without Spark: a stand-in records the function
given to mapInArrow and what is broadcast. The input names reach the tasks as a broadcast,
so the command every task unpickles does not grow with the crawl; the task function, run
here on a batch of file indexes, reads the file the broadcast names. The job itself runs
in tests/spark/test_extract_stage.py."""
from __future__ import annotations

import pyarrow as pa
import pytest

from curate import schemas
from curate.options import ExtractOptions
from curate.stages import extract, task_files
from curate.stages.task_files import TaskFiles


class _Broadcast:
    """Pickled as pyspark's Broadcast is: to _from_id(id), found in the process's registry."""

    def __init__(self, value, ident):
        from pyspark.core.broadcast import _broadcastRegistry

        self.value, self.id, self.unpersisted = value, ident, False
        _broadcastRegistry[ident] = self

    def __reduce__(self):
        from pyspark.core.broadcast import _from_id
        return _from_id, (self.id,)

    def unpersist(self, blocking=False):
        self.unpersisted = True


class RecordingSpark:
    def __init__(self, fail: bool = False):
        self.sparkContext, self.function, self.broadcasts, self.fail = self, None, [], fail

    def broadcast(self, value):
        self.broadcasts.append(_Broadcast(value, 90_000 + len(self.broadcasts)))
        return self.broadcasts[-1]

    def range(self, start, end, step, partitions):
        self.tasks = partitions
        return self

    def mapInArrow(self, function, schema):
        self.function = function
        return self

    def collect(self):
        if self.fail:
            raise RuntimeError("the job failed")
        return []


def names(n: int) -> list[str]:
    return [f"https://data.commoncrawl.org/crawl-data/CC-MAIN-2024-22/segments/"
            f"1715971057216.{i % 100:02d}/wat/CC-MAIN-20240517233122-20240518023122-{i:05d}"
            f".warc.wat.gz" for i in range(n)]


def task_command(paths: list[str], tmp_path) -> tuple[bytes, RecordingSpark]:
    from pyspark.serializers import CloudPickleSerializer

    spark = RecordingSpark()
    files = TaskFiles(str(tmp_path), schemas.PAIRS, None, "zstd")
    extract._read_files(spark, paths, 0, len(paths), files, ExtractOptions())
    return CloudPickleSerializer().dumps((spark.function, None, None, None)), spark


def test_the_task_command_does_not_grow_with_the_inputs(tmp_path):
    """With the names held by the task function, 20,000 names made its command 2.8 MB
    larger (14 MB at a crawl's 100,000), unpickled by every task."""
    small, small_spark = task_command(names(10), tmp_path)
    large, large_spark = task_command(names(20_000), tmp_path)
    assert len(large) - len(small) < 1_000, (len(small), len(large))
    assert large_spark.tasks == 20_000
    [broadcast] = large_spark.broadcasts
    assert broadcast.value == names(20_000) and broadcast.unpersisted


def test_the_broadcast_is_released_when_the_job_fails(tmp_path):
    spark = RecordingSpark(fail=True)
    with pytest.raises(RuntimeError, match="the job failed"):
        extract._read_files(spark, names(3), 0, 3,
                            TaskFiles(str(tmp_path), schemas.PAIRS, None), ExtractOptions())
    assert [b.unpersisted for b in spark.broadcasts] == [True]


def test_the_task_reads_the_file_its_index_names(tmp_path, data_dir, monkeypatch):
    """The recorded function, unpickled as a worker does, run on the index of a real WAT
    among other names: one result row for that file, its rows written."""
    import pickle

    wat = str(data_dir / "commoncrawl" / "CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2"
              ".internal.warc.wat")
    paths = [*names(5), wat, *names(3)]
    command, _spark = task_command(paths, tmp_path / "out")
    function = pickle.loads(command)[0]
    monkeypatch.setattr(task_files, "task_attempt", lambda: (5, 0))
    [row] = [r for batch in function(iter([pa.record_batch({"id": pa.array([5], pa.int64())})]))
             for r in batch.to_pylist()]
    assert row["path"] == wat and row["errors"] == []
    counters = dict(row["counters"])
    assert counters["files_read"] == 1 and counters["pairs"] == sum(row["file_rows"]) > 0
    assert row["files"] == [f"{task_files.ATTEMPTS_DIR}/5-0/part-00005-0000.parquet"]
    assert (tmp_path / "out" / row["files"][0]).is_file()


def test_earlier_groups_are_kept_only_when_they_are_this_runs_groups(tmp_path):
    """Groups committed with --commit-every 1 are not groups of a run that commits every 4
    files (group 0 would stand for files 0-3 with file 0's rows only): that run starts
    over; the same group size keeps them, and the same files only under the same plan."""
    from curate.stages import io

    def committed():
        for start in range(3):
            name = f"part-{start:05d}-0000.parquet"
            (tmp_path / name).write_bytes(b"PAR1")
            row = {"partition": start, "files": [f"_attempts/{start}-0/{name}"],
                   "file_rows": [1], "counters": {"pairs": 1}, "path": f"f{start}",
                   "errors": []}
            io.write_json(str(tmp_path / extract.GROUPS_DIR / f"{start:09d}.json"),
                          {"plan": "p", "end": start + 1, "results": [row]})

    committed()
    kept, removed = extract._earlier_groups(str(tmp_path), "p", 1, 8)
    assert sorted(kept) == [0, 1, 2] and kept[1].rows[0].path == "f1" and removed == []
    kept, removed = extract._earlier_groups(str(tmp_path), "other plan", 1, 8)
    assert kept == {} and len(removed) == 6   # three files and their three records
    assert sorted(p.name for p in tmp_path.glob("*.parquet")) == []
    committed()
    assert extract._earlier_groups(str(tmp_path), "p", 4, 8)[0] == {}
    assert list(tmp_path.glob("*.parquet")) == []
    assert list((tmp_path / extract.GROUPS_DIR).iterdir()) == []


@pytest.mark.parametrize("bound", ["max_header_bytes", "max_record_bytes", "max_depth",
                                   "max_images", "max_text_chars"])
def test_each_bound_is_part_of_the_recipe(bound):
    """A run with another bound is another recipe: --resume redoes extract."""
    from dataclasses import replace

    from curate.core.extract.options import PageOptions

    paths = ["/d/a.warc.gz", "/d/b.warc.gz"]
    page = replace(PageOptions(), **{bound: getattr(PageOptions(), bound) + 1})
    assert extract.extract_recipe(paths, ExtractOptions(page=page)) != \
        extract.extract_recipe(paths, ExtractOptions())


def test_odd_local_names_are_one_recipe_whichever_form_is_given():
    raw = "/d/new\nline-\udcff.warc.gz"
    assert extract.extract_recipe([raw], ExtractOptions()) == \
        extract.extract_recipe(["file:///d/new%0Aline-%FF.warc.gz"], ExtractOptions())
