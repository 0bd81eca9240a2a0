"""Build dist/curate-env.tar.gz: one archive that carries curate and every dependency to a
cluster's executors, so nothing need be installed on the workers' own Python:

    spark-submit --master spark://HOST:7077 \\
        --archives dist/curate-env.tar.gz#env \\
        --conf spark.pyspark.python=./env/bin/python \\
        --conf spark.pyspark.driver.python=.venv/bin/python \\
        jobs/run.py INPUTS -o OUTPUT

(Spark's own recipe for Python dependencies: an environment packed into an archive that
Spark unpacks in each executor's working directory as ./env.) The environment is a fresh
virtualenv with the package built from this checkout (not an editable install) and its
dependencies with the `fast` extra, except pyspark: the cluster's Spark brings its own,
and its Python workers import the pyspark of the executor. It is packed with venv-pack,
which makes the environment relocatable but links its interpreter: the nodes need a
Python of the same version at the same path as the one this script runs on, or at
--python-prefix (e.g. /usr, where the nodes' python3.11 is /usr/bin/python3.11). A
conda-pack archive carries the interpreter too; see docs/operating.md#packaging.

    .venv/bin/python scripts/package.py [--python-prefix /usr] [-o dist/curate-env.tar.gz]
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = ("fast",)   # what the executors run; `report` and `test` are the driver's only
LEFT_TO_THE_CLUSTER = {"pyspark"}


def requirements() -> list[str]:
    """pyproject's dependencies and EXTRAS, without what the cluster provides."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    wanted = list(project["dependencies"])
    for extra in EXTRAS:
        wanted += project["optional-dependencies"][extra]
    return [r for r in wanted
            if re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower() not in LEFT_TO_THE_CLUSTER]


def build(output: Path, python_prefix: str | None, work: Path) -> Path:
    env = work / "curate-env"
    shutil.rmtree(env, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    pip = [str(env / "bin" / "python"), "-m", "pip", "install", "--quiet",
           "--disable-pip-version-check"]
    subprocess.run([*pip, *requirements()], check=True)
    # The package itself, built from this checkout, with nothing pulled in (pyspark).
    subprocess.run([*pip, "--no-deps", str(ROOT)], check=True)
    check = "import curate.stages.extract, selectolax, ahocorasick, pyarrow, fastwarc"
    subprocess.run([str(env / "bin" / "python"), "-c",
                    f"{check}; import importlib.util as u; "
                    "assert u.find_spec('pyspark') is None"], check=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    pack = [sys.executable, "-m", "venv_pack", "--prefix", str(env), "--output", str(output),
            "--force", "--quiet"]
    if python_prefix:
        pack += ["--python-prefix", python_prefix]
    subprocess.run(pack, check=True)
    return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "dist" / "curate-env.tar.gz")
    parser.add_argument("--python-prefix", default=None,
                        help="where the nodes' Python lives (default: where this one does)")
    parser.add_argument("--work", type=Path, default=ROOT / "build")
    args = parser.parse_args()
    archive = build(args.output, args.python_prefix, args.work)
    print(f"{archive} ({archive.stat().st_size / 1e6:.1f} MB); ship it with "
          f"--archives {archive}#env --conf spark.pyspark.python=./env/bin/python")


if __name__ == "__main__":
    main()
