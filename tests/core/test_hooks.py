"""Every hook of the plugin contract fires, with the semantics its hookspec promises."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping, Sequence
from typing import Any

import pytest
from _support import OFFLINE_MODELS, MakeMuxer, Recorder

from modelmuxer import (
    Decision,
    Muxer,
    NoEligibleModel,
    PluginError,
    ProviderError,
    RequestRejected,
    hookimpl,
)
from modelmuxer.analysis.features import QueryFeatures
from modelmuxer.backends.base import Backend, ModelCall, ModelResponse, StreamDelta
from modelmuxer.context import RequestContext
from modelmuxer.strategies.base import RoutingTask, Strategy
from modelmuxer.testing import make_card
from modelmuxer.types import ModelCard, RoutingOptions, Usage

PROMPT = "What is the capital of France?"
MINI, FOUR_O, HAIKU = OFFLINE_MODELS


# -- modelmuxer_request_start ---------------------------------------------------------------------


class _Rewrite:
    @hookimpl
    def modelmuxer_request_start(self, ctx: RequestContext) -> None:
        routing = ctx.request.routing.model_copy(update={"model": HAIKU})
        ctx.request = ctx.request.model_copy(update={"routing": routing, "tags": frozenset({"x"})})


class _Reject:
    @hookimpl
    def modelmuxer_request_start(self, ctx: RequestContext) -> None:
        if "blocked" in ctx.request.tags:
            raise RequestRejected("blocked tag", plugin="blocker")


async def test_request_start_sees_every_request(recorded: Muxer, recorder: Recorder) -> None:
    await recorded.acomplete(PROMPT, request_id="a")
    recorded.route(PROMPT, request_id="b")
    _ = [c async for c in recorded.astream(PROMPT, request_id="c")]
    assert [ctx.request.request_id for ctx in recorder.started] == ["a", "b", "c"]
    assert [ctx.stream for ctx in recorder.started] == [False, False, True]
    assert all(ctx.strategy == "hybrid" for ctx in recorder.started)


async def test_request_start_can_rewrite_the_request(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    muxer = make_muxer(plugins=[_Rewrite(), recorder])
    completion = await muxer.acomplete(PROMPT)
    assert completion.model == HAIKU
    assert completion.decision.strategy == "pinned"
    assert recorder.records[0].tags == frozenset({"x"})


async def test_request_start_can_reject(make_muxer: MakeMuxer, recorder: Recorder) -> None:
    muxer = make_muxer(plugins=[_Reject(), recorder])
    with pytest.raises(RequestRejected, match="rejected by blocker: blocked tag") as info:
        await muxer.acomplete(PROMPT, tags=["blocked"])
    assert info.value.reason == "blocked tag"
    assert info.value.plugin == "blocker"
    with pytest.raises(RequestRejected):
        muxer.route(PROMPT, tags=["blocked"])
    with pytest.raises(RequestRejected):
        _ = [c async for c in muxer.astream(PROMPT, tags=["blocked"])]
    assert recorder.records == []
    assert (await muxer.acomplete(PROMPT)).text  # other requests pass


async def test_request_end_sees_a_rejection(make_muxer: MakeMuxer, recorder: Recorder) -> None:
    muxer = make_muxer(plugins=[_Reject(), recorder])
    with pytest.raises(RequestRejected):
        await muxer.acomplete(PROMPT, tags=["blocked"])
    with pytest.raises(RequestRejected):
        _ = [c async for c in muxer.astream(PROMPT, tags=["blocked"])]
    assert len(recorder.ended) == 2
    for completion, error in recorder.ended:
        assert completion is None
        assert isinstance(error, RequestRejected)


async def test_request_start_must_leave_a_request(make_muxer: MakeMuxer) -> None:
    class Breaks:
        @hookimpl
        def modelmuxer_request_start(self, ctx: RequestContext) -> None:
            ctx.request = {"messages": []}  # type: ignore[assignment]

    muxer = make_muxer(plugins=[Breaks()])
    with pytest.raises(PluginError, match="non-Request"):
        await muxer.acomplete(PROMPT)


# -- modelmuxer_filter_candidates -----------------------------------------------------------------


class _Exclude:
    def __init__(self, exclusions: Mapping[str, str]) -> None:
        self.exclusions = dict(exclusions)
        self.seen: list[list[str]] = []

    @hookimpl
    def modelmuxer_filter_candidates(
        self, ctx: RequestContext, candidates: Sequence[ModelCard]
    ) -> Mapping[str, str] | None:
        self.seen.append([c.id for c in candidates])
        return self.exclusions


async def test_filter_exclusions_appear_in_the_decision(make_muxer: MakeMuxer) -> None:
    policy = _Exclude({FOUR_O: "policy: not for this team"})
    muxer = make_muxer(plugins=[policy])
    for strategy in ("hybrid", "quality_first", "cost_optimized", "cascade"):
        decision = muxer.route(PROMPT, strategy=strategy)
        assert FOUR_O not in decision.models
        estimate = decision.estimate(FOUR_O)
        assert estimate is not None
        assert estimate.excluded == "policy: not for this team"
    completion = await muxer.acomplete(PROMPT, strategy="quality_first")
    assert completion.model != FOUR_O


def test_filter_sees_only_models_that_passed_the_hard_constraints(make_muxer: MakeMuxer) -> None:
    policy = _Exclude({})
    muxer = make_muxer(plugins=[policy])
    decision = muxer.route(PROMPT, routing={"deny": [MINI]})
    assert policy.seen == [[FOUR_O, HAIKU]]
    estimate = decision.estimate(MINI)
    assert estimate is not None
    assert estimate.excluded == "in the request's deny list"


def test_filter_excluding_everything_raises_no_eligible_model(make_muxer: MakeMuxer) -> None:
    policy = _Exclude({MINI: "reason one", FOUR_O: "reason two"})
    muxer = make_muxer(plugins=[policy])
    with pytest.raises(NoEligibleModel) as info:
        muxer.route(PROMPT, routing={"deny": [HAIKU]})
    assert info.value.exclusions == {
        HAIKU: "in the request's deny list",
        MINI: "reason one",
        FOUR_O: "reason two",
    }
    for model, why in info.value.exclusions.items():
        assert f"{model}: {why}" in str(info.value)


def test_filter_exclusions_of_unknown_models_are_ignored(make_muxer: MakeMuxer) -> None:
    muxer = make_muxer(plugins=[_Exclude({"openai/not-a-candidate": "nope"})])
    decision = muxer.route(PROMPT)
    assert {c.model for c in decision.candidates} == set(OFFLINE_MODELS)


def test_filter_exclusions_of_several_plugins_merge(make_muxer: MakeMuxer) -> None:
    muxer = make_muxer(plugins=[_Exclude({MINI: "first"}), _Exclude({HAIKU: "second"})])
    decision = muxer.route(PROMPT)
    assert decision.models == [FOUR_O]
    excluded = {c.model: c.excluded for c in decision.candidates if c.excluded}
    assert excluded == {MINI: "first", HAIKU: "second"}


def test_filter_also_applies_to_a_pinned_model(make_muxer: MakeMuxer) -> None:
    muxer = make_muxer(plugins=[_Exclude({FOUR_O: "no"})])
    with pytest.raises(NoEligibleModel, match=f"{FOUR_O}: no"):
        muxer.route(PROMPT, model=FOUR_O)


def test_filter_returning_a_non_mapping_is_a_plugin_error(make_muxer: MakeMuxer) -> None:
    class Broken:
        @hookimpl
        def modelmuxer_filter_candidates(
            self, ctx: RequestContext, candidates: Sequence[ModelCard]
        ) -> Any:
            return [MINI]

    with pytest.raises(PluginError, match="filter_candidates"):
        make_muxer(plugins=[Broken()]).route(PROMPT)


# -- modelmuxer_select ----------------------------------------------------------------------------


class _Select:
    def __init__(self, models: list[str] | None) -> None:
        self.models = models
        self.tasks: list[RoutingTask] = []

    @hookimpl
    def modelmuxer_select(self, ctx: RequestContext, task: RoutingTask) -> Decision | None:
        self.tasks.append(task)
        if self.models is None:
            return None
        return task.decide("policy", self.models, "the policy says so")


@pytest.mark.parametrize("strategy", ["hybrid", "quality_first", "cost_optimized", "cascade"])
async def test_select_override_wins_over_the_strategy(make_muxer: MakeMuxer, strategy: str) -> None:
    muxer = make_muxer(plugins=[_Select([HAIKU])])
    decision = muxer.route(PROMPT, strategy=strategy)
    assert decision.strategy == "policy"
    assert decision.models == [HAIKU]
    assert decision.reason == "the policy says so"
    completion = await muxer.acomplete(PROMPT, strategy=strategy)
    assert completion.model == HAIKU


def test_select_returning_none_leaves_it_to_the_strategy(make_muxer: MakeMuxer) -> None:
    plugin = _Select(None)
    muxer = make_muxer(plugins=[plugin])
    decision = muxer.route(PROMPT, strategy="quality_first")
    assert decision.strategy == "quality_first"
    assert len(plugin.tasks) == 1
    task = plugin.tasks[0]
    assert {c.model for c in task.candidates} == set(OFFLINE_MODELS)
    assert task.features.prompt_tokens > 0


def test_select_choosing_a_stray_model_is_a_plugin_error(make_muxer: MakeMuxer) -> None:
    muxer = make_muxer(plugins=[_Select(["offline/openai/gpt-5"])])
    with pytest.raises(PluginError, match="offline/openai/gpt-5"):
        muxer.route(PROMPT)


def test_select_choosing_an_excluded_model_is_a_plugin_error(make_muxer: MakeMuxer) -> None:
    muxer = make_muxer(plugins=[_Select([MINI])])
    with pytest.raises(PluginError, match="not eligible"):
        muxer.route(PROMPT, routing={"deny": [MINI]})


def test_select_returning_a_non_decision_is_a_plugin_error(make_muxer: MakeMuxer) -> None:
    class Broken:
        @hookimpl
        def modelmuxer_select(self, ctx: RequestContext, task: RoutingTask) -> Any:
            return MINI

    with pytest.raises(PluginError, match="not a Decision"):
        make_muxer(plugins=[Broken()]).route(PROMPT)


def test_select_is_skipped_for_a_pinned_model(make_muxer: MakeMuxer) -> None:
    plugin = _Select([HAIKU])
    decision = make_muxer(plugins=[plugin]).route(PROMPT, model=MINI)
    assert decision.models == [MINI]
    assert plugin.tasks == []


# -- modelmuxer_call_model / modelmuxer_stream_model ----------------------------------------------


class _CountCalls:
    """A wrapper that counts and times every non-streamed call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.durations: list[float] = []

    @hookimpl(wrapper=True)
    def modelmuxer_call_model(
        self, ctx: RequestContext, call: ModelCall
    ) -> Generator[None, Awaitable[ModelResponse], Awaitable[ModelResponse]]:
        inner = yield

        async def timed() -> ModelResponse:
            self.calls.append((call.card.id, call.attempt))
            t0 = time.perf_counter()
            try:
                return await inner
            finally:
                self.durations.append(time.perf_counter() - t0)

        return timed()


