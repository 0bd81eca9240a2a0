"""Figures of a running SparkSession's jobs from Spark's status REST API (the UI must be
on: spark.ui.enabled true). Shared by the benchmarks that report shuffle and spill bytes."""
from __future__ import annotations

import json
import urllib.request

# Per-stage fields of /api/v1/applications/<app>/stages summed by stage_totals.
STAGE_FIELDS = ("shuffleWriteBytes", "shuffleReadBytes", "memoryBytesSpilled",
                "diskBytesSpilled")


def stage_totals(spark, fields=STAGE_FIELDS) -> dict[str, int]:
    """Each field summed over every stage of this application so far; a stage's figures
    are the sum over its tasks. The difference of two calls is what the jobs run between
    them cost (after the status store has taken in their last tasks: wait ~1 s)."""
    url = spark.sparkContext.uiWebUrl
    app = spark.sparkContext.applicationId
    with urllib.request.urlopen(f"{url}/api/v1/applications/{app}/stages", timeout=30) as r:
        stages = json.load(r)
    return {name: sum(int(stage.get(name, 0) or 0) for stage in stages) for name in fields}


def shuffle_bytes(spark) -> int:
    """Shuffle write bytes of every stage of this application so far."""
    return stage_totals(spark, ("shuffleWriteBytes",))["shuffleWriteBytes"]
