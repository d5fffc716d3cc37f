"""Rate-limit stores: the sliding window's guarantees, and the same answers in memory and in the
real Redis (whose Lua does the window's arithmetic again)."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from modelmuxer.limits import Ask, LimitStore, MemoryLimitStore, Meter, Refusal, WindowUsage
from modelmuxer.limits import window as win

NOW_MS = int(time.time() * 1000)  # Redis expires keys by its own clock: stay near it


def meter(
    key: str = "user:ann/requests", amount: int = 5, window_ms: int = 1000, buckets: int = 10
) -> Meter:
    return Meter(key, amount, window_ms, buckets)


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[LimitStore]:
    if request.param == "memory":
        yield MemoryLimitStore()
        return
    from modelmuxer.limits.redis import RedisLimitStore

    url = request.getfixturevalue("redis_url")
    prefix = f"test:limits:{uuid.uuid4().hex[:10]}"
    store = RedisLimitStore(url, key_prefix=prefix, timeout_s=2.0)
    yield store
    keys = list(store.client.scan_iter(match=f"{{{prefix}}}*"))
    if keys:
        store.client.delete(*keys)
    store.close()


# -- the window's arithmetic ----------------------------------------------------------------------


def test_slices_cover_at_least_the_window_and_at_most_one_slice_more() -> None:
    counts = {win.current(NOW_MS - 1000, 100): 1}  # exactly one window ago: still counted
    assert win.tally(counts, NOW_MS, 100, 10) == 1
    old = {win.current(NOW_MS, 100) - 11: 1}  # more than a window and a slice ago: gone
    assert win.tally(old, NOW_MS, 100, 10) == 0


def test_wait_is_until_enough_slices_leave() -> None:
    now = 10_050  # slice 100 of width 100
    counts = {90: 2, 95: 3, 100: 1}  # 6 in the window of 10 slices (90..100)
    assert win.wait_ms(counts, now, 100, 10, amount=6, cost=1) == 10_100 - now  # 90 leaves
    assert win.wait_ms(counts, now, 100, 10, amount=4, cost=1) == 10_600 - now  # 95 leaves
    assert win.wait_ms(counts, now, 100, 10, amount=9, cost=1) == 0
    assert win.wait_ms(counts, now, 100, 10, amount=3, cost=4) == -1


def _admitted_in_any_window(times: list[int], window_ms: int) -> int:
    """The most of ``times`` in any interval of ``window_ms`` (brute force)."""
    return max(sum(1 for u in times if t <= u < t + window_ms) for t in times)


@pytest.mark.parametrize("seed", range(5))
def test_never_more_than_amount_in_any_window_and_no_stricter_than_a_slice(seed: int) -> None:
    rng = random.Random(seed)
    m = meter(amount=7, window_ms=1000, buckets=rng.choice([1, 4, 10, 20]))
    store = MemoryLimitStore()
    now = NOW_MS
    admitted: list[int] = []
    for _ in range(400):
        now += rng.choice([0, 1, 5, 20, 60, 200])
        recent = sum(1 for t in admitted if t > now - m.window_ms - m.width_ms)
        ok = store.acquire([Ask(m)], now) is None
        if ok:
            admitted.append(now)
        if recent < m.amount:  # fewer than amount in a window and a slice: must be admitted
            assert ok
    assert _admitted_in_any_window(admitted, m.window_ms) <= m.amount
    assert len(admitted) > 20


# -- the store contract, in memory and in Redis ---------------------------------------------------


def test_acquire_takes_all_or_nothing(store: LimitStore) -> None:
    user, org = meter("user:ann", amount=3), meter("org:acme", amount=4)
    for _ in range(3):
        assert store.acquire([Ask(user), Ask(org)], NOW_MS) is None
    refusal = store.acquire([Ask(org), Ask(user)], NOW_MS)
    assert isinstance(refusal, Refusal)
    assert refusal.index == 1
    assert refusal.usage.used == 3
    assert refusal.usage.retry_after_ms is not None
    assert refusal.usage.retry_after_ms > 0
    # the org's counter was not touched by the refused acquisition
    assert store.usage([Ask(org), Ask(user)], NOW_MS) == [
        WindowUsage(3, 0),
        WindowUsage(3, refusal.usage.retry_after_ms),
    ]


def test_a_check_only_ask_counts_nothing(store: LimitStore) -> None:
    tokens = meter("user:ann/tokens", amount=100)
    store.add([(tokens, 99)], NOW_MS)
    assert store.acquire([Ask(tokens, 1, take=False)], NOW_MS) is None
    assert store.usage([Ask(tokens)], NOW_MS)[0].used == 99
    store.add([(tokens, 5)], NOW_MS)  # tokens of a call in flight take it past the amount
    refusal = store.acquire([Ask(tokens, 1, take=False)], NOW_MS)
    assert refusal is not None
    assert refusal.usage.used == 104


def test_the_window_slides(store: LimitStore) -> None:
    m = meter(amount=2, window_ms=1000, buckets=10)
    assert store.acquire([Ask(m)], NOW_MS) is None
    assert store.acquire([Ask(m)], NOW_MS + 500) is None
    refusal = store.acquire([Ask(m)], NOW_MS + 600)
    assert refusal is not None
    wait = refusal.usage.retry_after_ms
    assert wait is not None
    assert 400 <= wait <= 400 + m.width_ms
    assert store.acquire([Ask(m)], NOW_MS + 600 + wait - 1) is not None
    assert store.acquire([Ask(m)], NOW_MS + 600 + wait) is None


def test_a_cost_above_the_amount_never_fits(store: LimitStore) -> None:
    m = meter(amount=5)
    refusal = store.acquire([Ask(m, cost=6)], NOW_MS)
    assert refusal is not None
    assert refusal.usage.retry_after_ms is None


def test_meters_are_independent(store: LimitStore) -> None:
    a, b = meter("user:a", amount=1), meter("user:b", amount=1)
    assert store.acquire([Ask(a)], NOW_MS) is None
    assert store.acquire([Ask(b)], NOW_MS) is None
    assert store.acquire([Ask(a)], NOW_MS) is not None


@pytest.mark.parametrize("seed", range(3))
def test_redis_answers_exactly_as_memory(redis_url: str, seed: int) -> None:
    """Random acquisitions, checks and additions over three meters, the clock moving by
    uneven steps: the Lua and the Python window agree on every answer."""
    from modelmuxer.limits.redis import RedisLimitStore

    rng = random.Random(seed)
    prefix = f"test:limits:{uuid.uuid4().hex[:10]}"
    shared = RedisLimitStore(redis_url, key_prefix=prefix, timeout_s=2.0)
    local = MemoryLimitStore()
    meters = [
        meter("a", amount=5, window_ms=700, buckets=7),
        meter("b", amount=40, window_ms=1000, buckets=3),
        meter("c", amount=3, window_ms=250, buckets=1),
    ]
    now = NOW_MS
    try:
        for _ in range(300):
            now += rng.choice([0, 1, 13, 50, 90, 333])
            asks = [
                Ask(m, rng.randint(1, 6), take=rng.random() < 0.7)
                for m in rng.sample(meters, rng.randint(1, 3))
            ]
            op = rng.random()
            if op < 0.6:
                assert shared.acquire(asks, now) == local.acquire(asks, now)
            elif op < 0.8:
                assert shared.usage(asks, now) == local.usage(asks, now)
            else:
                counts = [(a.meter, a.cost) for a in asks]
                shared.add(counts, now)
                local.add(counts, now)
    finally:
        keys = list(shared.client.scan_iter(match=f"{{{prefix}}}*"))
        if keys:
            shared.client.delete(*keys)
        shared.close()


def test_redis_keys_are_prefixed_and_expire(redis_url: str) -> None:
    from modelmuxer.limits.redis import RedisLimitStore

    prefix = f"test:limits:{uuid.uuid4().hex[:10]}"
    store = RedisLimitStore(redis_url, key_prefix=prefix, timeout_s=2.0)
    m = meter("user:ann", window_ms=1000, buckets=10)
    store.acquire([Ask(m)], int(time.time() * 1000))
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{{{prefix}}}*"))
    assert keys == [f"{{{prefix}}}:user:ann".encode()]
    assert 0 < client.pttl(keys[0]) <= 1200  # a window and two slices
    client.delete(*keys)
    client.close()
    store.close()


def test_memory_store_is_exact_under_threads() -> None:
    store = MemoryLimitStore()
    m = meter(amount=100, window_ms=3_600_000)
    admitted = []
    lock = threading.Lock()

    def attempt() -> None:
        for _ in range(64):
            if store.acquire([Ask(m)], int(time.time() * 1000)) is None:
                with lock:
                    admitted.append(1)

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == 100


def test_idle_memory_meters_are_dropped() -> None:
    store = MemoryLimitStore()
    m = meter(window_ms=1000)
    store.add([(m, 3)], NOW_MS)
    store.acquire([Ask(meter("other"))], NOW_MS + 61_000)  # the sweep runs once a minute
    assert store.usage([Ask(m)], NOW_MS + 61_000) == [WindowUsage(0, 0)]
    assert len(store._slices) == 1  # only the meter just used
