"""The budget guard keeps each identity's lines until a window rolls over or a budget changes:
what it reuses must always equal what it would work out afresh."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from _budget_support import budget_store

from modelmuxer import BudgetExceeded, Identity
from modelmuxer.budgets import Budget, BudgetGuard, BudgetStore, MemoryBudgetStore
from modelmuxer.budgets import guard as guard_module

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

D = Decimal
ANN = Identity(user="ann", org="acme")
BOB = Identity(user="bob", org="beta")
BUDGETS = [
    Budget(scope="org", subject="*", period="day", limit_usd=D("1")),
    Budget(scope="user", subject="*", period="month", limit_usd=D("5")),
    Budget(scope="global", period="total", limit_usd=D("100")),
]


class ManualClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def fresh_lines(guard: BudgetGuard, identity: Identity, now: float) -> list[object]:
    """What a guard with nothing cached answers at ``now``."""
    other = BudgetGuard(MemoryBudgetStore(), guard.budgets, clock=lambda: now)
    return list(other.lines(identity))


def moments_around(edge: datetime) -> list[float]:
    """Clock readings just before, at and after ``edge``, down to below a microsecond."""
    at = edge.timestamp()
    offsets = [-2.0, -0.0011, -0.001, -0.0009, -1e-6, -6e-7, -5e-7, -4e-7, 0.0, 4e-7, 1e-6, 0.5]
    return [at + offset for offset in offsets]


@pytest.mark.parametrize(
    "edge",
    [
        datetime(2026, 5, 31, 0, 0, tzinfo=UTC),  # a day
        datetime(2026, 6, 1, 0, 0, tzinfo=UTC),  # a day and a month
        datetime(2026, 12, 31, 0, 0, tzinfo=UTC) + timedelta(days=1),  # a year
    ],
)
def test_reused_lines_equal_fresh_ones_across_a_roll_over(edge: datetime) -> None:
    clock = ManualClock(edge.timestamp() - 3600)
    guard = BudgetGuard(MemoryBudgetStore(clock=clock), BUDGETS, clock=clock)
    guard.lines(ANN)  # warm: the next readings may reuse it
    for now in moments_around(edge):
        clock.now = now
        for identity in (ANN, BOB):
            assert guard.lines(identity) == fresh_lines(guard, identity, now), now
            assert guard.lines(identity) == fresh_lines(guard, identity, now), now  # reused


def test_a_clock_that_goes_back_gets_the_earlier_window() -> None:
    edge = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
    clock = ManualClock(edge + 10)
    guard = BudgetGuard(MemoryBudgetStore(clock=clock), BUDGETS, clock=clock)
    after = guard.lines(ANN)
    clock.now = edge - 10
    before = guard.lines(ANN)
    assert before == fresh_lines(guard, ANN, edge - 10)
    assert [line.counter.key for line in before] != [line.counter.key for line in after]
    assert before[0].counter.key == "org:acme/day/2026-05-31"


def test_budgets_changed_between_requests_are_seen_by_the_next() -> None:
    clock = ManualClock(datetime(2026, 3, 3, 12, tzinfo=UTC).timestamp())
    guard = BudgetGuard(MemoryBudgetStore(clock=clock), BUDGETS, clock=clock)
    assert {line.counter.limit for line in guard.lines(ANN)} == {D(1), D(5), D(100)}
    guard.set_budget(scope="org", subject="*", period="day", limit_usd="2")  # replaced
    assert {line.counter.limit for line in guard.lines(ANN)} == {D(2), D(5), D(100)}
    guard.set_budget(scope="org", subject="acme", period="day", limit_usd="3")  # beats '*'
    assert guard.lines(ANN)[0].budget.name == "org:acme/day"
    assert guard.lines(BOB)[0].budget.name == "org:*/day"
    guard.remove_budget("global/total")
    guard.remove_budget("org:acme/day")
    lines = guard.lines(ANN)
    assert lines == fresh_lines(guard, ANN, clock.now)
    assert [line.budget.name for line in lines] == ["org:*/day", "user:*/month"]


def test_the_lines_returned_are_the_callers_own() -> None:
    guard = BudgetGuard(MemoryBudgetStore(), BUDGETS)
    guard.lines(ANN).clear()
    assert len(guard.lines(ANN)) == 3


def test_many_identities_keep_a_bounded_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard_module, "_MAX_RESOLVED", 5)
    clock = ManualClock(datetime(2026, 3, 3, 12, tzinfo=UTC).timestamp())
    guard = BudgetGuard(MemoryBudgetStore(clock=clock), BUDGETS, clock=clock)
    people = [Identity(user=f"u{i}", org=f"o{i % 3}") for i in range(20)]
    for person in people * 2:
        assert guard.lines(person) == fresh_lines(guard, person, clock.now)
    assert len(guard._resolved) == 5


async def test_a_budget_edited_between_requests_limits_the_next_reservation() -> None:
    guard = BudgetGuard(MemoryBudgetStore(), BUDGETS)
    await guard.settle(await guard.reserve(ANN, None, 0.5), 0.5)
    guard.set_budget(scope="org", subject="*", period="day", limit_usd="0.6")
    with pytest.raises(BudgetExceeded) as caught:
        await guard.reserve(ANN, None, 0.2)
    assert caught.value.limit_usd == D("0.6")
    guard.set_budget(scope="org", subject="*", period="day", limit_usd="0.8")
    await guard.release(await guard.reserve(ANN, None, 0.2))
    await guard.aclose()


async def test_concurrent_tasks_and_threads_never_overspend_while_budgets_change() -> None:
    guard = BudgetGuard(
        MemoryBudgetStore(), [Budget(scope="org", subject="*", period="day", limit_usd=D("1"))]
    )
    people = [Identity(user=f"u{i}", org="acme") for i in range(7)]

    async def spend(who: Identity) -> bool:
        try:
            reservation = await guard.reserve(who, None, D("0.1"))
        except BudgetExceeded:
            return False
        await asyncio.sleep(0)
        await guard.settle(reservation, D("0.1"))
        return True

    def in_a_thread(who: Identity, out: list[bool]) -> None:
        out.extend(asyncio.run(spend(who)) for _ in range(10))

    stop = threading.Event()

    def edit() -> None:  # replaces the budget (same limit) over and over: caches go stale
        while not stop.is_set():
            guard.set_budget(scope="org", subject="*", period="day", limit_usd="1")
            time.sleep(0)

    editor = threading.Thread(target=edit)
    editor.start()
    results: list[bool] = []
    threads = [threading.Thread(target=in_a_thread, args=(p, results)) for p in people[:3]]
    for thread in threads:
        thread.start()
    results += await asyncio.gather(*(spend(p) for p in people for _ in range(5)))
    for thread in threads:
        thread.join()
    stop.set()
    editor.join()
    assert results.count(True) == 10
    (state,) = await guard.states(people[0])
    assert (state.spent_usd, state.reserved_usd) == (D(1), D(0))
    await guard.aclose()


async def test_a_failing_settle_in_memory_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryBudgetStore()
    guard = BudgetGuard(store, BUDGETS)
    reservation = await guard.reserve(ANN, None, 0.1)

    async def broken(*_: object) -> tuple[()]:
        raise RuntimeError("store bug")

    monkeypatch.setattr(store, "settle", broken)
    await guard.settle(reservation, 0.1)
    assert "settle of reservation" in caplog.text
    assert "store bug" in caplog.text
    await guard.aclose()


# -- the same roll-over against every store --------------------------------------------------


@pytest.fixture(params=["memory", "redis", "postgres"])
async def store_and_clock(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[BudgetStore, ManualClock]]:
    # next UTC midnight, less a little: stores that expire keys by their own clock stay near it
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    clock = ManualClock((midnight + timedelta(days=1)).timestamp() - 0.0105)
    async with budget_store(request, request.param, clock) as store:
        yield store, clock


async def test_a_full_day_budget_frees_up_at_midnight_in_every_store(
    store_and_clock: tuple[BudgetStore, ManualClock],
) -> None:
    store, clock = store_and_clock
    day = Budget(scope="org", subject="*", period="day", limit_usd=D("1"))
    guard = BudgetGuard(store, [day], clock=clock)
    await guard.settle(await guard.reserve(ANN, None, 1), 1)
    next_day = datetime.fromtimestamp(clock.now, UTC) + timedelta(seconds=1)
    midnight = next_day.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    for before in (0.01, 0.0015, 0.001, 0.0005, 2e-6):  # a hair before midnight: still full
        clock.now = midnight - before
        with pytest.raises(BudgetExceeded):
            await guard.reserve(ANN, None, 0.01)
    clock.now = midnight
    fresh = await guard.reserve(ANN, None, 0.5)
    assert fresh.counters[0].key.endswith(datetime.fromtimestamp(midnight, UTC).strftime("%F"))
    (state,) = await guard.states(ANN)
    assert (state.spent_usd, state.reserved_usd) == (D(0), D("0.5"))
    await guard.release(fresh)
