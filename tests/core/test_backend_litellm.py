"""The litellm backend: arguments, response mapping, streaming, error mapping, key scrubbing.

Tests marked ``litellm`` import litellm (seconds) and call it with ``mock_response``: no network.
The others give the backend a fake litellm module.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import AsyncGenerator, AsyncIterator
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from modelmuxer.analysis.tokens import estimate_request_tokens, estimate_tokens
from modelmuxer.backends import Backend, LiteLLMBackend, ModelCall, StreamDelta
from modelmuxer.backends import litellm_backend as litellm_module
from modelmuxer.backends.litellm_backend import scrub_secrets
from modelmuxer.errors import ConfigError, ProviderError, ProviderTimeout, RateLimitedByProvider
from modelmuxer.types import (
    Deployment,
    FunctionSpec,
    GenerationParams,
    Message,
    ModelCard,
    Request,
    ToolSpec,
)

# litellm's own pydantic models warn about ReadOnly TypedDict items when first used.
pytestmark = pytest.mark.filterwarnings("ignore:Item .*ReadOnly:UserWarning")

MODEL = "openai/gpt-4o-mini"
KEY_ENV = "MODELMUXER_TEST_CANARY_KEY"
CANARY = "sk-canary-0123456789abcdef"

WEATHER = ToolSpec(
    function=FunctionSpec(
        name="get_weather",
        description="Weather for a city",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}},
    )
)


def make_card(*, api_key_env: str | None = None, **extra: Any) -> ModelCard:
    return ModelCard(
        id=MODEL,
        provider="openai",
        input_cost_per_token=1.5e-7,
        output_cost_per_token=6e-7,
        context_window=128_000,
        max_output_tokens=16_384,
        deployment=Deployment(api_key_env=api_key_env, extra=extra),
    )


def make_call(
    backend: LiteLLMBackend,
    card: ModelCard | None = None,
    *,
    timeout_s: float = 30.0,
    **params: Any,
) -> ModelCall:
    request = Request(
        messages=[
            Message(role="system", content="Be brief."),
            Message(role="user", content="What is the weather in Paris?"),
        ],
        params=GenerationParams(**params),
    )
    return ModelCall(
        card=card or make_card(), request=request, backend=backend, timeout_s=timeout_s
    )


async def collect(backend: LiteLLMBackend, call: ModelCall) -> list[StreamDelta]:
    return [delta async for delta in backend.stream(call)]


# -- without litellm ----------------------------------------------------------------------------


class FakeLiteLLM:
    """Stands in for the litellm module: records the call, returns a canned answer."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[dict[str, Any]] = []
        self.exceptions = SimpleNamespace()

    async def acompletion(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self.answer


def with_fake(answer: Any) -> tuple[LiteLLMBackend, FakeLiteLLM]:
    backend = LiteLLMBackend()
    fake = FakeLiteLLM(answer)
    backend._litellm = fake  # type: ignore[assignment]
    return backend, fake


def fake_response(
    content: str | None = "Sunny.",
    finish_reason: str | None = "stop",
    tool_calls: list[Any] | None = None,
    usage: Any = None,
) -> Any:
    message = SimpleNamespace(content=content, tool_calls=tool_calls)
    return SimpleNamespace(
        choices=[SimpleNamespace(message=message, finish_reason=finish_reason)], usage=usage
    )


def fake_tool_call(name: str = "get_weather", id_: str | None = "call_1") -> Any:
    return SimpleNamespace(
        id=id_, function=SimpleNamespace(name=name, arguments='{"city":"Paris"}')
    )


def test_the_backend_is_the_fallback() -> None:
    backend = LiteLLMBackend()
    assert isinstance(backend, Backend)
    assert backend.name == "litellm"
    assert not backend.claims("openai/gpt-4o-mini")
    assert not backend.claims("offline/openai/gpt-4o-mini")
    assert backend.price_alias("openai/gpt-4o-mini") == "openai/gpt-4o-mini"
    registered: list[Backend] = []
    litellm_module.modelmuxer_register_backends(register=registered.append)
    assert [type(b) for b in registered] == [LiteLLMBackend]


def test_importing_the_backend_does_not_import_litellm() -> None:
    code = (
        "import sys, modelmuxer, modelmuxer.backends.litellm_backend; "
        "assert 'litellm' not in sys.modules, 'litellm was imported'"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr


async def test_only_set_parameters_are_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, CANARY)
    card = ModelCard(
        id=MODEL,
        provider="openai",
        input_cost_per_token=1e-7,
        output_cost_per_token=1e-7,
        context_window=1000,
        max_output_tokens=100,
        deployment=Deployment(
            api_base="https://llm.example.com/v1",
            api_version="2024-06-01",
            api_key_env=KEY_ENV,
            extra={"offline": {"fail": "auth"}, "custom_llm_provider": "openai"},
        ),
    )
    backend, fake = with_fake(fake_response())
    fmt = {"type": "json_object"}
    call = make_call(
        backend,
        card,
        timeout_s=12.0,
        temperature=0.0,
        max_tokens=50,
        stop="END",
        seed=7,
        tools=[WEATHER],
        tool_choice="auto",
        response_format=fmt,
    )
    await backend.complete(call)
    [kwargs] = fake.calls
    assert kwargs == {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is the weather in Paris?"},
        ],
        "timeout": 12.0,
        "temperature": 0.0,
        "max_tokens": 50,
        "stop": ["END"],
        "seed": 7,
        "tool_choice": "auto",
        "response_format": fmt,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ],
        "api_base": "https://llm.example.com/v1",
        "api_version": "2024-06-01",
        "api_key": CANARY,
        "max_retries": 0,
        "custom_llm_provider": "openai",
    }


