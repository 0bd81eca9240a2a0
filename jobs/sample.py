"""spark-submit entry point of the sample stage: the same options as `curate sample`.

    spark-submit jobs/sample.py --help
"""
import sys

from curate.cli import main

if __name__ == "__main__":
    main(["sample", *sys.argv[1:]])
