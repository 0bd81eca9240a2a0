"""The Python requirements of curate's image, read from pyproject.toml: the package's
dependencies and the extras asked for, less pyspark, plus the build backend.

    python docker/requirements.py pyproject.toml --extra fast --spark-version 4.1.4

pyspark is left out because the image is Apache Spark's own: its pyspark is
SPARK_HOME/python, the same version as the JVM side, and a pip pyspark would put a second
Spark (with its own jars) in front of it. The build backend (build-system.requires) is
installed with the dependencies so that the package itself installs with
`--no-deps --no-build-isolation`: a change of curate's code downloads nothing.

Fails (status 1, one line) when the image's Spark version is not one that pyproject's
pyspark requirement allows, so an image never pairs curate with a Spark it was not made for.
Standard library only (Python 3.11+: tomllib)."""
from __future__ import annotations

import argparse
import re
import sys
import tomllib

LEFT_OUT = "pyspark"


def normalized(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return normalized(re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement).group(1))


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.match(r"\d+(?:\.\d+)*", version).group(0).split("."))


def _compare(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    width = max(len(a), len(b))
    a, b = a + (0,) * (width - len(a)), b + (0,) * (width - len(b))
    return (a > b) - (a < b)


def allows(specifier: str, version: str) -> bool:
    """Whether a release version (e.g. 4.1.4) satisfies a PEP 440 specifier of release
    versions (>=, >, <=, <, ==, !=, ~=, and == / != with .*)."""
    have = _release(version)
    for clause in filter(None, (c.strip() for c in specifier.split(","))):
        op, wanted = re.fullmatch(r"(~=|==|!=|>=|<=|>|<)\s*(\S+)", clause).groups()
        if wanted.endswith(".*"):
            prefix = _release(wanted[:-2])
            matches = have[:len(prefix)] == prefix
            if matches != (op == "=="):
                return False
            continue
        order = _compare(have, _release(wanted))
        if op == "~=":
            stem = _release(wanted)[:-1]
            ok = order >= 0 and have[:len(stem)] == stem
        else:
            ok = {"==": order == 0, "!=": order != 0, ">=": order >= 0, "<=": order <= 0,
                  ">": order > 0, "<": order < 0}[op]
        if not ok:
            return False
    return True


def requirements(pyproject: dict, extras: list[str]) -> tuple[list[str], str | None]:
    """(the requirement lines, pyspark's specifier in the dependencies or None)."""
    project = pyproject["project"]
    optional = project.get("optional-dependencies", {})
    unknown = [e for e in extras if e not in optional]
    if unknown:
        raise SystemExit(f"requirements.py: no extra {', '.join(unknown)} in pyproject.toml "
                         f"(it has {', '.join(sorted(optional))})")
    lines, pin = [], None
    for requirement in [*project.get("dependencies", []),
                        *(r for e in extras for r in optional[e])]:
        if requirement_name(requirement) == LEFT_OUT:
            pin = re.sub(r"^\s*[A-Za-z0-9._-]+\s*(\[[^\]]*\])?", "",
                         requirement.split(";")[0]).strip()
            continue
        lines.append(requirement)
    lines.extend(pyproject.get("build-system", {}).get("requires", []))
    return lines, pin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pyproject")
    parser.add_argument("--extra", action="append", default=[])
    parser.add_argument("--spark-version", help="the image's Spark; checked against the pin")
    args = parser.parse_args(argv)
    with open(args.pyproject, "rb") as fh:
        lines, pin = requirements(tomllib.load(fh), args.extra)
    if args.spark_version and pin is not None and not allows(pin, args.spark_version):
        print(f"requirements.py: the image's Spark {args.spark_version} is not one curate "
              f"allows (pyspark{pin})", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
