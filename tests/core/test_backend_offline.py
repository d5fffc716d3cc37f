"""The offline backend: deterministic answers, tools, JSON, limits, streaming and failure knobs."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from modelmuxer.analysis.tokens import estimate_request_tokens, estimate_tokens
from modelmuxer.backends import (
    Backend,
    ModelCall,
    ModelResponse,
    OfflineBackend,
    OfflineBehavior,
    StreamDelta,
)
from modelmuxer.backends import offline as offline_module
from modelmuxer.errors import ConfigError, ProviderError, ProviderTimeout, RateLimitedByProvider
from modelmuxer.types import (
    Capabilities,
    Deployment,
    FunctionSpec,
    GenerationParams,
    Message,
    ModelCard,
    Request,
    ToolCall,
    ToolSpec,
)

MODEL = "offline/openai/gpt-4o-mini"
QUESTION = "What is the capital of France, and why did Paris become the capital?"


def make_card(model: str = MODEL, **offline: Any) -> ModelCard:
    extra = {"offline": offline} if offline else {}
    return ModelCard(
        id=model,
        provider="openai",
        input_cost_per_token=1.5e-7,
        output_cost_per_token=6e-7,
        context_window=128_000,
        max_output_tokens=16_384,
        capabilities=Capabilities(tools=True, json_mode=True),
        deployment=Deployment(extra=extra),
    )


def make_call(
    backend: OfflineBackend,
    content: str | list[Message] = QUESTION,
    *,
    card: ModelCard | None = None,
    attempt: int = 0,
    metadata: dict[str, Any] | None = None,
    **params: Any,
) -> ModelCall:
    messages = [Message(role="user", content=content)] if isinstance(content, str) else content
    request = Request(messages=messages, params=GenerationParams(**params), metadata=metadata or {})
    return ModelCall(
        card=card or make_card(), request=request, backend=backend, timeout_s=30.0, attempt=attempt
    )


async def collect(backend: OfflineBackend, call: ModelCall) -> list[StreamDelta]:
    return [delta async for delta in backend.stream(call)]


async def drain(backend: OfflineBackend, call: ModelCall, *, into: list[StreamDelta]) -> None:
    """Stream ``call`` into ``into``, so the deltas received before a failure can be checked."""
    async for delta in backend.stream(call):
        into.append(delta)


def tool(name: str, description: str, parameters: dict[str, Any]) -> ToolSpec:
    return ToolSpec(
        function=FunctionSpec(name=name, description=description, parameters=parameters)
    )


WEATHER = tool(
    "get_weather",
    "Get the current weather forecast for a city",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer", "minimum": 1, "maximum": 14},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "hourly": {"type": "boolean"},
        },
        "required": ["city", "days"],
        "additionalProperties": False,
    },
)
SEARCH = tool(
    "search_web",
    "Search the web for pages",
    {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
)
SEND_EMAIL = tool(
    "sendEmail",
    "Send an email message to someone",
    {
        "type": "object",
        "properties": {
            "to": {"type": "string", "format": "email"},
            "subject": {"type": "string", "minLength": 5, "maxLength": 40},
            "cc": {"type": "array", "items": {"type": "string", "format": "email"}, "minItems": 2},
        },
        "required": ["to", "subject"],
    },
)


class Address(BaseModel):
    street: str
    postcode: str | None = None


class Person(BaseModel):
    name: str
    age: int
    height_m: float
    addresses: list[Address]
    manager: Person | None = None


SCHEMAS: dict[str, dict[str, Any]] = {
    "flat": WEATHER.function.parameters,
    "nested": {
        "type": "object",
        "properties": {
            "order": {
                "type": "object",
                "properties": {
                    "items": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "sku": {"type": "string", "pattern": "^[A-Za-z]+$"},
                                "quantity": {"type": "integer", "exclusiveMinimum": 0},
                                "price": {"type": "number", "minimum": 0.5, "multipleOf": 0.25},
                            },
                            "required": ["sku", "quantity", "price"],
                        },
                        "minItems": 1,
                    },
                    "express": {"type": "boolean"},
                    "placed": {"type": "string", "format": "date-time"},
                },
                "required": ["items", "express", "placed"],
            },
            "note": {"type": ["string", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
            "kind": {"const": "purchase"},
        },
        "required": ["order", "kind"],
    },
    "combinators": {
        "type": "object",
        "properties": {
            "id": {"anyOf": [{"type": "null"}, {"type": "integer", "maximum": -5}]},
            "mode": {"oneOf": [{"type": "string", "enum": ["fast", "slow"]}, {"type": "number"}]},
            "both": {
                "allOf": [
                    {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                    {"properties": {"b": {"type": "integer"}}, "required": ["b"]},
                ]
            },
            "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "boolean"}]},
        },
        "required": ["id", "mode", "both", "pair"],
    },
    "pydantic_refs": Person.model_json_schema(),
    "tree": {
        "$ref": "#/$defs/Node",
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "label": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                    "parent": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]},
                },
                "required": ["label", "children", "parent"],
            }
        },
    },
}


# -- identity and determinism -------------------------------------------------------------------


def test_claims_offline_ids_and_prices_them_as_the_real_model() -> None:
    backend = OfflineBackend()
    assert isinstance(backend, Backend)
    assert backend.name == "offline"
    assert backend.claims("offline/openai/gpt-4o-mini")
    assert not backend.claims("openai/gpt-4o-mini")
    assert backend.price_alias("offline/openai/gpt-4o-mini") == "openai/gpt-4o-mini"
    assert backend.price_alias("anthropic/claude-haiku-4-5") == "anthropic/claude-haiku-4-5"


def test_registers_through_the_backend_hook() -> None:
    registered: list[Backend] = []
    offline_module.modelmuxer_register_backends(register=registered.append)
    assert len(registered) == 1
    assert isinstance(registered[0], OfflineBackend)


async def test_same_model_and_content_give_the_same_answer_whatever_the_request_id() -> None:
    first = await OfflineBackend().complete(make_call(OfflineBackend()))
    second = await OfflineBackend().complete(make_call(OfflineBackend()))
    assert first.text == second.text
    assert first.usage == second.usage
    assert first.finish_reason == "stop"


async def test_the_answer_depends_on_the_prompt_and_the_model() -> None:
    backend = OfflineBackend()
    base = await backend.complete(make_call(backend))
    other_prompt = await backend.complete(make_call(backend, "How do volcanoes form underwater?"))
    other_model = await backend.complete(
        make_call(backend, card=make_card("offline/anthropic/claude-haiku-4-5"))
    )
    assert "France" in base.text or "Paris" in base.text
    assert "volcanoes" in other_prompt.text
    assert len({base.text, other_prompt.text, other_model.text}) == 3


async def test_usage_is_estimated_from_prompt_and_answer() -> None:
    backend = OfflineBackend()
    call = make_call(backend)
    response = await backend.complete(call)
    assert response.usage.prompt_tokens == estimate_request_tokens(call.request)
    assert response.usage.completion_tokens == estimate_tokens(response.text)
    assert response.usage.completion_tokens > 5


async def test_small_talk_gets_a_greeting() -> None:
    backend = OfflineBackend()
    response = await backend.complete(make_call(backend, "hi!"))
    assert response.text == "Hello! How can I help you today?"


# -- limits -------------------------------------------------------------------------------------


async def test_max_tokens_truncates_and_reports_length() -> None:
    backend = OfflineBackend()
    full = await backend.complete(make_call(backend))
    assert full.usage.completion_tokens > 8
    cut = await backend.complete(make_call(backend, max_tokens=8))
    assert cut.finish_reason == "length"
    assert cut.usage.completion_tokens == 8
    assert 0 < estimate_tokens(cut.text) <= 8
    assert full.text.startswith(cut.text)
    assert len(cut.text) < len(full.text)


async def test_max_tokens_above_the_answer_changes_nothing() -> None:
    backend = OfflineBackend()
    full = await backend.complete(make_call(backend))
    roomy = await backend.complete(make_call(backend, max_tokens=1000))
    assert roomy.text == full.text
    assert roomy.finish_reason == "stop"


async def test_stop_sequence_ends_the_answer_before_it() -> None:
    backend = OfflineBackend()
    full = await backend.complete(make_call(backend))
    words = full.text.split()
    stop_word = words[len(words) // 2]
    stopped = await backend.complete(make_call(backend, stop=["#never#", stop_word]))
    assert stopped.text == full.text[: full.text.index(stop_word)]
    assert stopped.finish_reason == "stop"
    assert stopped.usage.completion_tokens == estimate_tokens(stopped.text)


# -- tools --------------------------------------------------------------------------------------


async def test_tool_call_picks_the_matching_tool_with_valid_arguments() -> None:
    backend = OfflineBackend()
    call = make_call(
        backend, "What will the weather be in Paris for the next 3 days?", tools=[SEARCH, WEATHER]
    )
    response = await backend.complete(call)
    assert response.finish_reason == "tool_calls"
    assert response.text == ""
    [tool_call] = response.tool_calls
    assert tool_call.function.name == "get_weather"
    assert tool_call.id.startswith("call_")
    arguments = tool_call.function.parsed_arguments()
    jsonschema.validate(arguments, WEATHER.function.parameters)
    assert arguments["city"] == "Paris"
    assert arguments["days"] == 3
    assert arguments["unit"] == "celsius"
    assert arguments["hourly"] is True
    again = await backend.complete(call)
    assert again.tool_calls == response.tool_calls


async def test_tool_call_matches_words_of_the_description_and_camel_case_names() -> None:
    backend = OfflineBackend()
    email = await backend.complete(
        make_call(
            backend, "Please email Bob about the quarterly report", tools=[SEARCH, SEND_EMAIL]
        )
    )
    assert email.tool_calls[0].function.name == "sendEmail"
    jsonschema.validate(
        email.tool_calls[0].function.parsed_arguments(),
        SEND_EMAIL.function.parameters,
        format_checker=jsonschema.FormatChecker(),
    )
    search = await backend.complete(
        make_call(backend, "Search for cheap flights to Tokyo", tools=[WEATHER, SEARCH])
    )
    arguments = search.tool_calls[0].function.parsed_arguments()
    assert search.tool_calls[0].function.name == "search_web"
    assert arguments == {"query": "Search for cheap flights to Tokyo"}


async def test_without_any_overlap_the_first_tool_is_called() -> None:
    backend = OfflineBackend()
    response = await backend.complete(make_call(backend, "Zebra quantum?", tools=[SEARCH, WEATHER]))
    assert response.tool_calls[0].function.name == "search_web"


@pytest.mark.parametrize("name", sorted(SCHEMAS))
async def test_tool_arguments_are_valid_for_the_schema(name: str) -> None:
    schema = SCHEMAS[name]
    backend = OfflineBackend()
    call = make_call(
        backend,
        "Order 4 boxes of Darjeeling tea at 12.5 each for Alice, shipped to Baker Street",
        tools=[tool("do_it", "Does it", schema)],
        tool_choice="required",
    )
    response = await backend.complete(call)
    arguments = response.tool_calls[0].function.parsed_arguments()
    jsonschema.validate(arguments, schema, format_checker=jsonschema.FormatChecker())
    assert set(arguments) >= set(schema.get("required", []))


async def test_tool_choice_names_the_tool() -> None:
    backend = OfflineBackend()
    choice = {"type": "function", "function": {"name": "search_web"}}
    response = await backend.complete(
        make_call(backend, "Weather in Paris?", tools=[WEATHER, SEARCH], tool_choice=choice)
    )
    assert response.tool_calls[0].function.name == "search_web"


async def test_tool_choice_naming_an_unknown_tool_is_a_bad_request() -> None:
    backend = OfflineBackend()
    choice = {"type": "function", "function": {"name": "nope"}}
    with pytest.raises(ProviderError) as info:
        await backend.complete(make_call(backend, tools=[WEATHER], tool_choice=choice))
    assert info.value.status_code == 400
    assert not info.value.retryable


async def test_tool_choice_none_answers_in_text() -> None:
    backend = OfflineBackend()
    response = await backend.complete(make_call(backend, tools=[WEATHER], tool_choice="none"))
    assert response.tool_calls == []
    assert response.finish_reason == "stop"
    assert response.text


async def test_after_a_tool_result_the_answer_uses_it() -> None:
    backend = OfflineBackend()
    first = await backend.complete(make_call(backend, "Weather in Paris?", tools=[WEATHER]))
    messages = [
        Message(role="user", content="Weather in Paris?"),
        Message(role="assistant", tool_calls=first.tool_calls),
        Message(role="tool", tool_call_id=first.tool_calls[0].id, content="18°C and sunny"),
    ]
    response = await backend.complete(make_call(backend, messages, tools=[WEATHER]))
    assert response.tool_calls == []
    assert response.finish_reason == "stop"
    assert response.text == "The result is: 18°C and sunny"


# -- JSON ---------------------------------------------------------------------------------------


async def test_json_object_answer_is_a_json_object() -> None:
    backend = OfflineBackend()
    response = await backend.complete(make_call(backend, response_format={"type": "json_object"}))
    value = json.loads(response.text)
    assert isinstance(value, dict)
    assert value["answer"]


@pytest.mark.parametrize("name", sorted(SCHEMAS))
async def test_json_schema_answer_is_valid_for_the_schema(name: str) -> None:
    schema = SCHEMAS[name]
    backend = OfflineBackend()
    fmt = {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
    response = await backend.complete(make_call(backend, response_format=fmt))
    jsonschema.validate(
        json.loads(response.text), schema, format_checker=jsonschema.FormatChecker()
    )
    assert response.usage.completion_tokens == estimate_tokens(response.text)


# -- streaming ----------------------------------------------------------------------------------


def joined(deltas: list[StreamDelta]) -> tuple[str, list[ToolCall]]:
    text = "".join(d.text for d in deltas)
    calls: dict[int, dict[str, str]] = {}
    for delta in deltas:
        for piece in delta.tool_calls:
            entry = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += piece.id or ""
            entry["name"] += piece.name or ""
            entry["arguments"] += piece.arguments
    tool_calls = [
        ToolCall.model_validate(
            {"id": c["id"], "function": {"name": c["name"], "arguments": c["arguments"]}}
        )
        for _, c in sorted(calls.items())
    ]
    return text, tool_calls


STREAM_CASES: dict[str, dict[str, Any]] = {
    "text": {},
    "truncated": {"max_tokens": 6},
    "tool": {"tools": [WEATHER]},
    "json": {"response_format": {"type": "json_object"}},
}


@pytest.mark.parametrize("case", sorted(STREAM_CASES))
async def test_stream_joins_to_the_complete_answer(case: str) -> None:
    backend = OfflineBackend()
    call = make_call(backend, "What is the weather in Oslo today?", **STREAM_CASES[case])
    response = await backend.complete(call)
    deltas = await collect(backend, call)
    *content, last = deltas
    assert len(content) >= 2
    assert all(d.usage is None and d.finish_reason is None for d in content)
    assert last.usage == response.usage
    assert last.finish_reason == response.finish_reason
    assert (last.text, last.tool_calls) == ("", ())
    assert joined(content) == (response.text, response.tool_calls)


@settings(max_examples=60, deadline=None)
@given(
    prompt=st.text(min_size=1, max_size=300),
    max_tokens=st.none() | st.integers(min_value=1, max_value=40),
    stop=st.none() | st.lists(st.text(min_size=1, max_size=3), max_size=2),
)
def test_any_prompt_streams_exactly_as_it_completes(
    prompt: str, max_tokens: int | None, stop: list[str] | None
) -> None:
    async def both() -> tuple[ModelResponse, list[StreamDelta], ModelResponse]:
        backend = OfflineBackend()
        call = make_call(backend, prompt, max_tokens=max_tokens, stop=stop)
        return (
            await backend.complete(call),
            await collect(backend, call),
            await backend.complete(call),
        )

    response, deltas, again = asyncio.run(both())
    assert again == response
    assert "".join(d.text for d in deltas) == response.text
    assert deltas[-1].usage == response.usage
    if max_tokens is not None:
        assert response.usage.completion_tokens <= max_tokens
    for sequence in stop or ():
        assert sequence not in response.text


async def test_streamed_tool_call_starts_with_id_and_name() -> None:
    backend = OfflineBackend()
    deltas = await collect(backend, make_call(backend, "Weather in Oslo?", tools=[WEATHER]))
    pieces = [p for d in deltas for p in d.tool_calls]
    assert pieces[0].id is not None
    assert pieces[0].name == "get_weather"
    assert pieces[0].arguments == ""
    assert all(p.id is None and p.name is None and p.arguments for p in pieces[1:])
    assert len(pieces) > 2


# -- behaviour knobs ----------------------------------------------------------------------------

FAILURES: list[tuple[str, type[ProviderError], int | None, bool]] = [
    ("timeout", ProviderTimeout, None, True),
    ("rate_limit", RateLimitedByProvider, 429, True),
    ("server_error", ProviderError, 503, True),
    ("bad_request", ProviderError, 400, False),
    ("auth", ProviderError, 401, False),
]


@pytest.mark.parametrize(("fail", "error", "status", "retryable"), FAILURES)
async def test_each_failure_raises_its_typed_error(
    fail: str, error: type[ProviderError], status: int | None, retryable: bool
) -> None:
    backend = OfflineBackend()
    call = make_call(backend, card=make_card(fail=fail))
    with pytest.raises(error) as info:
        await backend.complete(call)
    assert type(info.value) is error
    assert info.value.status_code == status
    assert info.value.retryable is retryable
    assert info.value.model == MODEL
    with pytest.raises(error):
        await collect(backend, call)


async def test_rate_limit_carries_retry_after() -> None:
    backend = OfflineBackend()
    with pytest.raises(RateLimitedByProvider) as info:
        await backend.complete(
            make_call(backend, card=make_card(fail="rate_limit", retry_after_s=2.5))
        )
    assert info.value.retry_after_s == 2.5


async def test_timeout_reports_the_call_timeout_and_does_not_sleep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    backend = OfflineBackend()
    with pytest.raises(ProviderTimeout) as info:
        await backend.complete(make_call(backend, card=make_card(fail="timeout", latency_s=5.0)))
    assert info.value.timeout_s == 30.0
    assert slept == []


async def test_fail_rate_is_reproducible_per_attempt() -> None:
    card = make_card(fail="server_error", fail_rate=0.5)

    async def outcomes(backend: OfflineBackend) -> list[bool]:
        results = []
        for attempt in range(40):
            try:
                await backend.complete(make_call(backend, card=card, attempt=attempt))
            except ProviderError:
                results.append(False)
            else:
                results.append(True)
        return results

    first = await outcomes(OfflineBackend())
    assert first == await outcomes(OfflineBackend())
    assert 8 <= first.count(False) <= 32


async def test_fail_rate_zero_never_fails() -> None:
    backend = OfflineBackend()
    card = make_card(fail="auth", fail_rate=0.0)
    for attempt in range(5):
        response = await backend.complete(make_call(backend, card=card, attempt=attempt))
        assert response.text


async def test_fail_after_chunks_fails_mid_stream() -> None:
    backend = OfflineBackend()
    call = make_call(backend, card=make_card(fail_after_chunks=2))
    received: list[StreamDelta] = []
    with pytest.raises(ProviderError) as info:
        await drain(backend, call, into=received)
    assert len(received) == 2
    assert info.value.status_code == 503
    assert info.value.retryable
    response = await backend.complete(call)  # a non-streamed call is unaffected
    assert response.text.startswith("".join(d.text for d in received))


async def test_fail_after_chunks_raises_the_configured_failure() -> None:
    backend = OfflineBackend()
    call = make_call(backend, card=make_card(fail="rate_limit", fail_after_chunks=1))
    received: list[StreamDelta] = []
    with pytest.raises(RateLimitedByProvider):
        await drain(backend, call, into=received)
    assert len(received) == 1


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"latency_s": -1}, "latency_s"),
        ({"fail": "explode"}, "fail"),
        ({"fail_rate": 1.5}, "fail_rate"),
        ({"fail_after_chunks": "many"}, "fail_after_chunks"),
        ({"bogus": 1}, "bogus"),
    ],
)
async def test_invalid_settings_are_config_errors_naming_the_field(
    settings: dict[str, Any], field: str
) -> None:
    backend = OfflineBackend()
    with pytest.raises(ConfigError, match=field):
        await backend.complete(make_call(backend, card=make_card(**settings)))
    with pytest.raises(ConfigError, match=field):
        await backend.complete(make_call(backend, metadata={"offline": settings}))


async def test_settings_that_are_not_a_mapping_are_config_errors() -> None:
    backend = OfflineBackend()
    card = make_card().model_copy(update={"deployment": Deployment(extra={"offline": "fast"})})
    with pytest.raises(ConfigError, match="mapping"):
        await backend.complete(make_call(backend, card=card))
    with pytest.raises(ConfigError, match="mapping"):
        await backend.complete(make_call(backend, metadata={"offline": ["fail"]}))


async def test_request_metadata_overrides_card_settings() -> None:
    backend = OfflineBackend()
    card = make_card(fail="server_error", reply="fixed")
    response = await backend.complete(
        make_call(backend, card=card, metadata={"offline": {"fail": None}})
    )
    assert response.text == "fixed"
    with pytest.raises(ProviderError):
        await backend.complete(make_call(backend, card=card))


def test_without_settings_the_behaviour_is_the_default() -> None:
    backend = OfflineBackend()
    assert backend.behavior(make_call(backend)) == OfflineBehavior()
    assert OfflineBehavior().fail is None


async def test_card_settings_are_parsed_once_per_card() -> None:
    backend = OfflineBackend()
    card = make_card(latency_s=0.0, reply="a")
    first = backend.behavior(make_call(backend, card=card))
    assert backend.behavior(make_call(backend, "other", card=card)) is first
    changed = backend.behavior(make_call(backend, card=make_card(reply="b")))
    assert changed.reply == "b"


@pytest.mark.parametrize(
    ("settings", "text"),
    [
        ({"refuse": True}, "I'm sorry, but I can't help with that."),
        ({"empty": True}, ""),
        ({"reply": "Forty-two."}, "Forty-two."),
    ],
)
async def test_refuse_empty_and_reply_replace_the_answer(
    settings: dict[str, Any], text: str
) -> None:
    backend = OfflineBackend()
    response = await backend.complete(
        make_call(backend, card=make_card(**settings), tools=[WEATHER])
    )
    assert response.text == text
    assert response.tool_calls == []
    assert response.finish_reason == "stop"
    assert response.usage.completion_tokens == estimate_tokens(text)


async def test_latency_and_pacing_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    backend = OfflineBackend()
    await backend.complete(make_call(backend))
    assert slept == []
    await backend.complete(make_call(backend, card=make_card(latency_s=0.25)))
    assert slept == [0.25]
    slept.clear()
    deltas = await collect(backend, make_call(backend, card=make_card(tokens_per_s=100.0)))
    *content, _ = deltas
    assert slept == pytest.approx([estimate_tokens(d.text) / 100.0 for d in content])


async def test_complete_returns_a_model_response() -> None:
    backend = OfflineBackend()
    response = await backend.complete(make_call(backend))
    assert isinstance(response, ModelResponse)
    assert response.raw is None


def test_json_object_mode_uses_the_keys_the_prompt_names() -> None:
    import json as _json

    from modelmuxer import Muxer

    with Muxer(["offline/openai/gpt-4o-mini"], load_entrypoints=False) as muxer:
        completion = muxer.complete(
            "Tell me a joke about cats. Return a JSON object with 'setup' and 'punchline' keys.",
            response_format={"type": "json_object"},
        )
    value = _json.loads(completion.text)
    assert set(value) == {"setup", "punchline"}
    assert all(isinstance(v, str) and v for v in value.values())


def test_quoted_non_ascii_names_become_tool_arguments() -> None:
    import json as _json

    from modelmuxer import Muxer

    tool = {
        "type": "function",
        "function": {
            "name": "lookup_company",
            "description": "Look up a company by name",
            "parameters": {
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"],
            },
        },
    }
    with Muxer(["offline/openai/gpt-4o-mini"], load_entrypoints=False) as muxer:
        completion = muxer.complete("Look up the company '你好啊集团' please.", tools=[tool])
    assert completion.tool_calls
    args = _json.loads(completion.tool_calls[0].function.arguments)
    assert args["name"] == "你好啊集团"
