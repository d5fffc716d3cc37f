"""The data types: validation rules, derived properties, immutability."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from modelmuxer.testing import make_card
from modelmuxer.types import (
    Attempt,
    CandidateEstimate,
    Completion,
    Decision,
    FunctionCall,
    GenerationParams,
    ImagePart,
    ImageURL,
    LatencyProfile,
    Message,
    ModelCard,
    Request,
    TextPart,
    ToolCall,
    Usage,
)


def _decision(models: list[str] | None = None) -> Decision:
    return Decision(
        strategy="s",
        models=["a"] if models is None else models,
        candidates=[
            CandidateEstimate(model="a", quality=0.7, cost_usd=0.1, latency_s=1.0),
            CandidateEstimate(model="b", quality=0.0, cost_usd=0.0, latency_s=0.0, excluded="no"),
        ],
        reason="because",
    )


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"role": "user"}, "non-empty content"),
        ({"role": "system", "content": ""}, "non-empty content"),
        ({"role": "assistant"}, "content or tool_calls"),
        ({"role": "tool", "content": "x"}, "tool_call_id"),
        (
            {
                "role": "user",
                "content": "x",
                "tool_calls": [{"id": "1", "function": {"name": "f"}}],
            },
            "only assistant",
        ),
        (
            {"role": "system", "content": [{"type": "image_url", "image_url": {"url": "u"}}]},
            "must be text",
        ),
        ({"role": "bot", "content": "x"}, "role"),
    ],
)
def test_message_rules(fields: dict[str, object], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        Message.model_validate(fields)


def test_message_text_and_images() -> None:
    message = Message(
        role="user",
        content=[
            TextPart(text="one"),
            ImagePart(image_url=ImageURL(url="https://x/y.png")),
            TextPart(text="two"),
        ],
    )
    assert message.text == "one\ntwo"
    assert message.has_images
    assert not Message(role="user", content="hi").has_images
    assert (
        Message(
            role="assistant", tool_calls=[ToolCall(id="1", function=FunctionCall(name="f"))]
        ).text
        == ""
    )


def test_message_to_openai_drops_unset_fields() -> None:
    assert Message(role="user", content="hi").to_openai() == {"role": "user", "content": "hi"}
    call = ToolCall(id="c", function=FunctionCall(name="f", arguments='{"a": 1}'))
    assert Message(role="assistant", tool_calls=[call]).to_openai() == {
        "role": "assistant",
        "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
        ],
    }


def test_function_call_arguments() -> None:
    assert FunctionCall(name="f", arguments='{"x": 1}').parsed_arguments() == {"x": 1}
    assert FunctionCall(name="f", arguments="").parsed_arguments() == {}
    with pytest.raises(ValueError, match="JSON object"):
        FunctionCall(name="f", arguments="[1]").parsed_arguments()
    with pytest.raises(ValueError):  # noqa: PT011 - json's own error
        FunctionCall(name="f", arguments="{").parsed_arguments()


def test_types_are_frozen() -> None:
    message = Message(role="user", content="hi")
    with pytest.raises(ValidationError, match="frozen"):
        message.content = "bye"
    with pytest.raises(ValidationError, match="frozen"):
        Usage().prompt_tokens = 3  # type: ignore[misc]


def test_request_rules() -> None:
    with pytest.raises(ValidationError):
        Request(messages=[])
    call = ToolCall(id="1", function=FunctionCall(name="f"))
    with pytest.raises(ValidationError, match="tool results"):
        Request(
            messages=[
                Message(role="user", content="q"),
                Message(role="assistant", tool_calls=[call]),
            ]
        )
    request = Request(
        messages=[Message(role="system", content="sys"), Message(role="user", content="q")]
    )
    assert request.prompt_text == "sys\nq"
    assert len(request.request_id) == 32
    assert request.request_id != Request(messages=request.messages).request_id


def test_generation_params() -> None:
    assert GenerationParams(stop="x").stop == ["x"]
    assert GenerationParams(response_format={"type": "json_object"}).wants_json
    assert GenerationParams(response_format={"type": "json_schema", "json_schema": {}}).wants_json
    assert not GenerationParams(response_format={"type": "text"}).wants_json
    assert not GenerationParams().wants_json
    for bad in ({"temperature": 2.5}, {"max_tokens": 0}, {"top_p": 1.5}, {"seeed": 1}):
        with pytest.raises(ValidationError):
            GenerationParams.model_validate(bad)


def test_usage_adds_up() -> None:
    total = Usage(prompt_tokens=1, completion_tokens=2, cached_tokens=1) + Usage(
        prompt_tokens=10, completion_tokens=20
    )
    assert total == Usage(prompt_tokens=11, completion_tokens=22, cached_tokens=1)
    assert total.total_tokens == 33
    with pytest.raises(ValidationError):
        Usage(prompt_tokens=-1)


def test_card_cost() -> None:
    card = make_card("a/b", input_price_per_mtok=1.0, output_price_per_mtok=4.0)
    assert card.cost_usd(1_000_000, 0) == pytest.approx(1.0)
    assert card.cost_usd(0, 1_000_000) == pytest.approx(4.0)
    # Without a cached price, cached tokens cost the input price.
    assert card.cost_usd(100, 0, cached_tokens=50) == pytest.approx(100e-6)
    cached = card.model_copy(update={"cached_input_cost_per_token": 0.1e-6})
    assert cached.cost_usd(100, 0, cached_tokens=50) == pytest.approx(50e-6 + 5e-6)
    # More cached tokens than prompt tokens never costs extra.
    assert cached.cost_usd(10, 0, cached_tokens=50) == pytest.approx(10 * 0.1e-6)


@pytest.mark.parametrize(
    "bad",
    [
        {"input_cost_per_token": -1e-6},
        {"context_window": 0},
        {"quality": 1.2},
        {"quality_by_task": {"code": 1.5}},
        {"id": ""},
    ],
)
def test_card_validation(bad: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "id": "a/b",
        "provider": "a",
        "input_cost_per_token": 1e-6,
        "output_cost_per_token": 1e-6,
        "context_window": 1000,
        "max_output_tokens": 100,
    }
    ModelCard.model_validate(fields)
    with pytest.raises(ValidationError):
        ModelCard.model_validate({**fields, **bad})


def test_latency_profile() -> None:
    assert LatencyProfile(ttft_s=0.5, tokens_per_s=100).expected_s(200) == pytest.approx(2.5)
    with pytest.raises(ValidationError):
        LatencyProfile(tokens_per_s=0)


def test_decision() -> None:
    decision = _decision()
    assert decision.model == "a"
    estimate = decision.estimate("b")
    assert estimate is not None
    assert estimate.excluded == "no"
    assert decision.estimate("c") is None
    with pytest.raises(ValidationError):
        _decision(models=[]).model  # noqa: B018
    with pytest.raises(ValidationError):
        Decision(strategy="s", models=["a"], candidates=[], reason="")


def test_completion_to_message() -> None:
    common = {
        "request_id": "r",
        "usage": Usage(),
        "cost_usd": 0.0,
        "model": "a",
        "provider": "p",
        "decision": _decision(),
    }
    text = Completion(text="hi", finish_reason="stop", **common)
    assert text.to_message() == Message(role="assistant", content="hi")
    call = ToolCall(id="1", function=FunctionCall(name="f"))
    tools = Completion(
        text="",
        tool_calls=[call],
        finish_reason="tool_calls",
        **common,
    )
    assert tools.to_message() == Message(role="assistant", tool_calls=[call])
    with pytest.raises(ValidationError):
        Completion(text="x", finish_reason="stop", **{**common, "cost_usd": -1})


def test_attempt_outcomes() -> None:
    assert Attempt(model="a", outcome="failed", error="boom").usage == Usage()
    with pytest.raises(ValidationError):
        Attempt(model="a", outcome="maybe")


def test_call_record_takes_validated_features_and_tags_as_they_are() -> None:
    """Records are built on every call: features and tags already validated are not walked
    again, anything else still is."""
    from datetime import UTC, datetime

    from pydantic import ValidationError

    from modelmuxer.types import CallRecord, Identity, Usage

    base = {
        "request_id": "r1",
        "attempt": 0,
        "started_at": datetime.now(UTC),
        "identity": Identity(),
        "strategy": "hybrid",
        "model": "m",
        "provider": "p",
        "usage": Usage(),
        "cost_usd": 0.0,
        "latency_s": 0.1,
        "outcome": "ok",
        "reason": "r",
    }
    features = {"tokens": 12, "task": "qa"}
    record = CallRecord(**base, tags=frozenset({"beta"}), features=features)
    assert record.features is features
    assert record.tags == frozenset({"beta"})
    from types import MappingProxyType

    converted = CallRecord(**base, tags=["a", "b"], features=MappingProxyType({"x": 1}))
    assert converted.tags == frozenset({"a", "b"})
    assert type(converted.features) is dict
    assert converted.features == {"x": 1}
    with pytest.raises(ValidationError):
        CallRecord(**base, tags=frozenset({1}), features={})
    with pytest.raises(ValidationError):
        CallRecord(**base, tags=frozenset(), features={1: "not a str key"})