async def test_call_model_wrapper_wraps_every_call(make_muxer: MakeMuxer) -> None:
    counter = _CountCalls()
    muxer = make_muxer(plugins=[counter])
    completion = await muxer.acomplete(PROMPT, model=MINI)
    muxer.complete(PROMPT, model=HAIKU)
    assert counter.calls == [(MINI, 0), (HAIKU, 0)]
    assert len(counter.durations) == 2
    assert all(d >= 0 for d in counter.durations)
    assert completion.model == MINI


async def test_call_model_wrapper_can_replace_the_answer(make_muxer: MakeMuxer) -> None:
    class Shout:
        @hookimpl(wrapper=True)
        def modelmuxer_call_model(
            self, ctx: RequestContext, call: ModelCall
        ) -> Generator[None, Awaitable[ModelResponse], Awaitable[ModelResponse]]:
            inner = yield

            async def louder() -> ModelResponse:
                response = await inner
                return ModelResponse(
                    text=response.text.upper(), finish_reason="stop", usage=response.usage
                )

            return louder()

    plain = await make_muxer().acomplete(PROMPT, model=MINI)
    loud = await make_muxer(plugins=[Shout()]).acomplete(PROMPT, model=MINI)
    assert loud.text == plain.text.upper()
    assert loud.text != plain.text


