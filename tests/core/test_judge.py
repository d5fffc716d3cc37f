"""The structural judge: one test per signal, and the hook that exposes it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, cast

import pluggy
import pytest

from modelmuxer import hookspecs
from modelmuxer.backends.base import Backend, ModelCall, ModelResponse
from modelmuxer.context import RequestContext
from modelmuxer.judging import structural, structural_score
from modelmuxer.testing import make_card, make_request, make_tool
from modelmuxer.types import FinishReason, FunctionCall, Request, ToolCall, Usage

PLAIN = make_request()
WEATHER = make_tool("get_weather")
WITH_TOOLS = make_request("Weather in Paris?", tools=[WEATHER])
SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "person",
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"],
        },
    },
}


def answer(
    text: str = "Paris.",
    *,
    finish_reason: FinishReason = "stop",
    tool_calls: list[ToolCall] | None = None,
) -> ModelResponse:
    return ModelResponse(
        text=text, finish_reason=finish_reason, usage=Usage(), tool_calls=tool_calls or []
    )


def call(name: str = "get_weather", arguments: str = '{"city": "Paris"}') -> ToolCall:
    return ToolCall(id="call_1", function=FunctionCall(name=name, arguments=arguments))


def test_a_good_answer_scores_one() -> None:
    assert structural_score(PLAIN, answer("The capital of France is Paris.")) == 1.0


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_an_empty_answer_scores_zero(text: str) -> None:
    assert structural_score(PLAIN, answer(text)) == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but I can't help with that.",
        "I’m sorry, but I cannot assist with this request.",
        "Sorry, I can't do that.",
        "  I cannot help with that request.",
        "I can't assist with that.",
        "I am unable to help with this.",
        "As an AI language model, I cannot browse the internet.",
        "As an AI assistant, I am unable to give medical advice.",
        "I apologize, but I won't write that.",
        "Unfortunately, I cannot comply with this request.",
    ],
)
def test_a_refusal_scores_point_one(text: str) -> None:
    assert structural_score(PLAIN, answer(text)) == 0.1


@pytest.mark.parametrize(
    "text",
    [
        "I can help with that! Paris is the capital.",
        "Sorry for the delay: the answer is 42.",
        "The user said \"I'm sorry, but I can't\" and then left.",
        "I cannot stress enough how important tests are.",
        "As an AI, I don't have opinions, but here are both sides: ...",
    ],
)
def test_answers_that_merely_look_like_refusals_score_one(text: str) -> None:
    assert structural_score(PLAIN, answer(text)) == 1.0


def test_a_refusal_late_in_a_long_answer_is_not_a_refusal() -> None:
    text = "Here is the plan. " * 20 + "I'm sorry, but I can't go further."
    assert structural_score(PLAIN, answer(text)) == 1.0


def test_a_content_filtered_answer_scores_like_a_refusal() -> None:
    assert structural_score(PLAIN, answer("Partial", finish_reason="content_filter")) == 0.1


def test_a_truncated_answer_scores_point_three() -> None:
    assert structural_score(PLAIN, answer("Paris is the", finish_reason="length")) == 0.3


@pytest.mark.parametrize(
    ("fmt", "text", "score"),
    [
        ({"type": "json_object"}, '{"name": "Ada"}', 1.0),
        ({"type": "json_object"}, '  {"name": "Ada"}\n', 1.0),
        ({"type": "json_object"}, "Sure! Here it is: {}", 0.0),
        ({"type": "json_object"}, '{"name": "Ada"', 0.0),
        ({"type": "json_object"}, '["not", "an", "object"]', 0.0),
        (SCHEMA_FORMAT, '{"name": "Ada", "age": 36}', 1.0),
        (SCHEMA_FORMAT, '{"name": "Ada"}', 0.0),
        (SCHEMA_FORMAT, "not json", 0.0),
        ({"type": "text"}, "plain text is fine", 1.0),
    ],
)
def test_json_output_is_checked_when_asked_for(
    fmt: dict[str, Any], text: str, score: float
) -> None:
    request = make_request("Who?", response_format=fmt)
    assert structural_score(request, answer(text)) == score


def test_truncated_json_scores_zero() -> None:
    request = make_request("Who?", response_format={"type": "json_object"})
    assert structural_score(request, answer('{"na', finish_reason="length")) == 0.0


def test_a_valid_tool_call_scores_one() -> None:
    response = answer("", finish_reason="tool_calls", tool_calls=[call()])
    assert structural_score(WITH_TOOLS, response) == 1.0


@pytest.mark.parametrize(
    "bad_call",
    [
        call(arguments='{"city": "Par'),
        call(arguments='["Paris"]'),
        call(name="get_stock_price"),
    ],
    ids=["unparsable", "not-an-object", "unknown-tool"],
)
def test_a_malformed_tool_call_scores_zero(bad_call: ToolCall) -> None:
    response = answer("", finish_reason="tool_calls", tool_calls=[call(), bad_call])
    assert structural_score(WITH_TOOLS, response) == 0.0


def test_a_tool_call_when_no_tool_was_offered_scores_zero() -> None:
    response = answer("", finish_reason="tool_calls", tool_calls=[call()])
    assert structural_score(PLAIN, response) == 0.0


def test_a_required_tool_call_that_is_missing_scores_point_two() -> None:
    request = make_request("Weather?", tools=[WEATHER], tool_choice="required")
    assert structural_score(request, answer("It is sunny.")) == 0.2
    assert structural_score(request, answer("", tool_calls=[call()])) == 1.0


def test_a_named_tool_choice_needs_that_tool() -> None:
    other = make_tool("get_time")
    choice = {"type": "function", "function": {"name": "get_time"}}
    request = make_request("Time?", tools=[WEATHER, other], tool_choice=choice)
    assert structural_score(request, answer("", tool_calls=[call()])) == 0.2
    assert structural_score(request, answer("", tool_calls=[call("get_time", "{}")])) == 1.0


def test_auto_tool_choice_accepts_a_plain_answer() -> None:
    request = make_request("Weather?", tools=[WEATHER], tool_choice="auto")
    assert structural_score(request, answer("I need a city to look it up.")) == 1.0


def test_the_lowest_signal_wins() -> None:
    request = make_request("Weather?", tools=[WEATHER], tool_choice="required")
    refused_and_cut = answer("I'm sorry, but I can't", finish_reason="length")
    assert structural_score(request, refused_and_cut) == 0.1


def _ctx(request: Request) -> RequestContext:
    return RequestContext(
        request=request,
        strategy="cascade",
        stream=False,
        started_at=datetime.now(UTC),
        started_perf=time.perf_counter(),
    )


def _model_call(request: Request) -> ModelCall:
    # The judge never touches the backend.
    return ModelCall(
        card=make_card("acme/small"), request=request, backend=cast(Backend, None), timeout_s=10.0
    )


def test_the_hook_judges_the_request_the_model_saw() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(structural)
    json_request = make_request("Who?", response_format={"type": "json_object"})
    model_call = _model_call(json_request)
    score = pm.hook.modelmuxer_judge(ctx=_ctx(PLAIN), call=model_call, response=answer("Ada"))
    assert score == 0.0  # not JSON, which the model's request asked for


def test_a_plugin_judge_runs_before_the_structural_one() -> None:
    class Lenient:
        @hookspecs.hookimpl
        def modelmuxer_judge(
            self, ctx: RequestContext, call: ModelCall, response: ModelResponse
        ) -> float:
            return 0.9

    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(Lenient())
    pm.register(structural)  # registered last, but trylast keeps it behind
    model_call = _model_call(PLAIN)
    assert pm.hook.modelmuxer_judge(ctx=_ctx(PLAIN), call=model_call, response=answer("")) == 0.9
