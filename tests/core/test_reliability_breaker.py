"""Per-model circuit breakers: the state machine (on a fake clock), its events, its candidate
filter, and what the pipeline does with it (offline models)."""

from __future__ import annotations

from typing import Any

import pytest
from _support import MakeMuxer, Recorder

from modelmuxer import CircuitOpen, ModelSpec, Muxer, NoEligibleModel, ProviderError, hookimpl
from modelmuxer.config import load_settings
from modelmuxer.context import RequestContext
from modelmuxer.plugins import make_plugin_manager
from modelmuxer.reliability import BreakerRegistry, BreakerSettings
from modelmuxer.reliability.breaker import FILTER_NAME

A, B = "offline/openai/gpt-4o", "offline/openai/gpt-4o-mini"
PROMPT = "Summarise the plot of Hamlet in two sentences."


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    @hookimpl
    def modelmuxer_event(self, name: str, ctx: RequestContext | None, data: Any) -> None:
        self.seen.append((name, dict(data)))

    def names(self) -> list[str]:
        return [name for name, _ in self.seen]


def _registry(**settings: Any) -> tuple[BreakerRegistry, Clock, Events, Any]:
    events, clock = Events(), Clock()
    pm = make_plugin_manager([events], load_entrypoints=False)
    values = {"failures": 3, "window_s": 10.0, "cooldown_s": 30.0, **settings}
    registry = BreakerRegistry(pm, BreakerSettings.model_validate(values), clock=clock)
    return registry, clock, events, pm


def test_failures_within_the_window_open_the_breaker() -> None:
    registry, clock, events, pm = _registry()
    registry.failed(A, "server_error")
    clock.now += 11  # the first failure leaves the window
    registry.failed(A, "server_error")
    registry.failed(A, "timeout")
    assert registry.state(A) == "closed"
    registry.failed(A, "server_error")
    assert registry.state(A) == "open"
    assert registry.states() == {A: "open"}
    assert events.seen == [("breaker.opened", {"model": A, "failures": 3})]
    assert pm.get_plugin(FILTER_NAME) is not None
    assert registry.exclusions(None, [A, B]) == {
        A: "circuit open: 3 failures within 10 s (last: server_error); a probe is let "
        "through in 30.0 s"
    }
    with pytest.raises(CircuitOpen) as info:
        registry.acquire(A)
    assert (info.value.model, info.value.failures, info.value.retry_in_s) == (A, 3, 30.0)
    registry.acquire(B)  # other models are not affected


def test_a_success_resets_the_count() -> None:
    registry, _, _, _ = _registry()
    for _ in range(2):
        registry.failed(A, "server_error")
    registry.succeeded(A)
    for _ in range(2):
        registry.failed(A, "server_error")
    assert registry.state(A) == "closed"


def test_failures_that_are_the_requests_fault_do_not_count() -> None:
    registry, _, events, pm = _registry(failures=1)
    for kind in ("bad_request", "auth", "context_length"):
        registry.failed(A, kind)  # type: ignore[arg-type]
    assert registry.state(A) == "closed"
    assert events.seen == []
    assert pm.get_plugin(FILTER_NAME) is None


def test_half_open_lets_one_probe_through_and_its_success_closes() -> None:
    registry, clock, events, pm = _registry(failures=1)
    registry.failed(A, "rate_limit")
    clock.now += 30
    assert registry.state(A) == "half-open"
    assert registry.exclusions(None, [A]) == {}  # routing may choose it again
    registry.acquire(A)  # the probe
    assert registry.exclusions(None, [A]) == {
        A: "circuit half-open: a probe call to it is in flight"
    }
    with pytest.raises(CircuitOpen) as info:
        registry.acquire(A)  # only one probe at a time
    assert info.value.retry_in_s == 0.0
    registry.succeeded(A)
    assert registry.state(A) == "closed"
    assert events.names() == ["breaker.opened", "breaker.half_open", "breaker.closed"]
    assert pm.get_plugin(FILTER_NAME) is None  # healthy again: routing pays nothing


def test_a_failed_probe_opens_the_breaker_again() -> None:
    registry, clock, events, _ = _registry(failures=2)
    registry.failed(A, "server_error")
    registry.failed(A, "server_error")
    clock.now += 31
    registry.acquire(A)
    registry.failed(A, "timeout")
    assert registry.state(A) == "open"
    assert events.names() == ["breaker.opened", "breaker.half_open", "breaker.opened"]
    clock.now += 29
    assert registry.state(A) == "open"  # a full cool-down again
    clock.now += 1
    assert registry.state(A) == "half-open"


