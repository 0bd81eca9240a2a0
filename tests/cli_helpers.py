"""Calling the `curate` command in this test process (and its SparkSession)."""
from __future__ import annotations

from curate.cli import main


def run_cli(*args) -> int:
    """The exit status `curate ARGS...` gives (0 when it returns normally)."""
    try:
        main(list(args))
    except SystemExit as done:
        return done.code
    return 0


VERIFY_CHECKS = ["complete", "inputs", "dedup", "match", "counts", "curated", "lineage",
                 "stray"]


def assert_verified(workdir, **options) -> None:
    """`curate verify` (api.verify) on a work directory a test made: every check holds."""
    from curate import api

    result = api.verify(str(workdir), **options)
    assert [check.name for check in result.checks] == VERIFY_CHECKS
    assert result.ok, "\n".join(result.lines())
