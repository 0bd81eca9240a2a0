"""Pure cores: the algorithm of each stage as plain Python over Arrow batches and iterators.

Rule: nothing here imports pyspark (a test imports every module with pyspark made
unimportable), so each core runs and is tested without a JVM; curate.stages wraps them.
"""
