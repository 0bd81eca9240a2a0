"""spark-submit entry point of the extract stage: the same options as `curate extract`.

    spark-submit jobs/extract.py --help
"""
import sys

from curate.cli import main

if __name__ == "__main__":
    main(["extract", *sys.argv[1:]])
