"""Input sources: naming, listing and opening the archives a crawl is read from.

Rule: local paths, s3:// keys and prefixes, http(s):// URLs and CommonCrawl listings all
open as one buffered stream (streams.open_input); the driver only names files, tasks open them.
"""
