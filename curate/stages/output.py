"""Stage outputs that appear complete or not at all, each with a report of its row flow.

A stage writes into a temporary directory beside its output (`NAME.incomplete-ID`; not
a dot name, which Spark would refuse to read back), adds its report, then renames the
directory into place. A crash leaves only a temporary directory,
removed by the next run; a re-run replaces the old output in one rename.
"""
from __future__ import annotations

import json
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from curate.errors import UserError

REPORT_FILE = "_curate_stage.json"
ERRORS_DIR = "_errors"   # leading "_": Spark and pyarrow datasets skip it when reading the output


@dataclass
class StageReport:
    stage: str
    output: str
    rows_in: int
    rows_out: int
    dropped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    details: dict = field(default_factory=dict)

    def check(self) -> "StageReport":
        accounted = self.rows_out + sum(self.dropped.values())
        if accounted != self.rows_in:
            raise RuntimeError(f"{self.stage}: {self.rows_in} rows in but {self.rows_out} out "
                               f"+ {sum(self.dropped.values())} dropped")
        return self

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def read_report(path: str) -> StageReport | None:
    report_path = Path(local_path(path)) / REPORT_FILE
    if not report_path.exists():
        return None
    return StageReport(**json.loads(report_path.read_text("utf-8")))


def local_path(path: str) -> str:
    parsed = urlparse(path)
    if parsed.scheme in ("", "file"):
        return parsed.path if parsed.scheme else path
    raise UserError(f"{path}: only local paths are supported for stage outputs so far")


@contextmanager
def staged_output(out: str, stage: str):
    """Yield a temporary directory; on success it becomes `out` with the stage report in it.

    The body returns its report by calling the yielded `finish(report)`.
    """
    target = Path(local_path(out)).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(target)
    temporary = target.parent / f"{target.name}.incomplete-{uuid.uuid4().hex[:12]}"
    started = time.monotonic()
    reports: list[StageReport] = []
    try:
        yield str(temporary), reports.append
        if len(reports) != 1:
            raise RuntimeError(f"{stage} finished without a report")
        report = reports[0]
        report.seconds = round(time.monotonic() - started, 3)
        report.output = str(target)
        report.check()
        temporary.mkdir(exist_ok=True)
        (temporary / REPORT_FILE).write_text(report.to_json(), "utf-8")
        _replace(temporary, target)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _replace(temporary: Path, target: Path) -> None:
    if target.exists():
        retired = target.parent / f"{target.name}.replaced-{uuid.uuid4().hex[:12]}"
        target.rename(retired)
        temporary.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        temporary.rename(target)


def _remove_stale_temporaries(target: Path) -> None:
    for prefix in (f"{target.name}.incomplete-", f"{target.name}.replaced-"):
        for stale in target.parent.glob(prefix + "*"):
            shutil.rmtree(stale, ignore_errors=True)