@pytest.mark.parametrize("with_tools", [True, False])
async def test_parallel_tool_calls_is_passed_only_with_tools(with_tools: bool) -> None:
    """``parallel_tool_calls`` goes to the provider with the tools it is about (OpenAI refuses
    it without tools)."""
    backend, fake = with_fake(fake_response())
    tools = {"tools": [WEATHER]} if with_tools else {}
    call = make_call(backend, parallel_tool_calls=False, **tools)
    await backend.complete(call)
    [kwargs] = fake.calls
    assert ("parallel_tool_calls" in kwargs) is with_tools
    if with_tools:
        assert kwargs["parallel_tool_calls"] is False


async def test_a_named_but_unset_key_variable_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    backend, fake = with_fake(fake_response())
    with pytest.raises(ConfigError, match=KEY_ENV):
        await backend.complete(make_call(backend, make_card(api_key_env=KEY_ENV)))
    assert fake.calls == []


@pytest.mark.parametrize("key", ["api_key", "model", "messages", "stream"])
async def test_extra_may_not_override_what_the_backend_sets(key: str) -> None:
    backend, fake = with_fake(fake_response())
    with pytest.raises(ConfigError, match=key):
        await backend.complete(make_call(backend, make_card(**{key: "x"})))
    assert fake.calls == []


@pytest.mark.parametrize(
    ("reported", "tool_calls", "expected"),
    [
        ("stop", None, "stop"),
        ("end_turn", None, "stop"),
        ("max_tokens", None, "length"),
        ("length", None, "length"),
        ("content_filter", None, "content_filter"),
        ("something_new", None, "stop"),
        (None, None, "stop"),
        (None, [fake_tool_call()], "tool_calls"),
        ("stop", [fake_tool_call()], "tool_calls"),
        ("function_call", [fake_tool_call()], "tool_calls"),
    ],
)
async def test_finish_reasons_are_normalised(
    reported: str | None, tool_calls: list[Any] | None, expected: str
) -> None:
    backend, _ = with_fake(fake_response(finish_reason=reported, tool_calls=tool_calls))
    response = await backend.complete(make_call(backend))
    assert response.finish_reason == expected


async def test_missing_usage_is_estimated() -> None:
    backend, _ = with_fake(fake_response(content="It is sunny in Paris today."))
    call = make_call(backend)
    response = await backend.complete(call)
    assert response.usage.prompt_tokens == estimate_request_tokens(call.request)
    assert response.usage.completion_tokens == estimate_tokens("It is sunny in Paris today.")


async def test_a_tool_call_without_id_gets_one_and_without_name_is_an_error() -> None:
    backend, _ = with_fake(fake_response(content=None, tool_calls=[fake_tool_call(id_=None)]))
    response = await backend.complete(make_call(backend))
    assert response.tool_calls[0].id == "call_0"
    assert response.text == ""
    backend, _ = with_fake(fake_response(content=None, tool_calls=[fake_tool_call(name="")]))
    with pytest.raises(ProviderError, match="without a name"):
        await backend.complete(make_call(backend))


def text_chunk(content: str | None, finish: str | None = None) -> Any:
    delta = SimpleNamespace(content=content, tool_calls=None)
    return SimpleNamespace(choices=[SimpleNamespace(delta=delta, finish_reason=finish)], usage=None)


class FakeStream:
    """A provider stream that remembers whether it was closed."""

    def __init__(self, *items: Any) -> None:
        self.items = list(items)
        self.closed = False

    def __aiter__(self) -> FakeStream:
        return self

    async def __anext__(self) -> Any:
        if not self.items:
            raise StopAsyncIteration
        return self.items.pop(0)

    async def aclose(self) -> None:
        self.closed = True


