"""Fallback and retries in the pipeline, on the offline backend: where a failed request goes,
what is recorded, and what is never done (falling back from a pinned model, or after the first
streamed byte). The real HTTP path is in ``test_reliability_http.py``."""

from __future__ import annotations

import re
from typing import Any

import pytest
from _support import OFFLINE_MODELS, MakeMuxer, Recorder

from modelmuxer import (
    ModelSpec,
    Muxer,
    ProviderError,
    ProviderTimeout,
    StreamInterrupted,
    hookimpl,
)
from modelmuxer.config import load_settings
from modelmuxer.context import RequestContext
from modelmuxer.reliability import fallback_order
from modelmuxer.types import StreamChunk

PROMPT = "Explain why the sky is blue in a short paragraph."
_WITHIN = re.compile(r"no answer within ([0-9.e-]+) s")


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    @hookimpl
    def modelmuxer_event(self, name: str, ctx: RequestContext | None, data: Any) -> None:
        self.seen.append((name, dict(data)))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [data for seen, data in self.seen if seen == name]


def _spec(model: str, **offline: Any) -> ModelSpec | str:
    return ModelSpec(id=model, deployment={"extra": {"offline": offline}}) if offline else model


def _muxer(
    make_muxer: MakeMuxer,
    models: list[Any],
    *plugins: object,
    strategy: str = "hybrid",
    **reliability: Any,
) -> Muxer:
    settings = load_settings(
        models=models, strategy=strategy, reliability=reliability, load_entrypoints=False
    )
    return make_muxer(models, settings=settings, plugins=list(plugins))


def _ranked(make_muxer: MakeMuxer) -> list[str]:
    """The offline models in the order hybrid routing falls back through them."""
    decision = make_muxer(list(OFFLINE_MODELS)).route(PROMPT)
    return [decision.model, *fallback_order(decision, [decision.model])]