async def test_call_model_implementation_replaces_the_backend(make_muxer: MakeMuxer) -> None:
    class Canned:
        @hookimpl
        def modelmuxer_call_model(
            self, ctx: RequestContext, call: ModelCall
        ) -> Awaitable[ModelResponse]:
            async def answer() -> ModelResponse:
                return ModelResponse(
                    text="canned", finish_reason="stop", usage=Usage(prompt_tokens=1000)
                )

            return answer()

    muxer = make_muxer(plugins=[Canned()])
    completion = await muxer.acomplete(PROMPT, model=FOUR_O)
    assert completion.text == "canned"
    card = muxer.catalog.get(FOUR_O)
    assert completion.cost_usd == pytest.approx(1000 * card.input_cost_per_token)


async def test_stream_model_wrapper_wraps_the_stream(make_muxer: MakeMuxer) -> None:
    class Upper:
        def __init__(self) -> None:
            self.deltas = 0

        @hookimpl(wrapper=True)
        def modelmuxer_stream_model(
            self, ctx: RequestContext, call: ModelCall
        ) -> Generator[None, AsyncIterator[StreamDelta], AsyncIterator[StreamDelta]]:
            inner = yield

            async def upper() -> AsyncIterator[StreamDelta]:
                async for delta in inner:
                    self.deltas += 1
                    yield StreamDelta(
                        text=delta.text.upper(),
                        tool_calls=delta.tool_calls,
                        usage=delta.usage,
                        finish_reason=delta.finish_reason,
                    )

            return upper()

    plugin = Upper()
    chunks = [c async for c in make_muxer(plugins=[plugin]).astream(PROMPT, model=MINI)]
    completion = chunks[-1].completion
    assert completion is not None
    assert completion.text == completion.text.upper()
    assert any(ch.isalpha() for ch in completion.text)
    assert plugin.deltas == len(chunks)  # every content delta, plus the closing usage delta
    plain = await make_muxer().acomplete(PROMPT, model=MINI)
    assert completion.text == plain.text.upper()


