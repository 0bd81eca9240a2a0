"""Package data: the default metadata and the bundled CommonCrawl sample."""
