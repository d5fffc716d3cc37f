"""Settlements a shared store missed: kept, and retried in order until it answers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from modelmuxer._shared import SharedState, Unavailable

__all__ = ["Unsettled"]

_log = logging.getLogger("modelmuxer.budgets")

Operation = Callable[[], Awaitable[Any]]
Spawn = Callable[[Awaitable[Any], str], "asyncio.Task[Any]"]


class Unsettled:
    """Settle / release operations the store missed (it was unreachable), retried oldest first
    by one background task whenever the store's breaker lets a call through.

    Retrying is safe: every store settles a reservation once (a retry whose first attempt ran
    after all changes nothing) and releasing is idempotent. ``spawn`` starts a task that runs
    to its end (the guard's); ``max_kept`` bounds what an endless outage can pile up.
    """

    def __init__(self, shared: SharedState, spawn: Spawn, *, max_kept: int = 100_000) -> None:
        self._shared = shared
        self._spawn = spawn
        self._kept: deque[tuple[Operation, str]] = deque(maxlen=max_kept)
        self._retrier: asyncio.Task[Any] | None = None
        self._closing = False
        self._closed = asyncio.Event()  # wakes the retrier at close

    def __len__(self) -> int:
        return len(self._kept)

    def add(self, operation: Operation, label: str) -> None:
        """Keep ``operation`` (``label`` names it in logs) and make sure a retrier runs."""
        self._kept.append((operation, label))
        if not self._closing and (self._retrier is None or self._retrier.done()):
            self._retrier = self._spawn(self._retry(), "retry of settlements")

    async def close(self) -> None:
        """One last round, then stop retrying (what is left stays unsettled)."""
        self._closing = True
        self._closed.set()
        if self._retrier is not None and not self._retrier.done():
            await asyncio.gather(self._retrier, return_exceptions=True)
        else:
            await self._round()

    async def _retry(self) -> None:
        while self._kept and not self._closing:
            wait = max(self._shared.breaker.retry_in(), 0.05)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), wait)
            await self._round()

    async def _round(self) -> None:
        """Retry the kept operations, oldest first, until the store misses one."""
        while self._kept:
            operation, label = self._kept[0]
            try:
                await self._shared.acall(operation)
            except Unavailable:
                return
            except Exception as exc:  # the store answered with an error: retrying cannot help
                _log.error("budget %s failed: %r", label, exc)
            self._kept.popleft()
