"""Budget counters in this process's memory: exact, fast, not shared between processes."""

from __future__ import annotations

import heapq
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from modelmuxer.budgets.base import Clock, CounterFull, Reservation, system_clock
from modelmuxer.budgets.model import Counter, CounterUsage

__all__ = ["MemoryBudgetStore"]


@dataclass(slots=True)
class _Cell:
    spent: Decimal
    reserved: Decimal
    expires_at: float | None  # epoch seconds: drop the counter after this (None: never)

    def usage(self) -> CounterUsage:
        return CounterUsage(self.spent, self.reserved)


@dataclass(frozen=True, slots=True)
class _Lease:
    keys: tuple[str, ...]
    amount: Decimal
    expires_at: float


class MemoryBudgetStore:
    """A :class:`~modelmuxer.budgets.BudgetStore` in a dict, for one process.

    Each operation runs under a lock without awaiting anything, so it is atomic for every task
    and thread of the process. Counters of ended windows are dropped ``retention_s`` after their
    window ends; settled reservations are remembered (settling again is a no-op) for
    ``settled_kept_s`` after their lease.
    """

    def __init__(
        self,
        *,
        clock: Clock = system_clock,
        retention_s: float = 86_400.0,
        settled_kept_s: float = 600.0,
    ) -> None:
        self._clock = clock
        self._retention_s = retention_s
        self._settled_kept_s = settled_kept_s
        self._settled: dict[str, float] = {}  # reservation id -> remembered until
        self._cells: dict[str, _Cell] = {}
        self._leases: dict[str, _Lease] = {}
        self._expiries: list[tuple[float, str]] = []  # a heap: the next lease to end first
        self._swept_at = float("-inf")
        self._lock = threading.Lock()

    async def reserve(
        self, reservation_id: str, counters: Sequence[Counter], amount: Decimal, lease_s: float
    ) -> Reservation:
        now = self._clock()
        with self._lock:
            self._reclaim(now)
            cells = [self._cell(counter) for counter in counters]
            for counter, cell in zip(counters, cells, strict=True):
                if cell.spent + cell.reserved + amount > counter.limit:
                    raise CounterFull(counter, cell.usage(), amount)
            for cell in cells:
                cell.reserved += amount
            expires_at = now + lease_s
            keys = tuple(c.key for c in counters)
            self._leases[reservation_id] = _Lease(keys, amount, expires_at)
            heapq.heappush(self._expiries, (expires_at, reservation_id))
            usage = tuple(cell.usage() for cell in cells)
        return Reservation(reservation_id, tuple(counters), amount, expires_at, usage)

    async def settle(self, reservation: Reservation, actual: Decimal) -> tuple[CounterUsage, ...]:
        with self._lock:
            cells = [self._cell(counter) for counter in reservation.counters]
            if reservation.id in self._settled:
                return tuple(cell.usage() for cell in cells)
            now = self._clock()
            end = reservation.expires_at if math.isfinite(reservation.expires_at) else now
            self._settled[reservation.id] = max(end, now) + self._settled_kept_s
            lease = self._leases.pop(reservation.id, None)
            for cell in cells:
                if lease is not None:
                    cell.reserved -= lease.amount
                cell.spent += actual
            return tuple(cell.usage() for cell in cells)

    async def release(self, reservation: Reservation) -> tuple[CounterUsage, ...]:
        with self._lock:
            self._drop(reservation.id)
            return tuple(
                cell.usage() if (cell := self._cells.get(c.key)) else CounterUsage()
                for c in reservation.counters
            )

    async def usage(self, counters: Sequence[Counter]) -> tuple[CounterUsage, ...]:
        with self._lock:
            return tuple(
                cell.usage() if (cell := self._cells.get(c.key)) else CounterUsage()
                for c in counters
            )

    async def reclaim_expired(self) -> int:
        with self._lock:
            return self._reclaim(self._clock())

    async def aclose(self) -> None:
        return None

    # -- internals (the caller holds the lock) -----------------------------------------------

    def _cell(self, counter: Counter) -> _Cell:
        cell = self._cells.get(counter.key)
        if cell is None:
            end = None if counter.expires_at is None else counter.expires_at.timestamp()
            cell = _Cell(Decimal(0), Decimal(0), None if end is None else end + self._retention_s)
            self._cells[counter.key] = cell
        return cell

    def _drop(self, reservation_id: str) -> None:
        lease = self._leases.pop(reservation_id, None)
        if lease is None:
            return
        for key in lease.keys:
            cell = self._cells.get(key)
            if cell is not None:
                cell.reserved -= lease.amount

    def _reclaim(self, now: float) -> int:
        released = 0
        while self._expiries and self._expiries[0][0] <= now:
            _, rid = heapq.heappop(self._expiries)
            if rid in self._leases:  # not settled or released meanwhile
                self._drop(rid)
                released += 1
        if now - self._swept_at >= 60.0:  # old windows' counters: a full scan, once a minute
            self._swept_at = now
            self._drop_stale_counters(now)
            for rid in [r for r, until in self._settled.items() if until <= now]:
                del self._settled[rid]
        return released

    def _drop_stale_counters(self, now: float) -> None:
        stale = [
            key
            for key, cell in self._cells.items()
            if cell.expires_at is not None and cell.expires_at <= now and cell.reserved == 0
        ]
        for key in stale:
            del self._cells[key]
