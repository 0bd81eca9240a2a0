"""Spark and pipeline configuration files; installed as the package `curate.conf`."""