async def test_a_failed_model_falls_back_to_the_next_best(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    first, second, third = _ranked(make_muxer)
    events = Events()
    models = [_spec(first, fail="server_error"), _spec(second, fail="rate_limit"), third]
    muxer = _muxer(make_muxer, models, recorder, events)
    completion = await muxer.acomplete(PROMPT)
    assert completion.model == third
    assert [(a.model, a.outcome) for a in completion.attempts] == [
        (first, "failed"),
        (second, "failed"),
        (third, "accepted"),
    ]
    assert "simulated server error" in (completion.attempts[0].error or "")
    assert [(r.attempt, r.model, r.outcome) for r in recorder.records] == [
        (0, first, "error"),
        (1, second, "error"),
        (2, third, "ok"),
    ]
    assert recorder.records[1].reason.startswith(f"fallback from {first} after server_error")
    assert recorder.records[2].reason.startswith(f"fallback from {second} after rate_limit")
    assert events.named("fallback") == [
        {"from_model": first, "to_model": second, "reason": "server_error"},
        {"from_model": second, "to_model": third, "reason": "rate_limit"},
    ]
    reason = completion.decision.reason
    assert f"{first} failed (server_error); fell back to {second}" in reason
    assert f"{second} failed (rate_limit); fell back to {third}" in reason
    assert completion.decision.models == [first]  # the routing decision itself is unchanged
    assert completion.cost_usd == pytest.approx(completion.attempts[-1].cost_usd)


async def test_max_fallbacks_bounds_the_models_tried(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    first, second, third = _ranked(make_muxer)
    models = [_spec(first, fail="server_error"), _spec(second, fail="server_error"), third]
    muxer = _muxer(make_muxer, models, recorder, max_fallbacks=1)
    with pytest.raises(ProviderError) as info:
        await muxer.acomplete(PROMPT)
    assert info.value.model == second
    assert [r.model for r in recorder.records] == [first, second]
    off = _muxer(make_muxer, models, max_fallbacks=0)
    with pytest.raises(ProviderError) as info:
        await off.acomplete(PROMPT)
    assert info.value.model == first


@pytest.mark.parametrize("kind", ["bad_request", "auth"])
async def test_errors_of_the_request_do_not_fall_back(
    make_muxer: MakeMuxer, recorder: Recorder, kind: str
) -> None:
    first, second, third = _ranked(make_muxer)
    muxer = _muxer(make_muxer, [_spec(first, fail=kind), second, third], recorder)
    with pytest.raises(ProviderError):
        await muxer.acomplete(PROMPT)
    assert [r.model for r in recorder.records] == [first]


async def test_a_pinned_model_never_falls_back(make_muxer: MakeMuxer, recorder: Recorder) -> None:
    first, second, third = _ranked(make_muxer)
    muxer = _muxer(make_muxer, [_spec(first, fail="server_error"), second, third], recorder)
    with pytest.raises(ProviderError):
        await muxer.acomplete(PROMPT, model=first)
    assert [r.model for r in recorder.records] == [first]


async def test_fallback_only_goes_to_eligible_models(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    first, second, third = _ranked(make_muxer)
    muxer = _muxer(make_muxer, [_spec(first, fail="server_error"), second, third], recorder)
    completion = await muxer.acomplete(PROMPT, routing={"deny": [second]})
    assert completion.model == third
    assert [r.model for r in recorder.records] == [first, third]


async def test_a_streamed_request_falls_back_before_its_first_byte(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    first, second, third = _ranked(make_muxer)
    muxer = _muxer(make_muxer, [_spec(first, fail="rate_limit"), second, third], recorder)
    chunks = [c async for c in muxer.astream(PROMPT)]
    completion = chunks[-1].completion
    assert completion is not None
    assert completion.model == second
    assert {c.model for c in chunks} == {second}
    assert "".join(c.text for c in chunks[:-1]) == completion.text
    assert [(a.model, a.outcome) for a in completion.attempts] == [
        (first, "failed"),
        (second, "accepted"),
    ]
    assert [(r.attempt, r.model, r.outcome, r.streamed) for r in recorder.records] == [
        (0, first, "error", True),
        (1, second, "ok", True),
    ]
    whole = await _muxer(make_muxer, list(OFFLINE_MODELS)).acomplete(PROMPT, model=second)
    assert completion.text == whole.text  # the fallback's answer, whole and untouched


async def test_a_stream_broken_after_its_first_byte_is_not_fallen_back(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    first, second, third = _ranked(make_muxer)
    muxer = _muxer(make_muxer, [_spec(first, fail_after_chunks=2), second, third], recorder)
    received: list[StreamChunk] = []

    async def consume() -> None:
        async for chunk in muxer.astream(PROMPT):
            received.append(chunk)

    with pytest.raises(StreamInterrupted, match="simulated server error") as info:
        await consume()
    assert len(received) == 2
    assert {c.model for c in received} == {first}
    assert info.value.chunks == 2
    assert info.value.characters == sum(len(c.text) for c in received)
    assert isinstance(info.value.cause, ProviderError)
    (record,) = recorder.records  # the fallback was not called
    assert record.outcome == "error"
    assert record.usage == info.value.usage
    assert record.usage.completion_tokens > 0


async def test_a_cascade_whose_chain_fails_falls_back_outside_it(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    def card(model: str, price: float, quality: float, **offline: Any) -> dict[str, Any]:
        return {
            "id": model,
            "input_price_per_mtok": price,
            "output_price_per_mtok": price * 4,
            "quality": quality,
            "context_window": 128_000,
            "max_output_tokens": 4_096,
            "deployment": {"extra": {"offline": offline}},
        }

    cheap = card("offline/test/cheap", 0.1, 0.6, fail="server_error")
    strong = card("offline/test/strong", 10.0, 0.95, fail="timeout")
    # costlier than cheap and no better: never in the chain, but eligible as a fallback
    spare = card("offline/test/spare", 5.0, 0.5)
    muxer = _muxer(make_muxer, [cheap, strong, spare], recorder, strategy="cascade")
    decision = muxer.route(PROMPT)
    assert decision.models == ["offline/test/cheap", "offline/test/strong"]
    completion = await muxer.acomplete(PROMPT)
    assert completion.model == "offline/test/spare"
    assert [a.outcome for a in completion.attempts] == ["failed", "failed", "accepted"]
    chunks = [c async for c in muxer.astream(PROMPT)]
    assert chunks[-1].completion is not None
    assert chunks[-1].completion.model == "offline/test/spare"


async def test_the_total_timeout_bounds_every_attempt(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    first, second, third = _ranked(make_muxer)
    slow = [_spec(m, latency_s=5.0) for m in (first, second, third)]
    muxer = _muxer(make_muxer, slow, recorder, total_timeout_s=0.6)
    with pytest.raises(ProviderTimeout):
        await muxer.acomplete(PROMPT, timeout_s=0.25)
    timeouts = [float(_WITHIN.findall(r.error or "")[0]) for r in recorder.records]
    assert len(timeouts) >= 2  # it fell back
    assert timeouts[0] == 0.25
    # every attempt got at most what was left of the 0.6 s: the last one less than 0.25
    assert sum(timeouts) <= 0.6 + 1e-3
    assert len(timeouts) == 2 or timeouts[-1] < 0.25


@pytest.mark.parametrize("stream", [False, True])
async def test_a_cascade_starts_no_step_after_the_total_timeout(
    make_muxer: MakeMuxer, recorder: Recorder, stream: bool
) -> None:
    slow = [_spec(m, latency_s=5.0) for m in OFFLINE_MODELS]
    muxer = _muxer(make_muxer, slow, recorder, strategy="cascade", total_timeout_s=0.3)
    assert len(muxer.route(PROMPT).models) == 3

    async def answer() -> None:
        if stream:
            async for _ in muxer.astream(PROMPT, timeout_s=0.2):
                pass
        else:
            await muxer.acomplete(PROMPT, timeout_s=0.2)

    with pytest.raises(ProviderTimeout) as caught:
        await answer()
    # 0.2 s, then what is left of 0.3 s; the third model is never called.
    assert len(recorder.records) == 2
    assert caught.value.model == recorder.records[-1].model


async def test_attempt_numbers_stay_unique_across_fallbacks_and_cascades(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    first, second, third = _ranked(make_muxer)
    models = [_spec(first, fail="server_error"), _spec(second, fail="server_error"), third]
    muxer = _muxer(make_muxer, models, recorder)
    completion = await muxer.acomplete(PROMPT)
    ids = [(r.request_id, r.attempt) for r in recorder.records]
    assert len(set(ids)) == len(ids) == len(completion.attempts) == 3


def test_the_executor_gets_the_settings(make_muxer: MakeMuxer) -> None:
    muxer = _muxer(make_muxer, list(OFFLINE_MODELS), max_retries=5, breaker={"failures": 9})
    assert muxer._executor.reliability.max_retries == 5
    assert muxer.breakers is not None
    assert muxer.breakers.settings.failures == 9
