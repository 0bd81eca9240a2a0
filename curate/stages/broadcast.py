"""Metadata on Spark workers: the raw lists are broadcast once (a few MB); each Python
worker parses them once and keeps them, with whatever it builds from them (automata)."""
from __future__ import annotations

from curate.core.metadata import (MetadataSet, load_metadata_set, metadata_set_from_bytes,
                                  metadata_source, read_metadata_set_bytes)

_WORKER_METADATA: dict[str, MetadataSet] = {}


class BroadcastMetadata:
    """`metadata` (a MetadataSet) on the driver; `on_worker()` the same on a worker."""

    def __init__(self, spark, metadata_path: str | None, lang: str):
        raw = read_metadata_set_bytes(metadata_path, lang)
        self.source, self.worldwide = metadata_source(metadata_path)
        self.metadata = load_metadata_set(metadata_path, lang)   # parsed once per process
        self.fingerprint = self.metadata.fingerprint
        self._raw = spark.sparkContext.broadcast(raw)

    def __getstate__(self):
        # Only the broadcast handle and small fields travel to tasks, never the lists.
        return {"fingerprint": self.fingerprint, "source": self.source,
                "worldwide": self.worldwide, "_raw": self._raw}

    def on_worker(self) -> MetadataSet:
        metadata = _WORKER_METADATA.get(self.fingerprint)
        if metadata is None:
            metadata = metadata_set_from_bytes(self._raw.value, self.source, self.worldwide)
            if metadata.fingerprint != self.fingerprint:
                raise RuntimeError("metadata changed between driver and worker")
            _WORKER_METADATA[self.fingerprint] = metadata
        return metadata

    def unpersist(self) -> None:
        self._raw.unpersist()
