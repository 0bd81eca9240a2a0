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
