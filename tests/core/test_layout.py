"""The layout's rules hold: the pure cores import without pyspark, stage modules do not
import each other, and the Spark side does its file operations through stages.io."""
from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import curate

PACKAGE = Path(curate.__file__).parent
STAGES = ("extract", "dedup", "match", "count", "sample", "metadata_build")


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_the_pure_cores_import_with_pyspark_unimportable():
    script = textwrap.dedent("""
        import importlib, pkgutil, sys

        class NoPyspark:
            def find_spec(self, name, path=None, target=None):
                if name == "pyspark" or name.startswith("pyspark."):
                    raise ImportError("pyspark is not importable in this test")

        sys.meta_path.insert(0, NoPyspark())
        import curate.core
        names = [m.name for m in pkgutil.walk_packages(curate.core.__path__, "curate.core.")]
        for name in names + ["curate.schemas", "curate.options", "curate.sources.inputs",
                             "curate.sources.listing", "curate.sources.streams",
                             "curate.sources.local", "curate.sources.s3",
                             "curate.sources.https", "curate.sources.resuming",
                             "curate.sources.redact"]:
            importlib.import_module(name)
        assert "pyspark" not in sys.modules
        print(len(names))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 20   # every module of the package was imported


def test_no_core_module_names_pyspark_or_the_stages():
    for path in (PACKAGE / "core").rglob("*.py"):
        modules = imported_modules(path)
        assert not {m for m in modules if m.split(".")[0] == "pyspark"}, path
        assert not {m for m in modules if m.startswith("curate.stages")}, path


def test_stage_modules_do_not_import_each_other():
    for stage in STAGES:
        modules = imported_modules(PACKAGE / "stages" / f"{stage}.py")
        others = {m for m in modules for other in STAGES if other != stage
                  and (m == f"curate.stages.{other}" or m.startswith(f"curate.stages.{other}."))}
        assert not others, (stage, others)


def test_the_spark_side_leaves_file_operations_to_stages_io():
    for path in (PACKAGE / "stages").glob("*.py"):
        if path.name == "io.py":
            continue
        modules = imported_modules(path)
        assert not modules & {"shutil", "pathlib", "tempfile", "os.path"}, path
        source = path.read_text("utf-8")
        for call in ("open(", "os.replace", "os.rename", "os.makedirs", "os.listdir",
                     "os.remove", "os.unlink"):
            assert f" {call}" not in source and f"({call}" not in source, (path, call)


def test_each_package_states_its_rule():
    for package in ("core", "sources", "stages"):
        doc = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text()))
        assert doc and "Rule:" in doc, package


# Nothing read from a user's files is unpickled or evaluated: these modules deserialize
# code, and these calls run or unpickle what they are given.
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle",
                  "jsonpickle", "joblib"}
UNSAFE_CALLS = {"eval", "exec", "compile", "__import__", "read_pickle", "unsafe_load",
                "full_load", "torch.load"}


def unsafe_calls(source: str) -> list[str]:
    """Imports of UNSAFE_MODULES, calls of UNSAFE_CALLS (by name or as an attribute),
    yaml.load without SafeLoader, and any load(..., allow_pickle=True)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) \
                else [node.module or ""]
            found += [f"import {n}" for n in names if n.split(".")[0] in UNSAFE_MODULES]
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else \
            func.attr if isinstance(func, ast.Attribute) else ""
        dotted = ast.unparse(func)
        if (isinstance(func, ast.Name) and name in UNSAFE_CALLS) or dotted in UNSAFE_CALLS \
                or (isinstance(func, ast.Attribute) and name in {"read_pickle", "unsafe_load",
                                                                 "full_load"}):
            found.append(dotted)
        elif dotted == "yaml.load" and "SafeLoader" not in ast.unparse(node):
            found.append(dotted)
        elif any(k.arg == "allow_pickle" and not (isinstance(k.value, ast.Constant)
                                                  and k.value.value is False)
                 for k in node.keywords):
            found.append(f"{dotted}(allow_pickle=...)")
    return found


def test_nothing_is_unpickled_or_evaluated():
    root = PACKAGE.parent
    files = [*PACKAGE.rglob("*.py"), *(root / "jobs").glob("*.py")]
    assert len(files) > 60
    assert {str(p.relative_to(root)): calls for p in files
            if (calls := unsafe_calls(p.read_text("utf-8")))} == {}


def test_the_unsafe_call_check_sees_each_kind():
    source = textwrap.dedent("""
        import pickle, marshal as m
        from dill import loads
        eval(text); exec(code); compile(code, "f", "exec"); __import__(name)
        pd.read_pickle(path); torch.load(path); yaml.load(fh); yaml.unsafe_load(fh)
        np.load(path, allow_pickle=True)
        yaml.load(fh, Loader=yaml.SafeLoader); np.load(path, allow_pickle=False)
        re.compile("x"); ast.literal_eval(text); json.loads(text)
    """)
    assert unsafe_calls(source) == [
        "import pickle", "import marshal", "import dill", "eval", "exec", "compile",
        "__import__", "pd.read_pickle", "torch.load", "yaml.load", "yaml.unsafe_load",
        "np.load(allow_pickle=...)"]
