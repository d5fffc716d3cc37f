"""The Muxer's public methods: what they return and the per-call options they honour."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from _support import OFFLINE_MODELS, MakeMuxer, Recorder

from modelmuxer import (
    Completion,
    Decision,
    Identity,
    InvalidRequest,
    Muxer,
    NoEligibleModel,
    Request,
    StreamChunk,
    UnknownStrategy,
)
from modelmuxer.testing import make_card, make_tool
from modelmuxer.types import Message, RoutingOptions

PROMPT = "What is the capital of France?"


def _check_completion(muxer: Muxer, completion: Completion) -> None:
    assert isinstance(completion, Completion)
    assert completion.model in OFFLINE_MODELS
    assert completion.text
    card = muxer.catalog.get(completion.model)
    usage = completion.usage
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 0
    assert completion.cost_usd == pytest.approx(
        card.cost_usd(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
    )
    assert completion.cost_usd > 0
    assert completion.provider == card.provider
    assert completion.decision.model == completion.model
    assert [a.model for a in completion.attempts] == [completion.model]
    assert completion.attempts[0].outcome == "accepted"


async def test_acomplete_returns_a_completion(muxer: Muxer) -> None:
    completion = await muxer.acomplete(PROMPT)
    _check_completion(muxer, completion)
    assert completion.decision.strategy == muxer.default_strategy == "hybrid"
    assert completion.finish_reason == "stop"


def test_complete_returns_a_completion(muxer: Muxer) -> None:
    completion = muxer.complete(PROMPT)
    _check_completion(muxer, completion)


def test_sync_and_async_answer_alike(muxer: Muxer) -> None:
    sync = muxer.complete(PROMPT, request_id="r1")
    async_ = asyncio.run(muxer.acomplete(PROMPT, request_id="r1"))
    assert sync.model == async_.model
    assert sync.text == async_.text
    assert sync.usage == async_.usage


def test_route_returns_a_decision_without_calling_a_model(
    recorded: Muxer, recorder: Recorder
) -> None:
    decision = recorded.route(PROMPT)
    assert isinstance(decision, Decision)
    assert decision.model in OFFLINE_MODELS
    assert {c.model for c in decision.candidates} == set(OFFLINE_MODELS)
    assert decision.reason
    assert decision.features["task_type"]
    assert recorder.records == []


async def test_aroute_matches_route(muxer: Muxer) -> None:
    decision = await muxer.aroute(PROMPT)
    assert isinstance(decision, Decision)
    assert decision == muxer.route(PROMPT)


async def test_astream_yields_chunks_then_the_completion(muxer: Muxer) -> None:
    chunks = [chunk async for chunk in muxer.astream(PROMPT)]
    assert all(isinstance(c, StreamChunk) for c in chunks)
    assert len(chunks) >= 2
    assert chunks[-1].completion is not None
    assert all(c.completion is None for c in chunks[:-1])
    _check_completion(muxer, chunks[-1].completion)


def test_stream_yields_chunks_then_the_completion(muxer: Muxer) -> None:
    chunks = list(muxer.stream(PROMPT))
    assert all(isinstance(c, StreamChunk) for c in chunks)
    completion = chunks[-1].completion
    assert completion is not None
    assert "".join(c.text for c in chunks[:-1]) == completion.text
    _check_completion(muxer, completion)


@pytest.mark.parametrize(
    ("strategy", "routing", "expected"),
    [
        ("quality_first", {}, "offline/openai/gpt-4o"),
        ("cost_optimized", {"quality_target": 0.0}, "offline/openai/gpt-4o-mini"),
    ],
)
async def test_per_call_strategy(
    muxer: Muxer, strategy: str, routing: dict[str, float], expected: str
) -> None:
    decision = muxer.route(PROMPT, strategy=strategy, routing=routing)
    assert decision.strategy == strategy
    assert decision.model == expected
    completion = await muxer.acomplete(PROMPT, strategy=strategy, routing=routing)
    assert completion.model == expected
    assert completion.decision.strategy == strategy


def test_per_call_strategy_does_not_change_the_default(muxer: Muxer) -> None:
    muxer.route(PROMPT, strategy="cascade")
    assert muxer.route(PROMPT).strategy == "hybrid"


@pytest.mark.parametrize("model", OFFLINE_MODELS)
async def test_pinned_model_answers_without_routing(muxer: Muxer, model: str) -> None:
    completion = await muxer.acomplete(PROMPT, model=model)
    assert completion.model == model
    assert completion.decision.strategy == "pinned"
    assert completion.decision.models == [model]
    assert "pinned" in completion.decision.reason


async def test_identity_reaches_the_records(recorded: Muxer, recorder: Recorder) -> None:
    await recorded.acomplete(PROMPT, identity={"user": "u1", "org": "acme", "role": "analyst"})
    await recorded.acomplete(PROMPT, identity=Identity(user="u2", project="p"))
    assert [r.identity for r in recorder.records] == [
        Identity(user="u1", org="acme", role="analyst"),
        Identity(user="u2", project="p"),
    ]
    assert recorder.started[0].request.identity.org == "acme"


async def test_tags_metadata_and_request_id_are_kept(recorded: Muxer, recorder: Recorder) -> None:
    completion = await recorded.acomplete(
        PROMPT, tags=["a", "b"], metadata={"trace": "t1"}, request_id="req-42"
    )
    assert completion.request_id == "req-42"
    record = recorder.records[0]
    assert record.request_id == "req-42"
    assert record.tags == frozenset({"a", "b"})
    assert recorder.started[0].request.metadata == {"trace": "t1"}


def test_a_single_tag_string_is_one_tag(muxer: Muxer) -> None:
    assert muxer.request(PROMPT, tags="confidential").tags == frozenset({"confidential"})


def test_generated_request_ids_are_unique(muxer: Muxer) -> None:
    ids = {muxer.request(PROMPT).request_id for _ in range(20)}
    assert len(ids) == 20


async def test_accepts_a_request_object_with_overrides(muxer: Muxer) -> None:
    request = Request(messages=[Message(role="user", content=PROMPT)], request_id="fixed")
    completion = await muxer.acomplete(request, model="offline/openai/gpt-4o", max_tokens=500)
    assert completion.request_id == "fixed"
    assert completion.model == "offline/openai/gpt-4o"
    assert request.routing.model is None  # the caller's request is not mutated


@pytest.mark.parametrize(
    "messages",
    [
        PROMPT,
        {"role": "user", "content": PROMPT},
        Message(role="user", content=PROMPT),
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": PROMPT}],
        [Message(role="system", content="Be brief."), {"role": "user", "content": PROMPT}],
    ],
)
def test_message_shapes(muxer: Muxer, messages: object) -> None:
    request = muxer.request(messages)  # type: ignore[arg-type]
    assert request.messages[-1] == Message(role="user", content=PROMPT)


def test_identity_of_the_wrong_type_is_invalid(muxer: Muxer) -> None:
    with pytest.raises(InvalidRequest, match="identity") as info:
        muxer.route(PROMPT, identity="alice")
    assert info.value.field == "identity"


def test_routing_of_the_wrong_type_is_invalid(muxer: Muxer) -> None:
    with pytest.raises(InvalidRequest) as info:
        muxer.route(PROMPT, routing=["x"])
    assert info.value.field == "routing"


def test_routing_options_object_is_accepted(muxer: Muxer) -> None:
    decision = muxer.route(
        PROMPT, routing=RoutingOptions(deny=frozenset({"offline/openai/gpt-4o"}))
    )
    assert decision.model != "offline/openai/gpt-4o"


def test_unknown_default_strategy_fails_at_construction(make_muxer: MakeMuxer) -> None:
    with pytest.raises(UnknownStrategy, match="cheapest"):
        make_muxer(strategy="cheapest")


def test_models_may_be_cards_specs_and_dicts(make_muxer: MakeMuxer) -> None:
    card = make_card("offline/test/card", input_price_per_mtok=0.5)
    muxer = make_muxer(
        [
            card,
            {
                "id": "offline/test/dict",
                "input_price_per_mtok": 1,
                "output_price_per_mtok": 2,
                "context_window": 8000,
            },
            "offline/openai/gpt-4o-mini",
        ]
    )
    assert muxer.catalog.ids() == [
        "offline/test/card",
        "offline/test/dict",
        "offline/openai/gpt-4o-mini",
    ]
    assert muxer.catalog.get("offline/test/card") is card
    assert muxer.complete(PROMPT, model="offline/test/dict").model == "offline/test/dict"


def test_each_muxer_has_its_own_plugin_manager(make_muxer: MakeMuxer, recorder: Recorder) -> None:
    with_plugin = make_muxer(plugins=[recorder])
    without = make_muxer()
    without.complete(PROMPT)
    assert recorder.records == []
    with_plugin.complete(PROMPT)
    assert len(recorder.records) == 1
    assert without.plugins is not with_plugin.plugins


def test_repr_names_models_and_strategy(muxer: Muxer) -> None:
    text = repr(muxer)
    assert "offline/openai/gpt-4o-mini" in text
    assert "hybrid" in text


def test_sync_calls_from_many_threads(muxer: Muxer) -> None:
    results: list[Completion] = []
    lock = threading.Lock()

    def work() -> None:
        completion = muxer.complete(PROMPT)
        with lock:
            results.append(completion)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(results) == 4
    assert len({c.text for c in results}) == 1


async def test_sync_call_from_inside_a_running_loop(muxer: Muxer) -> None:
    completion = muxer.complete(PROMPT)
    _check_completion(muxer, completion)


async def test_sync_call_from_a_worker_thread_of_a_running_loop(muxer: Muxer) -> None:
    completion = await asyncio.to_thread(muxer.complete, PROMPT)
    _check_completion(muxer, completion)
    chunks = await asyncio.to_thread(lambda: list(muxer.stream(PROMPT)))
    assert chunks[-1].completion is not None


def test_close_is_idempotent_and_the_muxer_still_works(muxer: Muxer) -> None:
    muxer.complete(PROMPT)
    muxer.close()
    muxer.close()
    assert muxer.complete(PROMPT).text


def test_close_stops_and_closes_the_background_loop(muxer: Muxer) -> None:
    muxer.complete(PROMPT)
    loop = muxer._sync._loop
    assert loop is not None
    assert loop.is_running()
    muxer.close()
    deadline = time.monotonic() + 2.0
    while not loop.is_closed() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert loop.is_closed()  # its selector and self-pipe are released, not left to the GC


# -- hard constraints -----------------------------------------------------------------------------

TINY = make_card("offline/test/tiny", context_window=300, max_output_tokens=100)
NO_TOOLS = make_card("offline/test/no-tools", tools=False, vision=True)
NO_VISION = make_card("offline/test/no-vision", vision=False)
NO_JSON = make_card("offline/test/no-json", json_mode=False, vision=True)
PRICEY = make_card(
    "offline/test/pricey", input_price_per_mtok=100.0, output_price_per_mtok=400.0, vision=True
)
CONSTRAINED = [TINY, NO_TOOLS, NO_VISION, NO_JSON, PRICEY]
IMAGE = {
    "role": "user",
    "content": [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ],
}


def _excluded(decision: Decision) -> dict[str, str]:
    return {c.model: c.excluded for c in decision.candidates if c.excluded is not None}


@pytest.fixture
def constrained(make_muxer: MakeMuxer) -> Muxer:
    return make_muxer(CONSTRAINED)


def test_a_long_prompt_excludes_a_small_context_window(constrained: Muxer) -> None:
    assert constrained.route(PROMPT, routing={"allow": [TINY.id]}).model == TINY.id
    decision = constrained.route("lorem ipsum dolor " * 200)
    assert TINY.id not in decision.models
    assert "context window is 300" in _excluded(decision)[TINY.id]
    assert set(_excluded(decision)) == {TINY.id}


def test_max_tokens_beyond_a_models_output_limit_excludes_it(constrained: Muxer) -> None:
    decision = constrained.route(PROMPT, max_tokens=150)
    assert _excluded(decision) == {TINY.id: "max_tokens=150 exceeds the model's output limit 100"}


def test_tools_exclude_models_without_tool_calling(constrained: Muxer) -> None:
    decision = constrained.route(PROMPT, tools=[make_tool()])
    assert "cannot call tools" in _excluded(decision)[NO_TOOLS.id]
    assert NO_TOOLS.id not in decision.models


def test_images_exclude_models_without_vision(constrained: Muxer) -> None:
    decision = constrained.route([IMAGE])
    excluded = _excluded(decision)
    assert "no vision" in excluded[NO_VISION.id]
    assert "no vision" in excluded[TINY.id]  # make_card's default: no vision
    assert NO_TOOLS.id not in excluded


def test_json_mode_excludes_models_without_it(constrained: Muxer) -> None:
    decision = constrained.route(PROMPT, response_format={"type": "json_object"})
    assert "JSON" in _excluded(decision)[NO_JSON.id]
    assert NO_JSON.id not in decision.models


def test_allow_and_deny_lists(constrained: Muxer) -> None:
    decision = constrained.route(PROMPT, routing={"allow": [NO_JSON.id, PRICEY.id]})
    assert set(decision.models) <= {NO_JSON.id, PRICEY.id}
    excluded = _excluded(decision)
    assert set(excluded) == {TINY.id, NO_TOOLS.id, NO_VISION.id}
    assert all(why == "not in the request's allow list" for why in excluded.values())
    decision = constrained.route(PROMPT, routing={"deny": [PRICEY.id, TINY.id]})
    assert _excluded(decision) == {
        PRICEY.id: "in the request's deny list",
        TINY.id: "in the request's deny list",
    }


def test_a_cost_ceiling_excludes_models_whose_worst_case_exceeds_it(constrained: Muxer) -> None:
    decision = constrained.route(PROMPT, max_tokens=50, routing={"max_cost_usd": 0.001})
    assert "exceeds the ceiling $0.001000" in _excluded(decision)[PRICEY.id]
    assert PRICEY.id not in decision.models


def test_a_tiny_cost_ceiling_is_not_shown_as_zero(constrained: Muxer) -> None:
    with pytest.raises(NoEligibleModel) as caught:
        constrained.route(PROMPT, routing={"max_cost_usd": 1e-9})
    reasons = caught.value.exclusions.values()
    assert reasons
    assert all(why.endswith("exceeds the ceiling $1e-09") for why in reasons)
    assert "$0.000000" not in str(caught.value)


async def test_no_eligible_model_lists_every_candidate_and_why(constrained: Muxer) -> None:
    with pytest.raises(NoEligibleModel) as info:
        await constrained.acomplete(
            [IMAGE],
            tools=[make_tool()],
            response_format={"type": "json_object"},
            max_tokens=150,
            routing={"deny": [PRICEY.id]},
        )
    exclusions = info.value.exclusions
    assert exclusions == {
        TINY.id: "the request contains images and this model has no vision",
        NO_TOOLS.id: "the request offers tools and this model cannot call tools",
        NO_VISION.id: "the request contains images and this model has no vision",
        NO_JSON.id: "the request asks for JSON output and this model has no JSON mode",
        PRICEY.id: "in the request's deny list",
    }
    message = str(info.value)
    for model, why in exclusions.items():
        assert f"  - {model}: {why}" in message


def test_muxer_is_a_context_manager_that_closes_its_loop() -> None:
    from modelmuxer import Muxer

    with Muxer(["offline/openai/gpt-4o-mini"], load_entrypoints=False) as muxer:
        assert muxer.complete("hello").text
        loop = muxer._sync._loop
        assert loop is not None
    assert muxer._sync._loop is None


async def test_muxer_is_an_async_context_manager() -> None:
    from modelmuxer import Muxer

    async with Muxer(["offline/openai/gpt-4o-mini"], load_entrypoints=False) as muxer:
        assert (await muxer.acomplete("hello")).text
