"""How a wrapped LangChain chat model is called: what its own ``ainvoke`` would do for it (cache,
rate limiter, streaming, callbacks, generation metadata), with or without a LangChain run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from langchain_core.caches import InMemoryCache
from langchain_core.callbacks import BaseCallbackHandler, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.rate_limiters import BaseRateLimiter
from pydantic import Field

from langchain_modelmuxer import ChatModelMuxer, wrap

MakeChat = Any  # the make_chat fixture (tests/langchain/conftest.py)


class Recording(BaseChatModel):
    """Answers "an answer" with generation info and llm output, recording each call."""

    calls: list[dict[str, Any]] = Field(default_factory=list)
    streaming: bool = False
    finish_in_llm_output: bool = False

    @property
    def _llm_type(self) -> str:
        return "recording"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls.append({"how": "generate", "stop": stop, "run_manager": run_manager, **kwargs})
        info: dict[str, Any] = {"lc_gateway_metadata": {"provider": "x"}}
        output: dict[str, Any] = {"model_name": "recording-1"}
        if self.finish_in_llm_output:
            output["stop_reason"] = "max_tokens"
        else:
            info["finish_reason"] = "length"
        generation = ChatGeneration(message=AIMessage(content="an answer"), generation_info=info)
        return ChatResult(generations=[generation], llm_output=output)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        self.calls.append({"how": "stream", "stop": stop, **kwargs})
        yield ChatGenerationChunk(message=AIMessageChunk(content="an answer"))


class NoRunManager(Recording):
    """A model whose ``_agenerate`` takes no ``run_manager`` (LangChain then passes none)."""

    async def _agenerate(  # type: ignore[override]
        self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any
    ) -> ChatResult:
        self.calls.append({"how": "agenerate", "stop": stop, "kwargs": kwargs})
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="an answer"))])


class CountingLimiter(BaseRateLimiter):
    def __init__(self) -> None:
        self.acquired = 0

    def acquire(self, *, blocking: bool = True) -> bool:
        self.acquired += 1
        return True

    async def aacquire(self, *, blocking: bool = True) -> bool:
        self.acquired += 1
        return True


class Starts(BaseCallbackHandler):
    def __init__(self) -> None:
        self.run_ids: list[UUID] = []

    def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: UUID, **kw: Any
    ) -> None:
        self.run_ids.append(run_id)


def _chat(make_chat: MakeChat, model: BaseChatModel, **kwargs: Any) -> ChatModelMuxer:
    chat: ChatModelMuxer = make_chat(
        models=[wrap(model, id="rec", input_price_per_mtok=1.0, output_price_per_mtok=1.0)],
        **kwargs,
    )
    return chat


@pytest.mark.parametrize("in_llm_output", [False, True])
async def test_generation_info_and_llm_output_reach_the_answer(
    make_chat: MakeChat, in_llm_output: bool
) -> None:
    model = Recording(finish_in_llm_output=in_llm_output)
    answer = await _chat(make_chat, model).ainvoke("Hello", stop=["\n\n"])
    assert answer.text == "an answer"
    assert answer.response_metadata["finish_reason"] == "length"  # read from the model's metadata
    (call,) = model.calls
    assert (call["how"], call["stop"], call["run_manager"]) == ("generate", ["\n\n"], None)


async def test_run_manager_is_passed_only_when_declared(make_chat: MakeChat) -> None:
    model = NoRunManager()
    answer = await _chat(make_chat, model).ainvoke("Hello")
    assert answer.text == "an answer"
    assert model.calls == [{"how": "agenerate", "stop": None, "kwargs": {}}]


async def test_the_wrapped_models_cache_answers_repeats(make_chat: MakeChat) -> None:
    model = Recording(cache=InMemoryCache())
    chat = _chat(make_chat, model)
    first = await chat.ainvoke("What is the capital of Italy?")
    second = await chat.ainvoke("What is the capital of Italy?")
    assert first.text == second.text == "an answer"
    assert len(model.calls) == 1


async def test_cache_true_without_a_global_cache_is_langchains_error(make_chat: MakeChat) -> None:
    chat = _chat(make_chat, Recording(cache=True))
    with pytest.raises(Exception, match="no cache found"):
        await chat.ainvoke("Hello")


async def test_the_wrapped_models_rate_limiter_is_acquired(make_chat: MakeChat) -> None:
    limiter = CountingLimiter()
    chat = _chat(make_chat, Recording(rate_limiter=limiter))
    await chat.ainvoke("Hello")
    await chat.ainvoke("Hello again")
    assert limiter.acquired == 2


async def test_a_streaming_wrapped_model_streams(make_chat: MakeChat) -> None:
    model = Recording(streaming=True)
    answer = await _chat(make_chat, model).ainvoke("Hello")
    assert answer.text == "an answer"
    assert [call["how"] for call in model.calls] == ["stream"]


async def test_the_wrapped_models_own_callbacks_see_its_run(make_chat: MakeChat) -> None:
    starts = Starts()
    model = Recording(callbacks=[starts])
    await _chat(make_chat, model).ainvoke("Hello")
    assert len(starts.run_ids) == 1
    assert len(model.calls) == 1


async def test_routing_fields_changed_after_a_call_apply(make_chat: MakeChat) -> None:
    chat: ChatModelMuxer = make_chat()
    first = await chat.ainvoke("Hello")
    assert first.response_metadata["strategy"] == "hybrid"
    chat.strategy = "quality_first"
    second = await chat.ainvoke("Hello")
    assert second.response_metadata["strategy"] == "quality_first"
    pinned = await chat.ainvoke("Hello", model="offline/openai/gpt-4o")
    assert pinned.response_metadata["model_name"] == "offline/openai/gpt-4o"


class ToolRecording(Recording):
    """Takes tools as LangChain's provider models do: bound into the call's kwargs."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return self.bind(tools=tools, **kwargs)


def test_parallel_tool_calls_reaches_the_wrapped_model_with_the_tools(make_chat: MakeChat) -> None:
    """``bind_tools(..., parallel_tool_calls=False)``, as with ``ChatOpenAI``: a request
    parameter, handed to the routed model's ``bind_tools``."""
    model = ToolRecording()
    chat = _chat(make_chat, model)
    weather = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    chat.bind_tools([weather], parallel_tool_calls=False).invoke("Weather in Paris?")
    chat.bind_tools([weather]).invoke("Weather in Paris?")
    first, second = model.calls
    assert first["parallel_tool_calls"] is False
    assert [t["function"]["name"] for t in first["tools"]] == ["get_weather"]
    assert "parallel_tool_calls" not in second  # unset: the model's own default
