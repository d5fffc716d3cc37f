"""Rate-limit counters in this process's memory: exact, fast, not shared between processes."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from modelmuxer.limits import window
from modelmuxer.limits.base import Ask, Meter, Refusal, WindowUsage

__all__ = ["MemoryLimitStore"]

_SWEEP_EVERY_MS = 60_000


class MemoryLimitStore:
    """A :class:`~modelmuxer.limits.LimitStore` in a dict, for one process.

    Each operation runs under a lock, so it is atomic for every task and thread of the
    process. A meter idle for longer than its window is dropped (swept once a minute).
    """

    def __init__(self) -> None:
        self._slices: dict[str, dict[int, int]] = {}
        self._meters: dict[str, Meter] = {}
        self._swept_at = -_SWEEP_EVERY_MS
        self._lock = threading.Lock()

    def acquire(self, asks: Sequence[Ask], now_ms: int) -> Refusal | None:
        with self._lock:
            self._sweep(now_ms)
            for index, ask in enumerate(asks):
                usage = self._usage(ask, now_ms)
                if usage.retry_after_ms != 0:
                    return Refusal(index, usage)
            for ask in asks:
                if ask.take:
                    self._add(ask.meter, ask.cost, now_ms)
            return None

    def usage(self, asks: Sequence[Ask], now_ms: int) -> list[WindowUsage]:
        with self._lock:
            return [self._usage(ask, now_ms) for ask in asks]

    def add(self, counts: Sequence[tuple[Meter, int]], now_ms: int) -> None:
        with self._lock:
            for meter, amount in counts:
                self._add(meter, amount, now_ms)

    def close(self) -> None:
        return None

    # -- internals (the caller holds the lock) -----------------------------------------------

    def _usage(self, ask: Ask, now_ms: int) -> WindowUsage:
        meter = ask.meter
        counts = self._slices.get(meter.key, {})
        args = (now_ms, meter.width_ms, meter.buckets)
        used = window.tally(counts, *args)
        if used + ask.cost <= meter.amount:  # it fits now: what wait_ms would answer, 0
            return WindowUsage(used, 0)
        wait = window.wait_ms(counts, *args, meter.amount, ask.cost)
        return WindowUsage(used, None if wait < 0 else wait)

    def _add(self, meter: Meter, amount: int, now_ms: int) -> None:
        counts = self._slices.setdefault(meter.key, {})
        self._meters[meter.key] = meter
        window.prune(counts, now_ms, meter.width_ms, meter.buckets)
        slot = window.current(now_ms, meter.width_ms)
        counts[slot] = counts.get(slot, 0) + amount

    def _sweep(self, now_ms: int) -> None:
        if now_ms - self._swept_at < _SWEEP_EVERY_MS:
            return
        self._swept_at = now_ms
        for key, meter in list(self._meters.items()):
            counts = self._slices[key]
            window.prune(counts, now_ms, meter.width_ms, meter.buckets)
            if not counts:
                del self._slices[key], self._meters[key]
