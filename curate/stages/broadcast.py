"""Metadata on Spark workers: the raw file is broadcast once (a few MB); each Python
worker parses it once and keeps it, with whatever it builds from it (the automaton)."""
from __future__ import annotations

from curate.metadata import Metadata, metadata_from_bytes, read_metadata_bytes

_WORKER_METADATA: dict[str, Metadata] = {}


class BroadcastMetadata:
    def __init__(self, spark, metadata_path: str | None, lang: str):
        raw = read_metadata_bytes(metadata_path)
        self.metadata = metadata_from_bytes(raw, name=metadata_path or "default", lang=lang)
        self.fingerprint = self.metadata.fingerprint
        self.lang = lang
        self._raw = spark.sparkContext.broadcast(raw)

    def __getstate__(self):
        # Only the broadcast handle and the fingerprint travel to tasks, never the list.
        return {"fingerprint": self.fingerprint, "lang": self.lang, "_raw": self._raw}

    def on_worker(self) -> Metadata:
        metadata = _WORKER_METADATA.get(self.fingerprint)
        if metadata is None:
            metadata = metadata_from_bytes(self._raw.value, name="broadcast", lang=self.lang)
            if metadata.fingerprint != self.fingerprint:
                raise RuntimeError("metadata changed between driver and worker")
            _WORKER_METADATA[self.fingerprint] = metadata
        return metadata

    def unpersist(self) -> None:
        self._raw.unpersist()
