"""spark-submit entry point of the metadata builder: the same options as
`curate metadata build`.

    spark-submit jobs/metadata_build.py -o /shared/meta --wordnet /usr/share/wordnet \
        --wiki-text '/shared/dumps/enwiki-*-pages-articles*.bz2' --pageviews /shared/pageviews/
"""
import sys

from curate.cli import main

if __name__ == "__main__":
    main(["metadata", "build", *sys.argv[1:]])
