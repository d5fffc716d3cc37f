"""The rate limiter keeps which limits apply to each identity and model until its limits or
slicing change; the memory store skips the wait when a cost fits. Neither may change a result."""

from __future__ import annotations

import random

import pytest

from modelmuxer import RateLimited
from modelmuxer.limits import Limit, MemoryLimitStore, RateLimiter, window
from modelmuxer.limits import guard as guard_module
from modelmuxer.limits.base import Ask, Meter
from modelmuxer.types import Identity

ANN = Identity(user="ann", org="acme")
BOB = Identity(user="bob", org="beta", project="x")
LIMITS = [
    Limit(scope="user", subject="*", amount=3, window_s=60),
    Limit(scope="user", subject="ann", amount=5, window_s=60),
    Limit(scope="org", subject="*", kind="tokens", amount=1000, window_s=3600),
    Limit(scope="model", subject="*", amount=10, window_s=60),
    Limit(scope="model", subject="m1", kind="tokens", amount=99, window_s=1),
    Limit(scope="global", amount=100, window_s=1),
]
MODELS = ["m1", "m2"]


def fresh(limiter: RateLimiter) -> RateLimiter:
    """A limiter with the same limits and nothing worked out yet."""
    return RateLimiter(MemoryLimitStore(), limiter.limits, buckets=limiter.buckets)


def test_reused_lines_equal_fresh_ones() -> None:
    limiter = RateLimiter(MemoryLimitStore(), LIMITS)
    for _ in range(2):  # the second round reuses
        for identity in (ANN, BOB, Identity()):
            assert limiter.lines(identity) == fresh(limiter).lines(identity)
        for model in MODELS:
            assert limiter.model_lines(model) == fresh(limiter).model_lines(model)
    assert limiter.lines(ANN)[0].limit.subject == "ann"


def test_limits_and_slicing_changed_at_run_time_are_seen_by_the_next_request() -> None:
    clock = lambda: 1000.0  # noqa: E731
    limiter = RateLimiter(MemoryLimitStore(), LIMITS[:1], clock=clock)
    for _ in range(3):
        limiter.admit(BOB)
    with pytest.raises(RateLimited):
        limiter.admit(BOB)
    limiter.limits = [Limit(scope="user", subject="*", amount=4, window_s=60)]
    assert limiter.limits == (Limit(scope="user", subject="*", amount=4, window_s=60),)
    limiter.admit(BOB)  # the same counter, now with room for one more
    with pytest.raises(RateLimited):
        limiter.admit(BOB)
    limiter.buckets = 10  # another slicing: another counter
    assert limiter.lines(BOB) == fresh(limiter).lines(BOB)
    assert limiter.lines(BOB)[0].meter.key.endswith("/10")
    limiter.admit(BOB)
    limiter.limits = []
    assert limiter.lines(BOB) == []
    assert limiter.exclusions(MODELS) == {}


def test_the_lines_returned_are_the_callers_own() -> None:
    limiter = RateLimiter(MemoryLimitStore(), LIMITS)
    limiter.lines(ANN).clear()
    limiter.model_lines("m1").clear()
    assert limiter.lines(ANN) == fresh(limiter).lines(ANN) != []
    assert limiter.model_lines("m1") == fresh(limiter).model_lines("m1") != []


def test_many_identities_keep_a_bounded_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard_module, "_MAX_RESOLVED", 4)
    limiter = RateLimiter(MemoryLimitStore(), LIMITS)
    people = [Identity(user=f"u{i}", org=f"o{i % 3}") for i in range(12)]
    for person in people * 2:
        assert limiter.lines(person) == fresh(limiter).lines(person)
        assert limiter.model_lines(person.user or "") == fresh(limiter).model_lines(
            person.user or ""
        )
    assert len(limiter._resolved) == 4


def test_a_model_and_an_identity_never_share_an_entry() -> None:
    limiter = RateLimiter(MemoryLimitStore(), LIMITS)
    for _ in range(2):
        assert limiter.model_lines("m1") == fresh(limiter).model_lines("m1")
        assert limiter.lines(Identity(user="model", org="m1")) == fresh(limiter).lines(
            Identity(user="model", org="m1")
        )


@pytest.mark.parametrize("seed", range(5))
def test_memory_usage_equals_the_window_arithmetic(seed: int) -> None:
    rng = random.Random(seed)
    store = MemoryLimitStore()
    meter = Meter("k", amount=rng.randint(1, 30), window_ms=1000, buckets=rng.randint(1, 8))
    now = 10_000
    for _ in range(300):
        now += rng.randint(0, 400)
        if rng.random() < 0.5:
            store.add([(meter, rng.randint(1, 6))], now)
        cost = rng.randint(1, 35)
        (usage,) = store.usage([Ask(meter, cost, take=False)], now)
        counts = dict(store._slices.get(meter.key, {}))
        args = (now, meter.width_ms, meter.buckets)
        wait = window.wait_ms(counts, *args, meter.amount, cost)
        assert usage.used == window.tally(counts, *args)
        assert usage.retry_after_ms == (None if wait < 0 else wait)
