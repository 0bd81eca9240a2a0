"""Building metadata lists (ALGORITHM.md §3, §6) from registry sources."""
