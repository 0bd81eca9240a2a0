"""spark-submit entry point of the count stage: the same options as `curate count`.

    spark-submit jobs/count.py --help
"""
import sys

from curate.cli import main

if __name__ == "__main__":
    main(["count", *sys.argv[1:]])
