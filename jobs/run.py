"""spark-submit entry point of the whole pipeline: the same options as `curate run`.

    spark-submit jobs/run.py /data/crawl/ -o /data/work
"""
import sys

from curate.cli import main

if __name__ == "__main__":
    main(["run", *sys.argv[1:]])
