"""Bad input fails early with a typed error naming the field; good input of any shape passes."""

from __future__ import annotations

from typing import Any

import pytest

from modelmuxer import InvalidRequest, Muxer, UnknownModel, UnknownStrategy
from modelmuxer.errors import ConfigError
from modelmuxer.pipeline import build_request
from modelmuxer.types import GenerationParams, Message, Request, RoutingOptions

PROMPT = "What is the capital of France?"


@pytest.mark.parametrize(
    ("messages", "field", "words"),
    [
        ([], "messages", "at least one message"),
        ("", "messages", "prompt is empty"),
        ("   \n", "messages", "prompt is empty"),
        (42, "messages", "got int"),
        ([{"role": "robot", "content": "hi"}], "messages.0.role", "'system'"),
        ([{"role": "user"}], "messages.0", "non-empty content"),
        ([{"role": "user", "content": ""}], "messages.0", "non-empty content"),
        ([{"role": "system", "content": "x"}, {"role": "user"}], "messages.1", "content"),
        ([{"role": "tool", "content": "42"}], "messages.0", "tool_call_id"),
        ([{"role": "assistant"}], "messages.0", "content or tool_calls"),
        ([{"role": "user", "content": "hi", "colour": "red"}], "messages.0.colour", "Extra"),
        (
            [{"role": "user", "content": [{"type": "video", "url": "x"}]}],
            "messages.0.content.0",
            "'text', 'image_url'",
        ),
        (
            [
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{}"}}],
                },
            ],
            "messages",
            "tool results",
        ),
    ],
)
def test_bad_messages(muxer: Muxer, messages: Any, field: str, words: str) -> None:
    for method in (muxer.route, muxer.request):
        with pytest.raises(InvalidRequest) as info:
            method(messages)
        assert info.value.field == field
        assert str(info.value).startswith(f"{field}: ")
        assert words in str(info.value)


async def test_bad_messages_fail_before_any_call(recorded: Muxer, recorder: Any) -> None:
    with pytest.raises(InvalidRequest):
        await recorded.acomplete([{"role": "user"}])
    with pytest.raises(InvalidRequest):
        _ = [c async for c in recorded.astream("")]
    with pytest.raises(InvalidRequest):
        recorded.complete([])
    assert recorder.started == []
    assert recorder.records == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"max_tokens": 0}, "params.max_tokens"),
        ({"max_tokens": -5}, "params.max_tokens"),
        ({"max_tokens": "many"}, "params.max_tokens"),
        ({"temperature": 3}, "params.temperature"),
        ({"temperature": -0.5}, "params.temperature"),
        ({"top_p": 0}, "params.top_p"),
        ({"timeout_s": 0}, "params.timeout_s"),
        (
            {"tools": [{"type": "function", "function": {"name": ""}}]},
            "params.tools.0.function.name",
        ),
        ({"tool_choice": "sometimes"}, "params.tool_choice"),
    ],
)
def test_bad_generation_parameters(muxer: Muxer, params: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        muxer.route(PROMPT, **params)
    assert info.value.field is not None
    assert info.value.field.startswith(field)
    assert field.split(".")[-1] in str(info.value)


def test_bad_parameters_on_a_request_object_name_the_field(muxer: Muxer) -> None:
    request = muxer.request(PROMPT)
    with pytest.raises(InvalidRequest) as info:
        muxer.route(request, temperature=3)
    assert info.value.field == "params.temperature"


@pytest.mark.parametrize(
    ("routing", "field"),
    [
        ({"max_cost_usd": 0}, "routing.max_cost_usd"),
        ({"quality_target": 1.5}, "routing.quality_target"),
        ({"cost_weight": -1}, "routing.cost_weight"),
        ({"favourite": "x"}, "routing.favourite"),
    ],
)
def test_bad_routing_options(muxer: Muxer, routing: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        muxer.route(PROMPT, routing=routing)
    assert info.value.field == field


def test_unknown_generation_parameter(muxer: Muxer) -> None:
    with pytest.raises(InvalidRequest) as info:
        muxer.route(PROMPT, temprature=0.2)
    assert info.value.field == "temprature"
    message = str(info.value)
    assert "unknown parameter" in message
    assert "temperature" in message  # lists the real ones


def test_unknown_strategy_lists_the_known_ones(muxer: Muxer) -> None:
    with pytest.raises(UnknownStrategy) as info:
        muxer.route(PROMPT, strategy="cheapest")
    assert info.value.name == "cheapest"
    assert info.value.known == ["cascade", "cost_optimized", "hybrid", "quality_first"]
    for name in info.value.known:
        assert name in str(info.value)
    assert isinstance(info.value, ConfigError)


async def test_unknown_strategy_in_routing_options(muxer: Muxer) -> None:
    with pytest.raises(UnknownStrategy, match="'fast'"):
        await muxer.acomplete(PROMPT, routing={"strategy": "fast"})


async def test_unknown_pinned_model_lists_the_candidates(muxer: Muxer) -> None:
    with pytest.raises(UnknownModel) as info:
        await muxer.acomplete(PROMPT, model="openai/gpt-4o-mini")
    assert info.value.model == "openai/gpt-4o-mini"
    assert info.value.known == muxer.catalog.ids()
    assert "offline/openai/gpt-4o-mini" in str(info.value)


def test_build_request_from_a_string() -> None:
    request = build_request(PROMPT, params={"temperature": 0.2, "stop": "END"})
    assert request.messages == [Message(role="user", content=PROMPT)]
    assert request.params == GenerationParams(temperature=0.2, stop=["END"])
    assert request.routing == RoutingOptions()
    assert request.request_id


def test_build_request_sets_routing_from_arguments() -> None:
    request = build_request(
        PROMPT, strategy="cascade", model="m", routing={"max_cost_usd": 0.01, "deny": ["x"]}
    )
    assert request.routing == RoutingOptions(
        strategy="cascade", model="m", max_cost_usd=0.01, deny=frozenset({"x"})
    )


def test_build_request_overrides_a_request() -> None:
    original = Request(
        messages=[Message(role="user", content=PROMPT)],
        params=GenerationParams(temperature=0.1, max_tokens=10),
        tags=frozenset({"a"}),
        metadata={"k": 1},
        request_id="r",
    )
    request = build_request(
        original,
        params={"max_tokens": 20},
        tags=["b"],
        metadata={"j": 2},
        identity={"user": "u"},
        strategy="hybrid",
    )
    assert request.params == GenerationParams(temperature=0.1, max_tokens=20)
    assert request.tags == frozenset({"b"})
    assert request.metadata == {"k": 1, "j": 2}
    assert request.identity.user == "u"
    assert request.routing.strategy == "hybrid"
    assert request.request_id == "r"
    assert original.params.max_tokens == 10
    assert build_request(original) is original


def test_images_and_tool_messages_are_accepted() -> None:
    request = build_request(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                ],
            },
            {
                "role": "assistant",
                "tool_calls": [{"id": "c1", "function": {"name": "look", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "a cat"},
        ]
    )
    assert request.messages[0].has_images
    assert request.messages[2].tool_call_id == "c1"