# -- modelmuxer_judge -----------------------------------------------------------------------------


class _Judge:
    def __init__(self, score: float) -> None:
        self.score = score
        self.judged: list[str] = []

    @hookimpl
    def modelmuxer_judge(
        self, ctx: RequestContext, call: ModelCall, response: ModelResponse
    ) -> float:
        self.judged.append(call.card.id)
        return self.score


async def test_judge_override_changes_the_cascade(make_muxer: MakeMuxer) -> None:
    muxer = make_muxer()
    chain = muxer.route(PROMPT, strategy="cascade").models
    assert len(chain) >= 2

    strict = _Judge(0.0)
    completion = await make_muxer(plugins=[strict]).acomplete(PROMPT, strategy="cascade")
    assert completion.model == chain[-1]
    assert [a.outcome for a in completion.attempts] == ["escalated"] * (len(chain) - 1) + [
        "accepted"
    ]
    assert strict.judged == chain[:-1]  # the last answer is never judged

    lenient = _Judge(1.0)
    completion = await make_muxer(plugins=[lenient]).acomplete(PROMPT, strategy="cascade")
    assert completion.model == chain[0]
    assert lenient.judged == [chain[0]]
    assert completion.attempts[0].judge_score == 1.0


@pytest.mark.parametrize("score", [1.5, -0.1, "good", None])
async def test_judge_must_return_a_score_in_range(make_muxer: MakeMuxer, score: Any) -> None:
    class Broken:
        @hookimpl(tryfirst=True)
        def modelmuxer_judge(
            self, ctx: RequestContext, call: ModelCall, response: ModelResponse
        ) -> Any:
            return score

    muxer = make_muxer(plugins=[Broken()])
    if score is None:  # None defers to the built-in judge
        assert (await muxer.acomplete(PROMPT, strategy="cascade")).text
        return
    with pytest.raises(PluginError, match="modelmuxer_judge"):
        await muxer.acomplete(PROMPT, strategy="cascade")


# -- modelmuxer_record ----------------------------------------------------------------------------


