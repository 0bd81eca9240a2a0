"""Configuration read from conf/ (shipped as `curate.conf`): one object for the pipeline
defaults, one dict for local-mode Spark settings."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources


def _conf_file(name: str):
    return resources.files("curate.conf").joinpath(name)


@dataclass(frozen=True)
class PipelineDefaults:
    lang: str
    t: int
    seed: int
    batch_rows: int


@cache
def defaults() -> PipelineDefaults:
    data = tomllib.loads(_conf_file("pipeline.toml").read_text("utf-8"))
    return PipelineDefaults(lang=data["match"]["lang"], t=int(data["sample"]["t"]),
                            seed=int(data["sample"]["seed"]),
                            batch_rows=int(data["extract"]["batch_rows"]))


def local_spark_conf() -> dict[str, str]:
    """spark-defaults style `key value` lines of conf/spark-local.conf."""
    conf = {}
    for line in _conf_file("spark-local.conf").read_text("utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            conf[key] = value.strip()
    return conf


def log4j_properties_path() -> str:
    return str(_conf_file("log4j2.properties"))
