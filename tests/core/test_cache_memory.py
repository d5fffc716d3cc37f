"""The response cache in the pipeline (memory backend), the LRU store, the breaker and the
routing-decision cache."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from _support import OFFLINE_MODELS, MakeMuxer, Recorder

from modelmuxer import ConfigError, Muxer, hookimpl
from modelmuxer.cache import CircuitBreaker, LRUStore
from modelmuxer.config import load_settings
from modelmuxer.context import RequestContext
from modelmuxer.types import ModelCard

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MINI, FOUR_O, _ = OFFLINE_MODELS
PROMPT = "Explain how photosynthesis turns light into sugar."


def _cached(make_muxer: MakeMuxer, *, plugins: Sequence[object] = (), **cache: Any) -> Muxer:
    settings = load_settings(cache={"enabled": True, **cache})
    return make_muxer(OFFLINE_MODELS, settings=settings, plugins=list(plugins))


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the store and the breaker ------------------------------------------------------------------


def test_lru_holds_its_entry_bound_and_evicts_the_least_recently_used() -> None:
    store: LRUStore[int] = LRUStore(max_entries=3, max_bytes=10_000, ttl_s=60)
    for i in range(3):
        store.put(f"k{i}", i, 10)
    assert store.get("k0") == 0  # k0 is now the most recent: k1 goes first
    store.put("k3", 3, 10)
    assert len(store) == 3
    assert "k1" not in store
    assert store.get("k0") == 0
    assert store.get("k3") == 3


def test_lru_holds_its_byte_bound() -> None:
    store: LRUStore[str] = LRUStore(max_entries=100, max_bytes=1000, ttl_s=60)
    for i in range(50):
        store.put(f"k{i}", "x", 90)
        assert store.bytes <= 1000
    assert len(store) == 11
    assert not store.put("huge", "x", 1001)  # larger than the whole bound: not stored
    assert "huge" not in store
    assert store.bytes <= 1000


def test_lru_expires_entries() -> None:
    clock = _Clock()
    store: LRUStore[int] = LRUStore(max_entries=10, max_bytes=1000, ttl_s=5, clock=clock)
    store.put("a", 1, 1)
    store.put("b", 2, 1, ttl_s=50)
    clock.now += 6
    assert store.get("a") is None
    assert store.get("b") == 2
    assert store.bytes == 1


def test_breaker_opens_after_failures_then_probes_once() -> None:
    clock = _Clock()
    breaker = CircuitBreaker(failures=2, cooldown_s=5, clock=clock)
    breaker.failed()
    assert breaker.allow()
    breaker.failed()
    assert breaker.state == "open"
    assert not breaker.allow()
    clock.now += 5
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one at a time
    breaker.failed()
    assert breaker.state == "open"
    clock.now += 5
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.state == "closed"
    assert breaker.allow()


# -- the pipeline -------------------------------------------------------------------------------


def test_cache_is_off_by_default(muxer: Muxer) -> None:
    first = muxer.complete(PROMPT, temperature=0)
    second = muxer.complete(PROMPT, temperature=0)
    assert first.cache == second.cache == "off"


async def test_identical_requests_hit_every_time(make_muxer: MakeMuxer) -> None:
    recorder = Recorder()
    muxer = _cached(make_muxer, plugins=[recorder])
    first = await muxer.acomplete(PROMPT)
    hits = [await muxer.acomplete(PROMPT) for _ in range(20)]
    assert first.cache == "miss"
    assert first.cost_usd > 0
    assert [h.cache for h in hits] == ["exact"] * 20
    for hit in hits:
        assert hit.text == first.text
        assert hit.model == first.model
        assert hit.cost_usd == 0
        assert hit.saved_usd == pytest.approx(first.cost_usd)
        assert hit.decision == first.decision
        assert hit.request_id != first.request_id
    served = [r for r in recorder.records if r.cache == "exact"]
    assert len(served) == 20
    assert all(r.cost_usd == 0 and r.saved_usd == pytest.approx(first.cost_usd) for r in served)
    ids = [(r.request_id, r.attempt) for r in recorder.records]
    assert len(ids) == len(set(ids))
    called = [r for r in recorder.records if r.cache != "exact"]
    assert [r.cache for r in called] == ["miss"]  # the call the cache missed says so


async def test_tenants_never_share_answers(make_muxer: MakeMuxer) -> None:
    muxer = _cached(make_muxer)
    acme = await muxer.acomplete(PROMPT, identity={"org": "acme"})
    globex = await muxer.acomplete(PROMPT, identity={"org": "globex"})
    anonymous = await muxer.acomplete(PROMPT)
    assert (acme.cache, globex.cache, anonymous.cache) == ("miss", "miss", "miss")
    again = await muxer.acomplete(PROMPT, identity={"org": "acme", "user": "other"})
    assert again.cache == "exact"  # scope "org": users of one org share


async def test_user_scope_separates_users(make_muxer: MakeMuxer) -> None:
    muxer = _cached(make_muxer, tenant_scope="org+user")
    await muxer.acomplete(PROMPT, identity={"org": "acme", "user": "ann"})
    other = await muxer.acomplete(PROMPT, identity={"org": "acme", "user": "bob"})
    same = await muxer.acomplete(PROMPT, identity={"org": "acme", "user": "ann"})
    assert (other.cache, same.cache) == ("miss", "exact")


@pytest.mark.parametrize(
    "change",
    [
        {"model": FOUR_O},
        {"temperature": 0.9},
        {"tools": [{"type": "function", "function": {"name": "search"}}]},
        {"max_tokens": 50},
        {"strategy": "cascade"},
    ],
)
async def test_a_different_model_or_parameter_never_hits(
    make_muxer: MakeMuxer, change: dict[str, Any]
) -> None:
    muxer = _cached(make_muxer)
    base = {"model": MINI, "temperature": 0.0} if "strategy" not in change else {}
    await muxer.acomplete(PROMPT, **base)
    changed = await muxer.acomplete(PROMPT, **{**base, **change})
    assert changed.cache == "miss"


async def test_deterministic_only_mode_skips_sampled_requests(make_muxer: MakeMuxer) -> None:
    muxer = _cached(make_muxer, exact_sampled=False)
    await muxer.acomplete(PROMPT, temperature=0.7)
    sampled = await muxer.acomplete(PROMPT, temperature=0.7)
    await muxer.acomplete(PROMPT, temperature=0)
    deterministic = await muxer.acomplete(PROMPT, temperature=0)
    assert (sampled.cache, deterministic.cache) == ("off", "exact")


async def test_per_call_no_cache_and_no_store(make_muxer: MakeMuxer) -> None:
    muxer = _cached(make_muxer)
    await muxer.acomplete(PROMPT, routing={"cache": {"no_store": True}})
    assert (await muxer.acomplete(PROMPT, routing={"cache": {"no_cache": True}})).cache == "miss"
    assert (await muxer.acomplete(PROMPT)).cache == "exact"  # stored by the no_cache call


async def test_streamed_hit_replays_and_streamed_miss_is_stored(make_muxer: MakeMuxer) -> None:
    muxer = _cached(make_muxer)
    first = [c async for c in muxer.astream(PROMPT)]
    assert first[-1].completion is not None
    assert first[-1].completion.cache == "miss"
    replayed = [c async for c in muxer.astream(PROMPT)]
    done = replayed[-1].completion
    assert done is not None
    assert done.cache == "exact"
    assert done.cost_usd == 0
    assert "".join(c.text for c in replayed[:-1]) == done.text == first[-1].completion.text
    assert (await muxer.acomplete(PROMPT)).cache == "exact"


async def test_an_abandoned_stream_is_not_stored(make_muxer: MakeMuxer) -> None:
    muxer = _cached(make_muxer)
    stream = muxer.astream(PROMPT)
    async for _ in stream:
        break
    await stream.aclose()  # type: ignore[attr-defined]
    assert (await muxer.acomplete(PROMPT)).cache == "miss"


class _DenyFourO:
    """A policy: org 'frugal' may not use gpt-4o."""

    @hookimpl
    def modelmuxer_filter_candidates(
        self, ctx: RequestContext, candidates: Sequence[ModelCard]
    ) -> Mapping[str, str] | None:
        if ctx.request.identity.user == "frugal":
            return {FOUR_O: "not for frugal users"}
        return None


async def test_a_hit_is_not_served_to_a_user_a_policy_forbids_its_model(
    make_muxer: MakeMuxer,
) -> None:
    muxer = _cached(make_muxer, plugins=[_DenyFourO()])
    rich = await muxer.acomplete(PROMPT, routing={"allow": [FOUR_O]}, identity={"user": "rich"})
    assert rich.model == FOUR_O
    with pytest.raises(Exception, match="frugal"):
        await muxer.acomplete(PROMPT, routing={"allow": [FOUR_O]}, identity={"user": "frugal"})
    again = await muxer.acomplete(PROMPT, routing={"allow": [FOUR_O]}, identity={"user": "rich"})
    assert again.cache == "exact"


# -- the decision cache -------------------------------------------------------------------------


def test_repeated_prompts_reuse_the_decision(make_muxer: MakeMuxer) -> None:
    muxer = _cached(make_muxer)
    first = muxer.route(PROMPT)
    again = muxer.route(PROMPT)
    assert again is first  # served from the decision cache, not recomputed
    assert muxer.route(PROMPT, strategy="cascade") is not first
    assert muxer.route(PROMPT + " Briefly.") is not first


def test_decisions_are_not_cached_while_a_policy_is_registered(make_muxer: MakeMuxer) -> None:
    muxer = _cached(make_muxer, plugins=[_DenyFourO()])
    assert muxer.route(PROMPT) is not muxer.route(PROMPT)
    assert muxer.route(PROMPT) == muxer.route(PROMPT)


def test_decision_cache_can_be_switched_off(make_muxer: MakeMuxer) -> None:
    muxer = _cached(make_muxer, decision_entries=0)
    assert muxer.route(PROMPT) is not muxer.route(PROMPT)


async def test_memory_answers_hold_their_bounds(make_muxer: MakeMuxer) -> None:
    muxer = _cached(make_muxer, max_entries=5)
    for i in range(12):
        await muxer.acomplete(f"{PROMPT} Variant {i}.")
    store = muxer.cache.answers.store  # type: ignore[attr-defined]
    assert len(store) == 5
    assert (await muxer.acomplete(f"{PROMPT} Variant 11.")).cache == "exact"
    assert (await muxer.acomplete(f"{PROMPT} Variant 0.")).cache == "miss"
    small = _cached(make_muxer, max_bytes=4096)
    for i in range(12):
        await small.acomplete(f"{PROMPT} Variant {i}.")
        assert small.cache.answers.store.bytes <= 4096  # type: ignore[attr-defined]


def test_a_bad_redis_url_is_a_config_error(make_muxer: MakeMuxer) -> None:
    with pytest.raises(ConfigError, match="redis_url"):
        _cached(make_muxer, backend="redis", redis_url="http://127.0.0.1:6379")


async def test_parameters_that_are_not_json_still_key(make_muxer: MakeMuxer) -> None:
    class Schema:
        """Stands for a schema class a framework passes in response_format."""

    muxer = _cached(make_muxer)
    fmt = {"type": "json_schema", "schema": Schema}
    await muxer.acomplete(PROMPT, response_format=fmt)
    assert (await muxer.acomplete(PROMPT, response_format=fmt)).cache == "exact"
    assert (await muxer.acomplete(PROMPT, response_format={"type": "json_object"})).cache == "miss"
