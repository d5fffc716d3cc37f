"""LlamaIndex LLM objects as candidates: pricing, calls, tools, streaming, errors, conversions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from llama_index.core.agent.workflow import ReActAgent
from llama_index.core.base.llms.types import (
    AudioBlock,
    ChatMessage,
    CompletionResponse,
    CompletionResponseGen,
    ImageBlock,
    LLMMetadata,
    ToolCallBlock,
)
from llama_index.core.llms import CustomLLM, MockLLM
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.tools import FunctionTool

from llama_index.llms.modelmuxer import LlamaIndexModel, ModelMuxerLLM
from llama_index.llms.modelmuxer.convert import to_chat_messages, to_messages
from modelmuxer.errors import ConfigError, InvalidRequest, ProviderError

MakeLLM = Callable[..., ModelMuxerLLM]
FREE = {"input_price_per_mtok": 0.0, "output_price_per_mtok": 0.0}


class Scripted(CustomLLM):
    """A completion-only LLM that plays one ReAct tool step, reports usage, or fails."""

    name: str = "scripted"
    fail: bool = False

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name=self.name, context_window=4000, num_output=256)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        text = self._answer(prompt)
        usage = {"prompt_tokens": 11, "completion_tokens": 5}
        return CompletionResponse(text=text, raw={"usage": usage})

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        def gen() -> CompletionResponseGen:
            text = ""
            for word in self._answer(prompt).split(" "):
                delta = word if not text else " " + word
                text += delta
                yield CompletionResponse(text=text, delta=delta)

        return gen()

    def _answer(self, prompt: str) -> str:
        if self.fail:
            raise RuntimeError("upstream broke, api_key=sk-secret1234567890abcdef")
        if "Observation: 42" in prompt:
            return "Thought: I can answer without using any more tools.\nAnswer: It is 42."
        if "multiply" in prompt:
            return 'Thought: I need a tool.\nAction: multiply\nAction Input: {"a": 6, "b": 7}'
        return "plain answer"


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def test_object_priced_from_the_price_map_by_its_model_name(make_llm: MakeLLM) -> None:
    llm = make_llm([Scripted(name="gpt-4o-mini"), "offline/openai/gpt-4o"])
    card = llm.muxer.catalog.get("llamaindex/gpt-4o-mini")
    twin = llm.muxer.catalog.get("offline/openai/gpt-4o")
    assert card.input_cost_per_token > 0
    assert card.backend == "llamaindex"
    assert card.context_window == 4000
    assert card.max_output_tokens == 256
    assert twin.input_cost_per_token > card.input_cost_per_token
    assert not card.capabilities.tools  # a CustomLLM does not call tools


def test_unpriced_object_needs_prices(make_llm: MakeLLM) -> None:
    with pytest.raises(ConfigError, match="LlamaIndexModel"):
        make_llm([MockLLM()])
    with pytest.raises(ConfigError, match="own id"):
        make_llm([LlamaIndexModel(MockLLM(), **FREE), LlamaIndexModel(MockLLM(), **FREE)])
    with pytest.raises(ConfigError, match="unknown model settings"):
        LlamaIndexModel(MockLLM(), price=1)


async def test_object_answers_with_its_own_usage(make_llm: MakeLLM) -> None:
    llm = make_llm([LlamaIndexModel(Scripted(), id="scripted", **FREE)])
    response = await llm.achat([ChatMessage(role="user", content="hi")])
    assert response.message.content == "plain answer"
    assert response.additional_kwargs["model"] == "scripted"
    assert response.raw["usage"]["prompt_tokens"] == 11
    assert response.raw["usage"]["completion_tokens"] == 5
    chunks = [c async for c in await llm.astream_chat([ChatMessage(role="user", content="hi")])]
    assert "".join(c.delta or "" for c in chunks) == "plain answer"


def test_mixed_candidates_route_by_price(make_llm: MakeLLM) -> None:
    llm = make_llm(
        [LlamaIndexModel(Scripted(), id="cheap", quality=0.9, **FREE), "offline/openai/gpt-4o"],
        strategy="cost_optimized",
    )
    assert llm.chat([ChatMessage(role="user", content="hi")]).additional_kwargs["model"] == "cheap"


async def test_function_calling_object_gets_the_tools(make_llm: MakeLLM) -> None:
    inner = MockFunctionCallingLLM()
    llm = make_llm([LlamaIndexModel(inner, id="mock-fc", **FREE)])
    assert llm.metadata.is_function_calling_model
    tool = FunctionTool.from_defaults(fn=multiply)
    response = await llm.achat_with_tools([tool], user_msg="multiply please")
    (selection,) = llm.get_tool_calls_from_response(response)
    assert selection.tool_name == "multiply"
    chunks = [c async for c in await llm.astream_chat_with_tools([tool], user_msg="again")]
    assert llm.get_tool_calls_from_response(chunks[-1])[0].tool_name == "multiply"


async def test_react_agent_through_a_wrapped_object(make_llm: MakeLLM) -> None:
    llm = make_llm([LlamaIndexModel(Scripted(), id="react", **FREE)])
    agent = ReActAgent(tools=[FunctionTool.from_defaults(fn=multiply)], llm=llm)
    output = await agent.run("What is 6 times 7?")
    assert "42" in str(output)
    assert [c.tool_name for c in output.tool_calls] == ["multiply"]


def test_object_errors_are_typed_and_scrubbed(make_llm: MakeLLM) -> None:
    llm = make_llm([LlamaIndexModel(Scripted(fail=True), id="broken", **FREE)])
    with pytest.raises(ProviderError) as info:
        llm.chat([ChatMessage(role="user", content="hi")])
    assert "upstream broke" in str(info.value)
    assert "sk-secret1234567890abcdef" not in str(info.value)


# -- conversions ----------------------------------------------------------------------------------


def test_conversation_round_trip_keeps_tool_calls_and_results() -> None:
    history = [
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="user", content="Weather?"),
        ChatMessage(
            role="assistant",
            blocks=[ToolCallBlock(tool_call_id="c1", tool_name="w", tool_kwargs={"city": "Rome"})],
        ),
        ChatMessage(role="tool", content="Sunny", additional_kwargs={"tool_call_id": "c1"}),
    ]
    messages = to_messages(history)
    assert [m.role for m in messages] == ["system", "user", "assistant", "tool"]
    assert messages[2].tool_calls[0].function.arguments == '{"city": "Rome"}'
    assert messages[3].tool_call_id == "c1"
    back = to_chat_messages(messages)
    assert back[2].blocks[0].tool_kwargs == {"city": "Rome"}
    assert back[3].additional_kwargs["tool_call_id"] == "c1"


def test_legacy_tool_calls_images_and_unsupported_blocks() -> None:
    legacy = ChatMessage(
        role="assistant",
        content="",
        additional_kwargs={
            "tool_calls": [{"id": "x", "function": {"name": "f", "arguments": '{"a": 1}'}}]
        },
    )
    (converted,) = to_messages([legacy])
    assert converted.tool_calls[0].function.name == "f"
    image = ChatMessage(role="user", blocks=[ImageBlock(url="https://example.com/cat.png")])
    assert to_messages([image])[0].has_images
    with pytest.raises(InvalidRequest, match="AudioBlock"):
        to_messages([ChatMessage(role="user", blocks=[AudioBlock(audio=b"abc", format="mp3")])])
    assert (
        to_messages([ChatMessage(role="system", content=""), ChatMessage(content="hi")])[0].role
        == "user"
    )


@pytest.mark.parametrize(("parallel", "allowed"), [(None, True), (True, True), (False, False)])
async def test_parallel_tool_calls_false_has_the_wrapped_llm_keep_one_call(
    make_llm: MakeLLM, parallel: bool | None, allowed: bool
) -> None:
    """A LlamaIndex LLM object takes the request's ``parallel_tool_calls=False`` as its own
    ``allow_parallel_tool_calls=False``; otherwise it keeps every call of an answer."""
    seen: list[bool] = []

    class Recorded(MockFunctionCallingLLM):
        async def achat_with_tools(self, *args: Any, **kwargs: Any) -> Any:
            seen.append(kwargs["allow_parallel_tool_calls"])
            return await super().achat_with_tools(*args, **kwargs)

    llm = make_llm([LlamaIndexModel(Recorded(), id="mock-fc", **FREE)])
    tool = FunctionTool.from_defaults(fn=multiply)
    options = {} if parallel is None else {"parallel_tool_calls": parallel}
    await llm.achat_with_tools([tool], user_msg="multiply please", **options)
    assert seen == [allowed]