async def test_stopping_a_stream_early_closes_the_provider_stream() -> None:
    stream = FakeStream(text_chunk("It "), text_chunk("is "), text_chunk("sunny.", "stop"))
    backend, _ = with_fake(stream)
    deltas = backend.stream(make_call(backend))
    assert isinstance(deltas, AsyncGenerator)
    first = await anext(deltas)
    assert first.text == "It "
    assert not stream.closed
    await deltas.aclose()
    assert stream.closed


async def test_stream_without_usage_estimates_it() -> None:
    chunk = text_chunk

    async def chunks() -> AsyncIterator[Any]:
        for item in (chunk("It is "), chunk("sunny."), chunk(None, "stop")):
            yield item

    backend, fake = with_fake(chunks())
    call = make_call(backend)
    *content, last = await collect(backend, call)
    assert [d.text for d in content] == ["It is ", "sunny."]
    assert last.finish_reason == "stop"
    assert last.usage is not None
    assert last.usage.completion_tokens == estimate_tokens("It is sunny.")
    assert last.usage.prompt_tokens == estimate_request_tokens(call.request)
    assert fake.calls[0]["stream"] is True
    assert fake.calls[0]["stream_options"] == {"include_usage": True}


# -- key scrubbing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"Incorrect API key provided: {CANARY}.",
        "Anthropic said: invalid x-api-key sk-ant-api03-AbCdEf123456_xyz",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc123",
        "GET https://example.com/v1?key=AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW failed",
        "token: 9f8e7d6c5b4a39281706f5e4d3c2b1a0ffeeddcc",
        "aws AKIAIOSFODNN7EXAMPLE denied",
    ],
)
def test_scrub_hides_key_like_strings(text: str) -> None:
    scrubbed = scrub_secrets(text)
    assert "[REDACTED]" in scrubbed
    for secret in (
        CANARY,
        "sk-ant-api03",
        "eyJhbGciOiJIUzI1NiJ9",
        "AIzaSyA1b2C3",
        "9f8e7d6c5b4a",
        "AKIAIOSFODNN7",
    ):
        assert secret not in scrubbed


def test_scrub_hides_the_given_secret_and_keeps_ordinary_text() -> None:
    assert scrub_secrets("bad key hunter2!", ("hunter2",)) == "bad key [REDACTED]!"
    ordinary = "model openai/gpt-4o-mini not found (HTTP 404): try gpt-4o-2024-08-06"
    assert scrub_secrets(ordinary) == ordinary


# -- with litellm -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def litellm() -> ModuleType:
    # As the backend does: never fetch the price map from the network.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    return importlib.import_module("litellm")


@pytest.mark.litellm
async def test_text_answer(litellm: ModuleType) -> None:
    backend = LiteLLMBackend()
    response = await backend.complete(make_call(backend, make_card(mock_response="Sunny, 21°C.")))
    assert response.text == "Sunny, 21°C."
    assert response.finish_reason == "stop"
    assert response.tool_calls == []
    assert response.usage.prompt_tokens > 0
    assert response.usage.completion_tokens > 0
    assert isinstance(response.raw, litellm.ModelResponse)


@pytest.mark.litellm
async def test_tool_call_answer(litellm: ModuleType) -> None:
    backend = LiteLLMBackend()
    mock_calls = [
        {
            "id": "call_abc",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
    ]
    card = make_card(mock_response="", mock_tool_calls=mock_calls)
    response = await backend.complete(make_call(backend, card, tools=[WEATHER]))
    assert response.finish_reason == "tool_calls"
    [tool_call] = response.tool_calls
    assert tool_call.id == "call_abc"
    assert tool_call.function.name == "get_weather"
    assert tool_call.function.parsed_arguments() == {"city": "Paris"}


def tool_call_response(litellm: ModuleType) -> Any:
    return litellm.ModelResponse(
        choices=[
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_xyz",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                        }
                    ],
                },
            }
        ],
        usage={
            "prompt_tokens": 40,
            "completion_tokens": 9,
            "total_tokens": 49,
            "prompt_tokens_details": {"cached_tokens": 32},
        },
    )


@pytest.mark.litellm
async def test_usage_includes_cached_tokens(litellm: ModuleType) -> None:
    backend = LiteLLMBackend()
    card = make_card(mock_response=tool_call_response(litellm))
    response = await backend.complete(make_call(backend, card))
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (40, 9)
    assert response.usage.cached_tokens == 32
    assert response.tool_calls[0].function.name == "get_weather"


