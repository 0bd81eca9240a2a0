"""spark-submit entry point of the dedup stage: the same options as `curate dedup`.

    spark-submit jobs/dedup.py --help
"""
import sys

from curate.cli import main

if __name__ == "__main__":
    main(["dedup", *sys.argv[1:]])
