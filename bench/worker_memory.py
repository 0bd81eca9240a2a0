"""Memory of a Spark Python worker that matches: what to reserve for the executors'
Python workers (spark.executor.pyspark.memory, spark.executor.memoryOverhead).

    .venv/bin/python bench/worker_memory.py              # the English list, then --languages all
    .venv/bin/python bench/worker_memory.py --languages en
    .venv/bin/python bench/worker_memory.py --languages all --pyspark-memory 2g   # a reservation

Each metadata set is measured in a process of its own with a fresh local[1] session (one
Python worker, reused across tasks as on a cluster: spark.python.worker.reuse). One task
does in that worker what the first match task of a stage does there, at its worst: it
takes the broadcast metadata and parses it (stages.broadcast), builds the Aho-Corasick
automaton of every language of the set (core.matching.worker_matcher: a real match builds
only those of the languages its texts have, so a worldwide crawl comes near this, a small
sample stays below it) and loads the language-identification model (core.lid). After each
step it reads /proc/self/status of the worker: VmRSS (resident now), VmHWM (peak resident)
and VmPeak (peak virtual size: what spark.executor.pyspark.memory limits, as RLIMIT_AS).
Then the real match stage runs on the bundled CommonCrawl sample (extract and dedup first)
in the same session, and a one-row job reads the same worker's figures again (its pid is
checked).

Memory figures are the kernel's and repeat from run to run within a few MB; the seconds
are wall time on whatever else the machine runs (shared machines: tens of percent).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

SETS = {"en": "the shipped English list (265,748 entries, v1 keys)",
        "all": "--languages all: the shipped worldwide lists (v2 keys)"}


def _status() -> dict[str, int]:
    """VmRSS, VmHWM, VmPeak of this process in KiB."""
    found = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "VmPeak"):
                found[key] = int(value.split()[0])
    return found


def _steps_task(metadata, key_version: str):
    """The task (runs in the Python worker): the worker's figures after each step."""
    def task(batches):
        import pyarrow as pa

        for _ in batches:
            pass
        steps = [("worker started", _status(), 0.0)]
        start = time.perf_counter()
        parsed = metadata.on_worker()
        steps.append(("metadata parsed", _status(), time.perf_counter() - start))

        from curate.core.matching import worker_matcher
        start = time.perf_counter()
        for lang in parsed.languages:
            worker_matcher(parsed, lang, key_version)
        steps.append((f"{len(parsed.languages)} automata built", _status(),
                      time.perf_counter() - start))

        from curate.core import lid
        start = time.perf_counter()
        lid.identify(["a photo of a cat on a red sofa"])
        steps.append(("LID model loaded", _status(), time.perf_counter() - start))
        yield pa.RecordBatch.from_pydict({
            "pid": [os.getpid()], "steps": [json.dumps(steps)],
            "entries": [sum(len(m.entries) for m in parsed.lists.values())]})
    return task


def _probe_task(batches):
    """A one-row task: the worker's pid and figures, and how many automata it holds."""
    import pyarrow as pa

    from curate.core import matching

    for _ in batches:
        pass
    yield pa.RecordBatch.from_pydict({"pid": [os.getpid()], "status": [json.dumps(_status())],
                                      "matchers": [len(matching._WORKER_MATCHERS)]})