@pytest.mark.litellm
async def test_stream_text(litellm: ModuleType) -> None:
    backend = LiteLLMBackend()
    text = "It is sunny in Paris with a light breeze."
    *content, last = await collect(backend, make_call(backend, make_card(mock_response=text)))
    assert len(content) > 1
    assert "".join(d.text for d in content) == text
    assert last.finish_reason == "stop"
    assert last.usage is not None
    assert last.usage.completion_tokens > 0


@pytest.mark.litellm
async def test_stream_tool_call(litellm: ModuleType) -> None:
    backend = LiteLLMBackend()
    card = make_card(mock_response=tool_call_response(litellm))
    *content, last = await collect(backend, make_call(backend, card))
    pieces = [p for d in content for p in d.tool_calls]
    assert pieces[0].id == "call_xyz"
    assert pieces[0].name == "get_weather"
    assert "".join(p.arguments for p in pieces) == '{"city": "Oslo"}'
    assert last.finish_reason == "tool_calls"
    assert last.usage is not None
    assert last.usage.cached_tokens == 32


def litellm_error(litellm: ModuleType, name: str, message: str = "boom") -> Exception:
    error_class = getattr(litellm.exceptions, name)
    error: Exception = error_class(message=message, llm_provider="openai", model="gpt-4o-mini")
    return error


ERRORS: list[tuple[str, type[ProviderError], int | None, bool]] = [
    ("RateLimitError", RateLimitedByProvider, 429, True),
    ("AuthenticationError", ProviderError, 401, False),
    ("NotFoundError", ProviderError, 404, False),
    ("BadRequestError", ProviderError, 400, False),
    ("ContextWindowExceededError", ProviderError, 400, False),
    ("ServiceUnavailableError", ProviderError, 503, True),
    ("InternalServerError", ProviderError, 500, True),
    ("APIConnectionError", ProviderError, None, True),
]


@pytest.mark.litellm
@pytest.mark.parametrize(("name", "error", "status", "retryable"), ERRORS)
async def test_litellm_errors_become_typed_errors(
    litellm: ModuleType, name: str, error: type[ProviderError], status: int | None, retryable: bool
) -> None:
    backend = LiteLLMBackend()
    call = make_call(backend, make_card(mock_response=litellm_error(litellm, name)))
    with pytest.raises(error) as info:
        await backend.complete(call)
    assert type(info.value) is error
    assert info.value.status_code == status
    assert info.value.retryable is retryable
    assert info.value.model == MODEL
    assert name in str(info.value)
    with pytest.raises(error):
        await collect(backend, call)


@pytest.mark.litellm
async def test_rate_limit_reads_retry_after(litellm: ModuleType) -> None:
    backend = LiteLLMBackend()
    exc = litellm.RateLimitError(
        message="slow down",
        llm_provider="openai",
        model="gpt-4o-mini",
        headers={"retry-after": "7"},
    )
    with pytest.raises(RateLimitedByProvider) as info:
        await backend.complete(make_call(backend, make_card(mock_response=exc)))
    assert info.value.retry_after_s == 7.0


@pytest.mark.litellm
async def test_timeout_becomes_provider_timeout(litellm: ModuleType) -> None:
    backend = LiteLLMBackend()
    call = make_call(backend, make_card(mock_timeout=True), timeout_s=0.01)
    with pytest.raises(ProviderTimeout) as info:
        await backend.complete(call)
    assert info.value.timeout_s == 0.01
    assert info.value.retryable


@pytest.mark.litellm
async def test_mid_stream_failure_is_retryable(litellm: ModuleType) -> None:
    backend = LiteLLMBackend()
    card = make_card(mock_response="Exception: mock_streaming_error")
    with pytest.raises(ProviderError) as info:
        await collect(backend, make_call(backend, card))
    assert info.value.retryable


@pytest.mark.litellm
@pytest.mark.parametrize("key", [CANARY, "correct-horse-battery-staple"])
@pytest.mark.parametrize("streamed", [False, True])
async def test_errors_never_carry_the_key(
    litellm: ModuleType, monkeypatch: pytest.MonkeyPatch, key: str, streamed: bool
) -> None:
    monkeypatch.setenv(KEY_ENV, key)
    backend = LiteLLMBackend()
    exc = litellm_error(litellm, "AuthenticationError", f"Incorrect API key provided: {key}")
    call = make_call(backend, make_card(api_key_env=KEY_ENV, mock_response=exc))
    with pytest.raises(ProviderError) as info:
        await (collect(backend, call) if streamed else backend.complete(call))
    error = info.value
    assert error.status_code == 401
    assert key not in str(error)
    assert key not in repr(error)
    assert key not in str(error.args)
    # The original exception (which holds the key) is not chained, so tracebacks cannot show it.
    assert error.__cause__ is None
    assert error.__context__ is None
