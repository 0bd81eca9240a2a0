"""spark-submit entry point of the match stage: the same options as `curate match`.

    spark-submit jobs/match.py --help
"""
import sys

from curate.cli import main

if __name__ == "__main__":
    main(["match", *sys.argv[1:]])
