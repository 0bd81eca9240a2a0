"""Configuration read from conf/ (shipped as `curate.conf`): one object for the pipeline
defaults, one dict for local-mode Spark settings."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from curate.extract.options import ExtractOptions


def _conf_file(name: str):
    return resources.files("curate.conf").joinpath(name)


@dataclass(frozen=True)
class PipelineDefaults:
    lang: str
    t: int
    seed: int
    batch_rows: int
    extract: ExtractOptions
    max_failed_fraction: float
    input_base_url: str
    max_rows_per_file: int


@cache
def defaults() -> PipelineDefaults:
    data = tomllib.loads(_conf_file("pipeline.toml").read_text("utf-8"))
    extract = data["extract"]
    return PipelineDefaults(
        lang=data["match"]["lang"], t=int(data["sample"]["t"]),
        seed=int(data["sample"]["seed"]), batch_rows=int(extract["batch_rows"]),
        extract=ExtractOptions(lazy_images=bool(extract["lazy_images"]),
                               max_page_bytes=int(extract["max_page_bytes"]),
                               page_time_limit=float(extract["page_time_limit"])),
        max_failed_fraction=float(extract["max_failed_fraction"]),
        input_base_url=str(extract["input_base_url"]),
        max_rows_per_file=int(data["sample"]["max_rows_per_file"]))


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
