"""Spark stages: one module per stage, each a thin wrapper that reads, maps a pure core
(curate.core) over Arrow batches, and writes.

Rule: stage modules never import each other and hold no algorithm; what two stages
share (stage directories, reports, counts, files written by tasks) lives in stages.io.
"""