def test_an_abandoned_probe_frees_the_slot() -> None:
    registry, clock, _, _ = _registry(failures=1)
    registry.failed(A, "server_error")
    clock.now += 30
    registry.acquire(A)
    registry.abandoned(A)  # cancelled, or refused by a budget: says nothing of the model
    assert registry.state(A) == "half-open"
    registry.acquire(A)  # the next call probes


# -- in the pipeline ------------------------------------------------------------------------------


def _failing(model: str, kind: str = "server_error") -> ModelSpec:
    return ModelSpec(id=model, deployment={"extra": {"offline": {"fail": kind}}})


def _muxer(make_muxer: MakeMuxer, models: list[Any], *plugins: object, **reliability: Any) -> Muxer:
    settings = load_settings(
        models=models,
        strategy="quality_first",
        reliability={"breaker": {"failures": 2, "cooldown_s": 60.0}, **reliability},
        load_entrypoints=False,
    )
    return make_muxer(models, settings=settings, plugins=list(plugins))


async def test_an_open_breaker_takes_the_model_out_of_routing(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    events = Events()
    muxer = _muxer(make_muxer, [_failing(A), B], recorder, events)
    assert muxer.route(PROMPT).model == A
    for _ in range(2):
        completion = await muxer.acomplete(PROMPT)
        assert [(a.model, a.outcome) for a in completion.attempts] == [
            (A, "failed"),
            (B, "accepted"),
        ]
    assert ("breaker.opened", {"model": A, "failures": 2}) in events.seen
    decision = muxer.route(PROMPT)
    assert decision.model == B
    estimate = decision.estimate(A)
    assert estimate is not None
    assert (estimate.excluded or "").startswith("circuit open: 2 failures within 60 s")
    recorder.records.clear()
    completion = await muxer.acomplete(PROMPT)
    assert [r.model for r in recorder.records] == [B]  # A was not called
    assert completion.attempts[0].model == B


async def test_a_single_model_with_an_open_breaker_is_refused_with_the_reason(
    make_muxer: MakeMuxer,
) -> None:
    muxer = _muxer(make_muxer, [_failing(A)])
    for _ in range(2):
        with pytest.raises(ProviderError):
            await muxer.acomplete(PROMPT)
    with pytest.raises(NoEligibleModel) as info:
        await muxer.acomplete(PROMPT)
    assert info.value.exclusions[A].startswith("circuit open")


async def test_the_breaker_is_off_when_disabled(make_muxer: MakeMuxer) -> None:
    muxer = _muxer(make_muxer, [_failing(A)], breaker={"enabled": False})
    assert muxer.breakers is None
    for _ in range(4):
        with pytest.raises(ProviderError):
            await muxer.acomplete(PROMPT)


async def test_a_model_whose_breaker_opened_after_routing_falls_back(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    # Routing chose A; by the time of the call another request's failures opened its breaker.
    muxer = _muxer(make_muxer, [A, B], recorder)
    assert muxer.breakers is not None
    decision = muxer.route(PROMPT)
    assert decision.model == A
    for _ in range(2):
        muxer.breakers.failed(A, "server_error")
    ctx = muxer._start(muxer.request(PROMPT), stream=False)
    completion = await muxer._executor.run(ctx, decision)
    assert completion.model == B
    assert [a.model for a in completion.attempts] == [B]  # A was never called
    assert [r.model for r in recorder.records] == [B]
    assert f"{A} failed (circuit_open); fell back to {B}" in completion.decision.reason
    chunks = [c async for c in muxer._streamer.run(ctx, decision)]
    assert chunks[-1].completion is not None
    assert chunks[-1].completion.model == B


async def test_the_decision_cache_works_while_every_breaker_is_closed(
    make_muxer: MakeMuxer,
) -> None:
    settings = load_settings(
        models=[A, B],
        cache={"enabled": True},
        reliability={"breaker": {"failures": 1, "cooldown_s": 60.0}},
        load_entrypoints=False,
    )
    muxer = make_muxer([A, B], settings=settings)
    decisions = muxer._router._decisions
    assert decisions is not None
    assert decisions.usable()
    assert muxer.breakers is not None
    muxer.breakers.failed(A, "timeout")
    assert not decisions.usable()  # an open breaker is outside state: no cached decisions
    muxer.breakers.succeeded(A)
    assert decisions.usable()
