"""Shared fixtures: the real data beside the repository and one local SparkSession."""
from __future__ import annotations

from pathlib import Path

import pytest

# The loopback S3 (moto) and HTTP servers, shared by every test module that names them.
from conftest_servers import (aws_env, data_server, moto_s3, s3, s3_data,  # noqa: F401
                              s3_front, s3_fronted)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_collection_modifyitems(config, items):
    """`spark` marks every test that uses a SparkSession: by its fixture, or by its folder
    (tests/spark, tests/e2e: stages and whole runs, also through the CLI)."""
    for item in items:
        folder = Path(str(item.fspath)).parent.name
        if "spark" in getattr(item, "fixturenames", ()) or folder in ("spark", "e2e"):
            item.add_marker(pytest.mark.spark)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.fail(f"the shared test data is missing: expected it at {DATA}")
    return DATA


def needed_tool(path: Path, how: str) -> Path:
    """A program a test runs (a downstream client, a browser): skipped where it is missing,
    except under CI, whose setup installs it, so that CI never passes without it."""
    import os

    if path.exists():
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{path} is missing; {how}")
    pytest.skip(f"{path} is missing; {how}")


@pytest.fixture(scope="session")
def clients() -> Path:
    """The bin/ folder of .venv-clients: img2dataset and Hugging Face datasets, as their
    users install them (tests/clients.txt)."""
    folder = Path(__file__).resolve().parents[1] / ".venv-clients" / "bin"
    return needed_tool(folder / "img2dataset", "run: bash scripts/setup.sh --test").parent


@pytest.fixture(scope="session")
def spark():
    """One real local SparkSession (2 threads, loopback only) for the whole test run."""
    import os

    from curate.stages.session import get_spark

    # Python workers inherit this environment: no AWS lookup may leave the loopback.
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    session = get_spark("local[2]", {"spark.sql.shuffle.partitions": "4"})
    yield session
    session.stop()
