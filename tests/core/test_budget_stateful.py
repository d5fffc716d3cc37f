"""A hypothesis state machine over reserve / settle / cancel / crash / period reset.

It drives a :class:`~modelmuxer.budgets.BudgetGuard` with a daily and a total budget, on the
memory store, the real Redis and the real PostgreSQL, with a clock it moves. After every step,
for every counter it has touched: ``spent + reserved <= limit``, ``reserved >= 0``, ``spent``
is exactly what was settled on it and ``reserved`` exactly what open, unreclaimed
reservations hold on it.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from modelmuxer import BudgetExceeded
from modelmuxer.budgets import (
    Budget,
    BudgetGuard,
    BudgetStore,
    Counter,
    MemoryBudgetStore,
    Reservation,
)
from modelmuxer.budgets.model import to_usd
from modelmuxer.types import Identity

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

ACME = Identity(org="acme")
BUDGETS = [
    Budget(scope="org", subject="*", period="day", limit_usd=Decimal("1.00")),
    Budget(scope="global", period="total", limit_usd=Decimal("2.50")),
]
#: lease lengths and clock steps never line up, so "expired" never hinges on rounding
LEASES = (10.0, 25.0, 60.0)
CLOCK_STEPS = (7.3, 18.1)


class ManualClock:
    def __init__(self) -> None:
        self.now = time.time()  # near Redis's own clock, which expires its keys

    def __call__(self) -> float:
        return self.now


@dataclass
class Ledger:
    """What the counters should hold, per counter key."""

    counters: dict[str, Counter] = field(default_factory=dict)
    spent: dict[str, Decimal] = field(default_factory=dict)
    open: dict[str, Reservation] = field(default_factory=dict)

    def reserved(self, key: str) -> Decimal:
        held = [r.amount for r in self.open.values() if key in {c.key for c in r.counters}]
        return sum(held, Decimal(0))


StoreFactory = Callable[[ManualClock], BudgetStore]
T = TypeVar("T")


class BudgetMachine(RuleBasedStateMachine):
    """The guard under random reserve / settle / cancel / crash / clock moves."""

    reservations = Bundle("reservations")

    def __init__(self, make_store: StoreFactory, reclaims_on_reserve: bool = True) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.clock = ManualClock()
        self.store = make_store(self.clock)
        self.guard = BudgetGuard(self.store, BUDGETS, clock=self.clock)
        self.expect = Ledger()
        self.lease = LEASES[0]

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    def _reclaim_expired(self) -> None:
        """What the store does first in every reservation: drop leases that have ended."""
        now = self.clock()
        for rid, res in list(self.expect.open.items()):
            if res.expires_at <= now:
                del self.expect.open[rid]

    @rule(target=reservations, cents=st.integers(1, 60), lease=st.sampled_from(LEASES))
    def reserve(self, cents: int, lease: float) -> Reservation:
        self.guard.lease_s = lease
        self._reclaim_expired()
        amount = Decimal(cents) / 100
        try:
            res = self.run(self.guard.reserve(ACME, "some/model", amount))
        except BudgetExceeded as refused:
            room = refused.limit_usd - refused.spent_usd - refused.reserved_usd
            assert room < amount  # refused only when it really did not fit
            return multiple()  # type: ignore[return-value]  # nothing joins the bundle
        for counter in res.counters:
            self.expect.counters[counter.key] = counter
            self.expect.spent.setdefault(counter.key, Decimal(0))
        self.expect.open[res.id] = res
        return res

    def _outlived(self, res: Reservation) -> bool:
        """A live process settles within its lease (the lease outlasts the call timeout); a
        reservation whose lease ended belongs to a process that died: handled as a crash."""
        return res.expires_at <= self.clock()

    @rule(res=consumes(reservations), share=st.integers(0, 100))
    def settle(self, res: Reservation, share: int) -> None:
        if self._outlived(res):
            return
        actual = to_usd(res.amount * share / 100)
        self.run(self.guard.settle(res, actual))
        del self.expect.open[res.id]
        for counter in res.counters:
            self.expect.spent[counter.key] += actual

    @rule(res=consumes(reservations))
    def cancel(self, res: Reservation) -> None:
        if self._outlived(res):
            return
        self.run(self.guard.release(res))
        self.expect.open.pop(res.id, None)

    @rule(res=consumes(reservations))
    def crash(self, res: Reservation) -> None:
        """The process holding ``res`` dies: nobody settles or releases it; its lease will."""

    @rule(step=st.sampled_from(CLOCK_STEPS))
    def time_passes(self, step: float) -> None:
        self.clock.now += step

    @rule()
    def reclaim(self) -> None:
        self._reclaim_expired()
        self.run(self.store.reclaim_expired())

    @rule()
    def next_day(self) -> None:
        """A period reset: the day budget starts a new window (the total budget does not)."""
        now = datetime.fromtimestamp(self.clock.now, UTC)
        midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        self.clock.now = midnight.timestamp() + 0.5

    @invariant()
    def counters_hold(self) -> None:
        now = self.clock()
        # counters of ended windows may be dropped by the store (after its retention): check
        # the current windows; nothing changes a counter once its window has ended
        counters = [
            c
            for c in self.expect.counters.values()
            if c.expires_at is None or c.expires_at.timestamp() > now
        ]
        if not counters:
            return
        for counter, usage in zip(counters, self.run(self.store.usage(counters)), strict=True):
            assert usage.reserved >= 0
            assert usage.spent + usage.reserved <= counter.limit
            assert usage.spent == self.expect.spent[counter.key]
            # a lease that ended still counts until a reservation or a sweep reclaims it
            assert usage.reserved == self.expect.reserved(counter.key), counter.key

    def teardown(self) -> None:
        self.run(self.guard.aclose())
        self.runner.close()


def run_machine(factory: Callable[[], BudgetMachine], settings: settings) -> None:
    """Run the machine built by ``factory`` (hypothesis takes a class or a factory)."""
    run_state_machine_as_test(factory, settings=settings)  # type: ignore[arg-type]


SETTINGS = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_memory_store_state_machine() -> None:
    run_machine(
        lambda: BudgetMachine(lambda clock: MemoryBudgetStore(clock=clock)), settings=SETTINGS
    )


def test_redis_store_state_machine(redis_url: str) -> None:
    from modelmuxer.budgets.redis import RedisBudgetStore

    namespaces: list[str] = []

    def make(clock: ManualClock) -> BudgetStore:
        namespaces.append(f"test_budget_sm_{uuid.uuid4().hex[:10]}")
        return RedisBudgetStore(redis_url, namespace=namespaces[-1], clock=clock)

    try:
        run_machine(lambda: BudgetMachine(make), settings=SETTINGS)
    finally:
        asyncio.run(_drop_redis(redis_url, namespaces))


def test_postgres_store_state_machine(postgres_url: str) -> None:
    from modelmuxer.budgets.postgres import PostgresBudgetStore

    prefix = f"test_budget_sm_{uuid.uuid4().hex[:10]}"
    stores: list[PostgresBudgetStore] = []

    def make(clock: ManualClock) -> BudgetStore:
        stores.append(
            PostgresBudgetStore(
                postgres_url,
                table_prefix=f"{prefix}_{len(stores)}",
                sweep_interval_s=0.0,
                clock=clock,
            )
        )
        return stores[-1]

    try:
        run_machine(lambda: BudgetMachine(make), settings=settings(SETTINGS, max_examples=15))
    finally:
        asyncio.run(_drop_postgres(postgres_url, len(stores), prefix))


async def _drop_redis(url: str, namespaces: list[str]) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    for namespace in namespaces:
        keys = [k async for k in client.scan_iter(match=f"{{{namespace}}}*")]
        if keys:
            await client.delete(*keys)
    await client.aclose()


async def _drop_postgres(url: str, count: int, prefix: str) -> None:
    from modelmuxer.budgets.postgres import PostgresBudgetStore

    for i in range(count):
        store = PostgresBudgetStore(url, table_prefix=f"{prefix}_{i}")
        await store.drop_tables()
        await store.aclose()
