"""The slot values that send rows to chosen partitions of Spark's hash partitioning.

dedup cuts curate-made image_uuids into n ranges itself (no sampling job) and needs range
r to land in partition r of a plain hash shuffle. HashPartitioning's partition id is
Pmod(Murmur3Hash(key, seed 42), n), so for a bigint key that is Spark's
Murmur3_x86_32.hashLong, ported here exactly; `slot_values(n)` finds, for each r, a long
that hashes there. Pure Python, checked against Spark's own `hash` in the tests.
"""
from __future__ import annotations


def slot_values(n: int) -> list[int]:
    """For each partition r of n, the smallest long v with pmod(hash(v), n) == r: the value
    Spark's hash partitioning sends to partition r (HashPartitioning's partition id is
    Pmod(Murmur3Hash(slot, seed 42), n), and a long hashes with hashLong). Computed here,
    not by a Spark job, so the slot route runs no job before the shuffle."""
    found: dict[int, int] = {}
    for v in range(64 * n):   # about n ln n values find them all: 64 n is ample
        found.setdefault(spark_hash_long(v) % n, v)
        if len(found) == n:
            return [found[r] for r in range(n)]
    missing = sorted(set(range(n)) - set(found))
    raise RuntimeError(f"no long below {64 * n} hashes to partition(s) {missing[:5]} "
                       f"of {n}")


_MASK = 0xFFFFFFFF


def spark_hash_long(value: int, seed: int = 42) -> int:
    """Spark's hash() of a bigint, as a signed 32-bit int: Murmur3_x86_32.hashLong (the low
    32 bits, then the high, then the finalisation of 8 bytes), with Spark's seed 42. Python's
    % of it by n is Spark's pmod."""
    h = seed
    for word in (value & _MASK, (value >> 32) & _MASK):
        h = _mix_h1(h, _mix_k1(word))
    h ^= 8
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK
    h ^= h >> 16
    return h - (1 << 32) if h & 0x80000000 else h


def _mix_k1(k: int) -> int:
    k = (k * 0xCC9E2D51) & _MASK
    k = ((k << 15) | (k >> 17)) & _MASK
    return (k * 0x1B873593) & _MASK


def _mix_h1(h: int, k: int) -> int:
    h ^= k
    h = ((h << 13) | (h >> 19)) & _MASK
    return (h * 5 + 0xE6546B64) & _MASK
