"""A Spark standalone cluster on this machine, from the installed pyspark: one master and N
workers (`spark-class` ...Master / ...Worker), everything bound to 127.0.0.1 on free
ports, each process in a session of its own so that it can be stopped (or one worker
killed) with everything it started. For the tests (tests/cluster_helpers.py) and for an
operator trying the cluster commands of docs/operating.md on a laptop:

    .venv/bin/python scripts/cluster.py start --workers 2 --dir /tmp/curate-cluster
    # prints the master URL, e.g. spark://127.0.0.1:41234
    .venv/bin/python scripts/cluster.py stop --dir /tmp/curate-cluster

The workers' Python is not configured: applications say which interpreter their Python
workers run (spark.pyspark.python, e.g. the ./env/bin/python of scripts/package.py's
archive).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

LOOPBACK = "127.0.0.1"


def spark_home() -> Path:
    import pyspark
    return Path(pyspark.__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


class StandaloneCluster:
    """Start with `start()` (or `with`); `stop()` ends every process it started."""

    def __init__(self, workdir: Path, workers: int = 2, cores: int = 1, memory: str = "1g"):
        self.workdir, self.n_workers, self.cores, self.memory = workdir, workers, cores, memory
        self.master_port, self.ui_port = free_port(), free_port()
        self.url = f"spark://{LOOPBACK}:{self.master_port}"
        self.master: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []

    def _spawn(self, name: str, *args: str) -> subprocess.Popen:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": LOOPBACK,
               "SPARK_LOG_DIR": str(self.workdir / "logs")}
        for inherited in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "PYSPARK_GATEWAY_PORT"):
            env.pop(inherited, None)
        log = open(self.workdir / f"{name}.log", "ab")
        return subprocess.Popen([str(spark_home() / "bin" / "spark-class"), *args],
                                stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)

    def start(self, timeout: float = 120) -> "StandaloneCluster":
        self.master = self._spawn("master", "org.apache.spark.deploy.master.Master",
                                  "--host", LOOPBACK, "--port", str(self.master_port),
                                  "--webui-port", str(self.ui_port))
        self.workers = [self._worker(i) for i in range(self.n_workers)]
        try:
            self._wait_for_workers(timeout)
        except RuntimeError:
            self.stop()
            raise
        return self

    def _worker(self, index: int) -> subprocess.Popen:
        return self._spawn(f"worker-{index}", "org.apache.spark.deploy.worker.Worker",
                           self.url, "--host", LOOPBACK, "--port", str(free_port()),
                           "--webui-port", str(free_port()), "--cores", str(self.cores),
                           "--memory", self.memory,
                           "--work-dir", str(self.workdir / f"worker-{index}"))

    def _wait_for_workers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.alive_workers() < self.n_workers:
            if time.monotonic() > deadline or self.master.poll() is not None:
                raise RuntimeError(f"the cluster's workers did not come up; see "
                                   f"{self.workdir}/*.log")
            time.sleep(0.5)

    def state(self) -> dict:
        """The master's view (its web UI's JSON): workers, applications."""
        with urllib.request.urlopen(f"http://{LOOPBACK}:{self.ui_port}/json/",
                                    timeout=5) as response:
            return json.load(response)

    def alive_workers(self) -> int:
        try:
            return sum(1 for w in self.state().get("workers", []) if w.get("state") == "ALIVE")
        except OSError:
            return 0

    def kill_worker(self, index: int) -> None:
        """SIGKILL a worker and the executor it started: a machine lost."""
        _kill(self.workers[index])

    def restart_worker(self, index: int, timeout: float = 120) -> None:
        """A new worker in place of worker `index` (after kill_worker)."""
        _kill(self.workers[index])
        self.workers[index] = self._worker(index)
        self._wait_for_workers(timeout)

    def stop(self) -> None:
        for process in [*self.workers, self.master]:
            if process is not None:
                _kill(process)
        drop_executor_files(self.workdir)

    def __enter__(self) -> "StandaloneCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def drop_executor_files(workdir: Path) -> None:
    """Remove what the executors fetched or unpacked into the workers' work directories
    (worker-N/app-*/<executor>/: the shipped environment, --packages jars; about 0.5 GB an
    application, kept by Spark until its worker's periodic cleanup, which these short-lived
    clusters never reach); each executor's stdout and stderr stay."""
    for executor in workdir.glob("worker-*/app-*/*"):
        if not executor.is_dir() or executor.is_symlink():
            continue
        for entry in executor.iterdir():
            if entry.name in ("stdout", "stderr"):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/curate-cluster"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cores", type=int, default=1)
    parser.add_argument("--memory", default="1g")
    args = parser.parse_args()
    pids = args.dir / "pids.json"
    if args.action == "start":
        cluster = StandaloneCluster(args.dir, args.workers, args.cores, args.memory).start()
        pids.write_text(json.dumps([p.pid for p in [cluster.master, *cluster.workers]]))
        print(cluster.url)
    else:
        for pid in json.loads(pids.read_text()):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        pids.unlink()
        drop_executor_files(args.dir)


if __name__ == "__main__":
    sys.exit(main())