async def test_one_record_per_model_call(make_muxer: MakeMuxer, recorder: Recorder) -> None:
    muxer = make_muxer(plugins=[recorder, _Judge(0.0)])
    completion = await muxer.acomplete(PROMPT, strategy="cascade", identity={"user": "u"})
    records = recorder.records
    assert len(records) == len(completion.attempts) >= 2
    assert [r.attempt for r in records] == list(range(len(records)))
    assert {r.request_id for r in records} == {completion.request_id}
    assert [r.model for r in records] == [a.model for a in completion.attempts]
    assert [r.outcome for r in records] == ["escalated"] * (len(records) - 1) + ["ok"]
    for record in records:
        card = muxer.catalog.get(record.model)
        usage = record.usage
        assert record.cost_usd == pytest.approx(
            card.cost_usd(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
        )
        assert record.cost_usd > 0
        assert record.strategy == "cascade"
        assert record.provider == card.provider
        assert record.identity.user == "u"
        assert record.reason == completion.decision.reason
        assert not record.streamed
        assert record.error is None
    assert completion.cost_usd == pytest.approx(sum(r.cost_usd for r in records))


async def test_record_is_broadcast_to_every_listener(make_muxer: MakeMuxer) -> None:
    first, second = Recorder(), Recorder()
    await make_muxer(plugins=[first, second]).acomplete(PROMPT)
    assert len(first.records) == len(second.records) == 1
    assert first.records[0] == second.records[0]


async def test_failed_call_is_recorded(make_muxer: MakeMuxer, recorder: Recorder) -> None:
    muxer = make_muxer(plugins=[recorder])
    with pytest.raises(ProviderError):
        await muxer.acomplete(PROMPT, model=MINI, metadata={"offline": {"fail": "server_error"}})
    (record,) = recorder.records
    assert record.outcome == "error"
    assert record.model == MINI
    assert record.error is not None
    assert "simulated server error" in record.error
    assert record.cost_usd == 0.0


# -- modelmuxer_request_end -----------------------------------------------------------------------


async def test_request_end_gets_the_completion(recorded: Muxer, recorder: Recorder) -> None:
    completion = await recorded.acomplete(PROMPT)
    chunks = [c async for c in recorded.astream(PROMPT)]
    assert recorder.ended == [(completion, None), (chunks[-1].completion, None)]


async def test_request_end_gets_the_error(recorded: Muxer, recorder: Recorder) -> None:
    failing = {"offline": {"fail": "server_error"}}
    with pytest.raises(ProviderError) as info:
        await recorded.acomplete(PROMPT, model=MINI, metadata=failing)
    with pytest.raises(ProviderError):
        _ = [c async for c in recorded.astream(PROMPT, model=MINI, metadata=failing)]
    with pytest.raises(NoEligibleModel):
        await recorded.acomplete(PROMPT, routing={"allow": ["nothing"]})
    assert len(recorder.ended) == 3
    assert recorder.ended[0] == (None, info.value)
    assert all(c is None for c, _ in recorder.ended)
    assert isinstance(recorder.ended[1][1], ProviderError)
    assert isinstance(recorder.ended[2][1], NoEligibleModel)


# -- registration hooks ---------------------------------------------------------------------------


class _Fixed:
    """A quality estimator that believes what it is told."""

    def __init__(self, qualities: Mapping[str, float]) -> None:
        self.qualities = qualities

    def quality(self, features: QueryFeatures, card: ModelCard) -> float:
        return self.qualities[card.id]


def test_quality_estimator_hook_replaces_the_priors(make_muxer: MakeMuxer) -> None:
    class Provides:
        @hookimpl
        def modelmuxer_quality_estimator(self) -> _Fixed:
            return _Fixed({MINI: 0.99, FOUR_O: 0.2, HAIKU: 0.3})

    decision = make_muxer(plugins=[Provides()]).route(PROMPT, strategy="quality_first")
    assert decision.model == MINI
    estimate = decision.estimate(FOUR_O)
    assert estimate is not None
    assert estimate.quality == 0.2


class _Last:
    name = "last"
    description = "always the last candidate"

    def select(self, task: RoutingTask) -> Decision:
        model = task.candidates[-1].model
        return task.decide(self.name, [model], f"{model}: last")


class _RegistersLast:
    @hookimpl
    def modelmuxer_register_strategies(self, register: Callable[[Strategy], None]) -> None:
        register(_Last())


async def test_strategy_plugins_register_by_name(make_muxer: MakeMuxer) -> None:
    muxer = make_muxer(plugins=[_RegistersLast()])
    assert "last" in muxer.strategies.names()
    assert (await muxer.acomplete(PROMPT, strategy="last")).model == HAIKU
    default = make_muxer(plugins=[_RegistersLast()], strategy="last")
    assert default.route(PROMPT).strategy == "last"


def test_registering_a_strategy_name_twice_is_a_plugin_error(make_muxer: MakeMuxer) -> None:
    class Twice:
        @hookimpl
        def modelmuxer_register_strategies(self, register: Callable[[Strategy], None]) -> None:
            register(_Last())
            register(_Last())

    with pytest.raises(PluginError, match="'last'"):
        make_muxer(plugins=[Twice()])


def test_registering_a_non_strategy_is_a_plugin_error(make_muxer: MakeMuxer) -> None:
    class Bad:
        @hookimpl
        def modelmuxer_register_strategies(self, register: Callable[[object], None]) -> None:
            register(object())

    with pytest.raises(PluginError, match="not a strategy"):
        make_muxer(plugins=[Bad()])


class _EchoBackend:
    name = "echo"

    def claims(self, model_id: str) -> bool:
        return model_id.startswith("echo/")

    def price_alias(self, model_id: str) -> str:
        return model_id

    async def complete(self, call: ModelCall) -> ModelResponse:
        text = f"echo: {call.request.messages[-1].text}"
        return ModelResponse(
            text=text, finish_reason="stop", usage=Usage(prompt_tokens=3, completion_tokens=4)
        )

    async def stream(self, call: ModelCall) -> AsyncIterator[StreamDelta]:
        yield StreamDelta(text="echo: ")
        yield StreamDelta(text=call.request.messages[-1].text)
        yield StreamDelta(usage=Usage(prompt_tokens=3, completion_tokens=4), finish_reason="stop")


class _RegistersEcho:
    @hookimpl
    def modelmuxer_register_backends(self, register: Callable[[Backend], None]) -> None:
        register(_EchoBackend())


async def test_backend_plugins_serve_the_models_they_claim(make_muxer: MakeMuxer) -> None:
    card = make_card("echo/one", input_price_per_mtok=1.0, output_price_per_mtok=2.0)
    muxer = make_muxer([card, MINI], plugins=[_RegistersEcho()])
    completion = await muxer.acomplete("hello there", model="echo/one")
    assert completion.text == "echo: hello there"
    assert completion.cost_usd == pytest.approx(3e-6 + 8e-6)
    chunks = [c async for c in muxer.astream("hello there", model="echo/one")]
    assert chunks[-1].completion is not None
    assert chunks[-1].completion.text == "echo: hello there"
    assert muxer.backends.for_card(muxer.catalog.get(MINI)).name == "offline"


async def test_a_card_may_name_its_backend(make_muxer: MakeMuxer) -> None:
    card = make_card("custom-id", backend="echo")
    muxer = make_muxer([card], plugins=[_RegistersEcho()])
    assert (await muxer.acomplete("hi there")).text == "echo: hi there"


# -- registration errors --------------------------------------------------------------------------


def test_registering_the_same_plugin_twice_is_a_plugin_error(make_muxer: MakeMuxer) -> None:
    plugin = Recorder()
    with pytest.raises(PluginError, match="cannot register"):
        make_muxer(plugins=[plugin, plugin])


def test_a_hookimpl_with_unknown_arguments_is_a_plugin_error(make_muxer: MakeMuxer) -> None:
    class Bad:
        @hookimpl
        def modelmuxer_record(self, record: object, extra: object) -> None:
            pass

    with pytest.raises(PluginError):
        make_muxer(plugins=[Bad()])


def test_a_misspelt_hook_is_a_plugin_error(make_muxer: MakeMuxer) -> None:
    class Typo:
        @hookimpl
        def modelmuxer_filter_candidate(self, ctx: RequestContext) -> None:
            pass

    with pytest.raises(PluginError, match="modelmuxer_filter_candidate"):
        make_muxer(plugins=[Typo()])


def test_pinning_uses_routing_options_too(make_muxer: MakeMuxer) -> None:
    decision = make_muxer().route(PROMPT, routing=RoutingOptions(model=HAIKU))
    assert decision.models == [HAIKU]


class _Budget:
    """A wrapper that refuses calls with a typed error of its own (as a budget guard would)."""

    def __init__(self) -> None:
        self.refused: list[str] = []

    @hookimpl(wrapper=True)
    def modelmuxer_call_model(
        self, ctx: RequestContext, call: ModelCall
    ) -> Generator[None, Awaitable[ModelResponse], Awaitable[ModelResponse]]:
        inner = yield

        async def guarded() -> ModelResponse:
            self.refused.append(call.card.id)
            inner.close()  # type: ignore[attr-defined]  # the backend's coroutine, never awaited
            raise RequestRejected("budget exhausted", plugin="budget")

        return guarded()

    @hookimpl(wrapper=True)
    def modelmuxer_stream_model(
        self, ctx: RequestContext, call: ModelCall
    ) -> Generator[None, AsyncIterator[StreamDelta], AsyncIterator[StreamDelta]]:
        yield

        async def guarded() -> AsyncIterator[StreamDelta]:
            self.refused.append(call.card.id)
            if self.refused:
                raise RequestRejected("budget exhausted", plugin="budget")
            yield StreamDelta()  # never reached; makes this an async generator

        return guarded()


async def test_typed_errors_of_call_wrappers_keep_their_type(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    budget = _Budget()
    muxer = make_muxer(plugins=[budget, recorder])
    with pytest.raises(RequestRejected, match="budget exhausted"):
        await muxer.acomplete(PROMPT, strategy="cascade")
    assert len(budget.refused) == 1  # not hidden as a provider failure: no escalation
    with pytest.raises(RequestRejected, match="budget exhausted"):
        _ = [c async for c in muxer.astream(PROMPT, model=MINI)]
    assert len(budget.refused) == 2
    assert [r.outcome for r in recorder.records] == ["error", "error"]
    assert all(isinstance(error, RequestRejected) for _, error in recorder.ended)


async def test_unexpected_errors_of_a_backend_become_provider_errors(
    make_muxer: MakeMuxer, recorder: Recorder
) -> None:
    class Crashes:
        @hookimpl
        def modelmuxer_call_model(
            self, ctx: RequestContext, call: ModelCall
        ) -> Awaitable[ModelResponse]:
            async def crash() -> ModelResponse:
                raise KeyError("choices")

            return crash()

    muxer = make_muxer(plugins=[Crashes(), recorder])
    with pytest.raises(ProviderError, match="KeyError") as info:
        await muxer.acomplete(PROMPT, model=MINI)
    assert info.value.model == MINI
    assert "KeyError: 'choices'" in str(info.value)  # the original, by name and message
    # not chained: a third-party exception's text may hold a key, and tracebacks print causes
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    assert [r.outcome for r in recorder.records] == ["error"]


def test_request_start_may_rewrite_the_strategy() -> None:
    from modelmuxer import Muxer, hookimpl

    class ForceCascade:
        @hookimpl
        def modelmuxer_request_start(self, ctx: Any) -> None:
            routing = ctx.request.routing.model_copy(update={"strategy": "cascade"})
            ctx.request = ctx.request.model_copy(update={"routing": routing})

    muxer = Muxer(
        ["offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"],
        plugins=[ForceCascade()],
        load_entrypoints=False,
    )
    assert muxer.route("hello").strategy == "cascade"


def test_request_start_rewrite_to_an_unknown_strategy_is_a_typed_error() -> None:
    from modelmuxer import Muxer, UnknownStrategy, hookimpl

    class Broken:
        @hookimpl
        def modelmuxer_request_start(self, ctx: Any) -> None:
            routing = ctx.request.routing.model_copy(update={"strategy": "nope"})
            ctx.request = ctx.request.model_copy(update={"routing": routing})

    muxer = Muxer(["offline/openai/gpt-4o-mini"], plugins=[Broken()], load_entrypoints=False)
    with pytest.raises(UnknownStrategy):
        muxer.route("hello")
