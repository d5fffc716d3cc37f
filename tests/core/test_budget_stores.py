"""Budget stores: the same contract in memory, in the real Redis and in the real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from _budget_support import budget_store

from modelmuxer.budgets import (
    BudgetStore,
    Counter,
    CounterFull,
    CounterUsage,
    Reservation,
)

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

D = Decimal


class ManualClock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = time.time()  # Redis expires keys by its own clock: stay near it

    def __call__(self) -> float:
        return self.now


def counter(key: str, limit: str = "1.00") -> Counter:
    return Counter(key, D(limit), datetime(2030, 1, 1, tzinfo=UTC))


@pytest.fixture(params=["memory", "redis", "postgres"])
async def store_and_clock(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[BudgetStore, ManualClock]]:
    clock = ManualClock()
    async with budget_store(request, request.param, clock) as store:
        yield store, clock


async def test_reserve_then_settle_charges_the_actual_cost(
    store_and_clock: tuple[BudgetStore, ManualClock],
) -> None:
    store, _ = store_and_clock
    day = counter("org:acme/day/x")
    res = await store.reserve("r1", [day], D("0.30"), 60)
    assert res.usage == (CounterUsage(D(0), D("0.30")),)
    after = await store.settle(res, D("0.12"))
    assert after == (CounterUsage(D("0.12"), D(0)),)
    assert await store.usage([day]) == (CounterUsage(D("0.12"), D(0)),)


async def test_release_gives_everything_back(
    store_and_clock: tuple[BudgetStore, ManualClock],
) -> None:
    store, _ = store_and_clock
    day = counter("user:ann/day/x")
    res = await store.reserve("r1", [day], D("0.5"), 60)
    assert await store.release(res) == (CounterUsage(D(0), D(0)),)
    await store.release(res)  # twice: a no-op
    assert await store.usage([day]) == (CounterUsage(D(0), D(0)),)


async def test_refusal_names_the_counter_and_reserves_nothing_anywhere(
    store_and_clock: tuple[BudgetStore, ManualClock],
) -> None:
    store, _ = store_and_clock
    roomy, tight = counter("org:a/month/x", "10"), counter("user:u/day/x", "0.40")
    await store.reserve("r1", [roomy, tight], D("0.25"), 60)
    with pytest.raises(CounterFull) as caught:
        await store.reserve("r2", [roomy, tight], D("0.25"), 60)
    assert caught.value.counter == tight
    assert caught.value.usage == CounterUsage(D(0), D("0.25"))
    # all or nothing: the roomy counter did not keep the second reservation
    assert await store.usage([roomy, tight]) == (
        CounterUsage(D(0), D("0.25")),
        CounterUsage(D(0), D("0.25")),
    )


async def test_an_amount_over_the_limit_is_refused_on_a_fresh_counter(
    store_and_clock: tuple[BudgetStore, ManualClock],
) -> None:
    store, _ = store_and_clock
    with pytest.raises(CounterFull):
        await store.reserve("r1", [counter("global/total/total", "0.10")], D("0.11"), 60)


async def test_an_abandoned_reservation_is_reclaimed_after_its_lease(
    store_and_clock: tuple[BudgetStore, ManualClock],
) -> None:
    store, clock = store_and_clock
    day = counter("org:acme/day/x", "1")
    await store.reserve("crashed", [day], D("0.8"), 30)  # its process dies: never settled
    with pytest.raises(CounterFull):
        await store.reserve("r2", [day], D("0.5"), 30)
    clock.now += 31
    res = await store.reserve("r2", [day], D("0.5"), 30)  # reclaims the expired lease first
    assert res.usage == (CounterUsage(D(0), D("0.5")),)


async def test_reclaim_expired_releases_only_ended_leases(
    store_and_clock: tuple[BudgetStore, ManualClock],
) -> None:
    store, clock = store_and_clock
    day = counter("org:acme/day/x", "1")
    await store.reserve("short", [day], D("0.1"), 10)
    await store.reserve("long", [day], D("0.2"), 100)
    clock.now += 11
    assert await store.reclaim_expired() == 1
    assert await store.usage([day]) == (CounterUsage(D(0), D("0.2")),)


async def test_settling_after_the_lease_was_reclaimed_still_charges_the_cost(
    store_and_clock: tuple[BudgetStore, ManualClock],
) -> None:
    store, clock = store_and_clock
    day = counter("org:acme/day/x", "1")
    res = await store.reserve("slow", [day], D("0.3"), 10)
    clock.now += 11
    await store.reclaim_expired()
    assert await store.settle(res, D("0.2")) == (CounterUsage(D("0.2"), D(0)),)


async def test_concurrent_reservations_never_exceed_the_limit(
    store_and_clock: tuple[BudgetStore, ManualClock],
) -> None:
    store, _ = store_and_clock
    day = counter("org:acme/day/x", "1.00")

    async def one(i: int) -> Reservation | None:
        try:
            return await store.reserve(f"r{i}", [day], D("0.07"), 60)
        except CounterFull:
            return None

    results = await asyncio.gather(*(one(i) for i in range(40)))
    granted = [r for r in results if r is not None]
    assert len(granted) == 14  # floor(1.00 / 0.07): exactly as many as fit, no more
    usage = (await store.usage([day]))[0]
    assert usage.reserved == D("0.07") * 14
    await asyncio.gather(*(store.settle(r, D("0.05")) for r in granted))
    assert await store.usage([day]) == (CounterUsage(D("0.05") * 14, D(0)),)


async def test_an_unused_counter_reads_as_zero(
    store_and_clock: tuple[BudgetStore, ManualClock],
) -> None:
    store, _ = store_and_clock
    assert await store.usage([counter("nobody/day/x")]) == (CounterUsage(),)