def measure(languages: str, pyspark_memory: str | None = None) -> dict:
    """In this process: one local[1] session, the steps task, then the real stage. With
    `pyspark_memory`, the sessions set spark.executor.pyspark.memory (one core: the whole
    of it is the worker's RLIMIT_AS); a worker that runs out is reported, not raised."""
    from curate import api
    from curate.options import resolve_match
    from curate.stages.broadcast import BroadcastMetadata
    from curate.stages.session import get_spark

    conf = {"spark.executor.pyspark.memory": pyspark_memory} if pyspark_memory else {}
    spark = get_spark("local[1]", conf)
    options = resolve_match(None, languages=languages)
    metadata = BroadcastMetadata(spark, options.metadata, options.lang)
    try:
        row = spark.range(1, numPartitions=1).mapInArrow(
            _steps_task(metadata, options.spacing), "pid long, steps string, entries long"
        ).collect()[0]
    except Exception as error:   # the task failed: under a limit, a MemoryError
        failure = next((line.strip() for line in str(error).splitlines()
                        if "Error" in line and "py4j" not in line), type(error).__name__)
        return {"languages": languages, "pyspark_memory": pyspark_memory, "failed": failure}
    result = {"languages": languages, "pyspark_memory": pyspark_memory,
              "spacing": options.spacing, "pid": row.pid,
              "entries": row.entries, "list_languages": len(metadata.metadata.languages),
              "steps": json.loads(row.steps)}
    metadata.unpersist()

    # The real stage, on the bundled sample, in a fresh worker of its own session: what
    # the worker holds after match built the automata of the languages the texts have.
    spark.stop()
    spark = get_spark("local[1]", conf)
    with tempfile.TemporaryDirectory() as work:
        reports = api.run(None, work, session=spark, quiet=True,
                          options=_run_options(languages))
        probe = spark.range(1, numPartitions=1).mapInArrow(
            _probe_task, "pid long, status string, matchers long").collect()[0]
        result["stage"] = {"rows_in": reports[2].rows_in, "pid": probe.pid,
                           "matchers": probe.matchers, "status": json.loads(probe.status)}
    spark.stop()
    return result


def _run_options(languages: str):
    from curate.options import config_path, resolve_run
    return resolve_run(config_path(None), match={"languages": languages})


def mib(kib: int) -> str:
    return f"{kib / 1024:,.0f} MiB"


def show(result: dict) -> None:
    limit = (f" with spark.executor.pyspark.memory={result['pyspark_memory']}"
             if result["pyspark_memory"] else "")
    if "failed" in result:
        print(f"\n{SETS[result['languages']]}{limit}: the task failed: {result['failed']}")
        return
    print(f"\n{SETS[result['languages']]}{limit}: {result['entries']:,} entries in "
          f"{result['list_languages']} list(s), {result['spacing']} keys "
          f"(worker pid {result['pid']})")
    print(f"  {'step':<26}{'VmRSS':>11}{'VmHWM':>11}{'VmPeak':>11}{'seconds':>9}")
    for name, status, seconds in result["steps"]:
        print(f"  {name:<26}{mib(status['VmRSS']):>11}{mib(status['VmHWM']):>11}"
              f"{mib(status['VmPeak']):>11}{seconds:>9.1f}")
    stage = result["stage"]
    status = stage["status"]
    print(f"  after `curate run` of the bundled sample ({stage['rows_in']} texts into match; "
          f"worker pid {stage['pid']}, {stage['matchers']} automata): VmRSS "
          f"{mib(status['VmRSS'])}, VmHWM {mib(status['VmHWM'])}, VmPeak "
          f"{mib(status['VmPeak'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--languages", choices=sorted(SETS), action="append",
                        help="a set to measure (repeatable; default: en, then all)")
    parser.add_argument("--pyspark-memory", metavar="SIZE",
                        help="set spark.executor.pyspark.memory (e.g. 2g) in the sessions")
    parser.add_argument("--one", choices=sorted(SETS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:   # the child process: one set, as JSON on the last line
        print(json.dumps(measure(args.one, args.pyspark_memory)))
        return
    for languages in args.languages or ["en", "all"]:
        limit = ["--pyspark-memory", args.pyspark_memory] if args.pyspark_memory else []
        done = subprocess.run([sys.executable, __file__, "--one", languages, *limit],
                              capture_output=True, text=True, check=True)
        show(json.loads(done.stdout.strip().splitlines()[-1]))
    print("\nVmHWM: the worker's peak resident memory (what spark.executor.memoryOverhead must "
          "hold per task slot when spark.executor.pyspark.memory is unset); VmPeak: its peak "
          "virtual size, what spark.executor.pyspark.memory / spark.executor.cores must "
          "exceed (PySpark enforces it as RLIMIT_AS).")


if __name__ == "__main__":
    main()
