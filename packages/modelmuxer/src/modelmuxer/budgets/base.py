"""The contract every budget store keeps: :class:`BudgetStore`.

A store holds one counter (spent, reserved) per budget window and the open reservations. Its
operations are atomic across every counter a request touches:

- ``reserve`` adds ``amount`` to *all* the counters' ``reserved`` only if *each* of them keeps
  ``spent + reserved + amount <= limit``; otherwise it changes nothing and raises
  :class:`CounterFull` naming the first counter that refused. There is no separate read before
  the write (no check-then-act): the condition is evaluated where the write happens.
- ``settle`` turns a reservation into spending: each counter loses the reserved amount and gains
  the actual cost. ``release`` only gives the reservation back.
- Every reservation carries a lease. A process that dies holding one does not leak it: any
  later ``reserve`` (or :meth:`BudgetStore.reclaim_expired`) atomically releases expired
  reservations. Settling a reservation whose lease was already reclaimed still records its
  actual cost, so spending is never lost.
- Settling is idempotent: settling a reservation again (for a while after its lease) changes
  nothing, so a settlement whose answer was lost in an outage can be retried without charging
  twice. Releasing is idempotent too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

from modelmuxer.budgets.model import Counter, CounterUsage

__all__ = ["BudgetStore", "Clock", "CounterFull", "Reservation", "system_clock"]

#: Seconds since the epoch; stores and the guard take one so tests can move time.
Clock = Callable[[], float]


def system_clock() -> float:
    """The wall clock (``time.time()``)."""
    return time.time()


@dataclass(frozen=True, slots=True)
class Reservation:
    """An open reservation of ``amount`` USD on each of ``counters``.

    ``id`` is chosen by the caller before the store is asked, so a caller cancelled while the
    reservation is in flight can still release it by id. ``expires_at`` is the lease's end
    (epoch seconds). ``usage`` is what the counters held right after reserving.
    """

    id: str
    counters: tuple[Counter, ...]
    amount: Decimal
    expires_at: float
    usage: tuple[CounterUsage, ...] = ()


class CounterFull(Exception):
    """Raised by a store when a counter cannot take the amount; nothing was reserved."""

    def __init__(self, counter: Counter, usage: CounterUsage, amount: Decimal) -> None:
        self.counter = counter
        self.usage = usage
        self.amount = amount
        super().__init__(
            f"{counter.key}: limit {counter.limit}, spent {usage.spent}, "
            f"reserved {usage.reserved}, asked {amount}"
        )


@runtime_checkable
class BudgetStore(Protocol):
    """Where budget counters live: one process (memory), or shared (Redis, PostgreSQL)."""

    async def reserve(
        self, reservation_id: str, counters: Sequence[Counter], amount: Decimal, lease_s: float
    ) -> Reservation:
        """Reserve ``amount`` on every counter, all or nothing.

        :raises CounterFull: a counter would exceed its limit; nothing was reserved.
        """
        ...

    async def settle(self, reservation: Reservation, actual: Decimal) -> tuple[CounterUsage, ...]:
        """Replace the reservation by the actual cost on each of its counters (a second settle
        of the same reservation changes nothing); the usage of its counters afterwards."""
        ...

    async def release(self, reservation: Reservation) -> tuple[CounterUsage, ...]:
        """Give the reservation back (an unknown or reclaimed id changes nothing); the usage of
        its counters afterwards."""
        ...

    async def usage(self, counters: Sequence[Counter]) -> tuple[CounterUsage, ...]:
        """The counters' current spent and reserved amounts (zero for an unused counter)."""
        ...

    async def reclaim_expired(self) -> int:
        """Release every reservation whose lease has ended; the number released."""
        ...

    async def aclose(self) -> None:
        """Close connections (the store is unusable afterwards)."""
        ...
