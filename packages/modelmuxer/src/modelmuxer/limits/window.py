"""The sliding window every store counts with, in whole milliseconds.

A window of ``window_ms`` is cut into ``buckets`` slices of ``width_ms = ceil(window_ms /
buckets)``; slice ``b`` holds what happened in ``[b * width_ms, (b + 1) * width_ms)``. At
``now`` the current slice is ``c = now // width_ms`` and the window counts slices ``c - buckets``
to ``c``: that covers at least the last ``window_ms`` (so at most ``amount`` requests are
admitted in *any* interval of ``window_ms``) and at most one slice more (so the limit is
enforced over between 1 and ``1 + 1/buckets`` windows).

The Redis store's Lua (:mod:`modelmuxer.limits._lua`) does the same arithmetic; these functions
are the memory store's, and the reference the tests compare both against.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

__all__ = ["current", "prune", "tally", "wait_ms"]


def current(now_ms: int, width_ms: int) -> int:
    """The slice ``now_ms`` falls in."""
    return now_ms // width_ms


def prune(counts: MutableMapping[int, int], now_ms: int, width_ms: int, buckets: int) -> None:
    """Drop the slices that left the window."""
    oldest = current(now_ms, width_ms) - buckets
    for stale in [b for b in counts if b < oldest]:
        del counts[stale]


def tally(counts: Mapping[int, int], now_ms: int, width_ms: int, buckets: int) -> int:
    """What the window holds at ``now_ms`` (a slice from a clock ahead of ours counts too)."""
    oldest = current(now_ms, width_ms) - buckets
    return sum(n for b, n in counts.items() if b >= oldest)


def wait_ms(
    counts: Mapping[int, int], now_ms: int, width_ms: int, buckets: int, amount: int, cost: int
) -> int:
    """Milliseconds until ``cost`` more fits under ``amount`` as slices leave the window
    (nothing else arriving meanwhile); 0 when it fits now, -1 when it never can."""
    if cost > amount:
        return -1
    cur = current(now_ms, width_ms)
    left = tally(counts, now_ms, width_ms, buckets)
    if left + cost <= amount:
        return 0
    for k in range(1, buckets + 2):
        left -= counts.get(cur - buckets + k - 1, 0)
        if left + cost <= amount:
            return (cur + k) * width_ms - now_ms
    return (cur + buckets + 1) * width_ms - now_ms  # only slices ahead of our clock are left
