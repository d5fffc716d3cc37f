"""ModelMuxerLLM as a LlamaIndex LLM: calls, responses, metadata, identity, instrumentation."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, ToolCallBlock
from llama_index.core.bridge.pydantic import Field
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.tools import FunctionTool

from llama_index.llms.modelmuxer import ModelMuxerLLM
from llama_index.llms.modelmuxer.convert import to_chat_message
from modelmuxer import Muxer
from modelmuxer.errors import ConfigError, InvalidRequest, UnknownModel
from modelmuxer.types import Completion, Decision, FunctionCall, ToolCall

MakeLLM = Callable[..., ModelMuxerLLM]

QUESTION = [ChatMessage(role="user", content="What is the capital of France?")]


def weather(city: str) -> str:
    """The current weather in a city."""
    return f"Sunny in {city}"


def test_is_a_function_calling_llm_with_truthful_metadata(llm: ModelMuxerLLM) -> None:
    assert isinstance(llm, FunctionCallingLLM)
    meta = llm.metadata
    cards = llm.muxer.catalog.cards()
    assert meta.is_chat_model
    assert meta.is_function_calling_model
    assert meta.context_window == min(c.context_window for c in cards)
    assert meta.num_output == min(c.max_output_tokens for c in cards)
    assert "offline/openai/gpt-4o-mini" in meta.model_name


def test_context_window_policy_and_max_tokens(make_llm: MakeLLM) -> None:
    models = [
        {"id": "offline/openai/gpt-4o-mini", "context_window": 8000},
        {"id": "offline/openai/gpt-4o", "context_window": 64000},
    ]
    assert make_llm(models).metadata.context_window == 8000
    largest = make_llm(models, context_window_policy="largest", max_tokens=300)
    assert largest.metadata.context_window == 64000
    assert largest.metadata.num_output == 300


def test_not_function_calling_when_no_candidate_calls_tools(make_llm: MakeLLM) -> None:
    llm = make_llm([{"id": "offline/openai/gpt-4o-mini", "capabilities": {"tools": False}}])
    assert not llm.metadata.is_function_calling_model


def test_chat_response_carries_model_cost_decision_and_usage(llm: ModelMuxerLLM) -> None:
    response = llm.chat(QUESTION)
    completion = response.additional_kwargs["completion"]
    assert isinstance(completion, Completion)
    assert isinstance(response.additional_kwargs["decision"], Decision)
    assert response.message.role == "assistant"
    assert response.message.content == completion.text
    assert response.additional_kwargs["model"] == completion.model in llm.muxer.catalog
    assert response.additional_kwargs["cost_usd"] == completion.cost_usd > 0
    assert response.raw["usage"]["prompt_tokens"] == completion.usage.prompt_tokens
    assert response.raw["usage"]["completion_tokens"] == completion.usage.completion_tokens
    assert response.raw["decision"]["models"] == completion.decision.models


async def test_every_entry_point_answers_the_same(llm: ModelMuxerLLM) -> None:
    expected = llm.chat(QUESTION).message.content
    assert (await llm.achat(QUESTION)).message.content == expected
    assert llm.complete(QUESTION[0].content).text == expected
    assert (await llm.acomplete(QUESTION[0].content)).text == expected
    sync_chunks = list(llm.stream_chat(QUESTION))
    assert "".join(c.delta or "" for c in sync_chunks) == expected
    assert sync_chunks[-1].message.content == expected
    assert sync_chunks[-1].raw["usage"]["completion_tokens"] > 0
    async_chunks = [c async for c in await llm.astream_chat(QUESTION)]
    assert "".join(c.delta or "" for c in async_chunks) == expected
    completions = list(llm.stream_complete(QUESTION[0].content))
    assert completions[-1].text == expected
    acompletions = [c async for c in await llm.astream_complete(QUESTION[0].content)]
    assert "".join(c.delta or "" for c in acompletions) == expected
    assert acompletions[-1].additional_kwargs["completion"].text == expected


def test_identity_and_tags_per_instance_and_per_call(make_llm: MakeLLM, recorder: Any) -> None:
    llm = make_llm(identity={"user": "u1", "org": "acme"}, tags=["rag"], plugins=[recorder])
    llm.chat(QUESTION)
    llm.chat(QUESTION, identity={"user": "u2"}, tags=["agent"], metadata={"k": 1})
    first, second = recorder.records
    assert (first.identity.user, first.identity.org, first.tags) == ("u1", "acme", {"rag"})
    assert (second.identity.user, second.identity.org) == ("u2", "acme")
    assert second.tags == {"rag", "agent"}
    assert recorder.started[1].request.metadata == {"k": 1}


def test_call_kwargs_pin_and_strategy_and_unknown_llamaindex_kwargs(llm: ModelMuxerLLM) -> None:
    pinned = llm.chat(QUESTION, model="offline/openai/gpt-4o", formatted=True, verbose=False)
    assert pinned.additional_kwargs["model"] == "offline/openai/gpt-4o"
    cheap = llm.chat(QUESTION, strategy="cost_optimized")
    assert cheap.additional_kwargs["decision"].strategy == "cost_optimized"
    with pytest.raises(UnknownModel):
        llm.chat(QUESTION, model="offline/none")


def test_generation_params_reach_the_model(make_llm: MakeLLM) -> None:
    llm = make_llm(max_tokens=3)
    response = llm.chat([ChatMessage(role="user", content="Explain photosynthesis in detail.")])
    assert response.additional_kwargs["completion"].finish_reason == "length"
    assert response.raw["usage"]["completion_tokens"] == 3


def test_invalid_input_is_a_typed_error(llm: ModelMuxerLLM) -> None:
    with pytest.raises(InvalidRequest):
        llm.chat([ChatMessage(role="user", content="")])


@pytest.mark.parametrize("prompt", ["", "   ", None])
async def test_an_empty_or_missing_prompt_is_a_typed_error(llm: ModelMuxerLLM, prompt: Any) -> None:
    with pytest.raises(InvalidRequest):
        llm.complete(prompt)
    with pytest.raises(InvalidRequest):
        await llm.acomplete(prompt)
    with pytest.raises(InvalidRequest):
        list(llm.stream_complete(prompt))


@pytest.mark.parametrize(("option", "value"), [("tags", 5), ("metadata", "x"), ("identity", "u1")])
def test_a_bad_call_option_is_a_typed_error(make_llm: MakeLLM, option: str, value: object) -> None:
    llm = make_llm(tags=["rag"], request_metadata={"k": 1}, identity={"org": "acme"})
    with pytest.raises(InvalidRequest, match=f"^{option}: expected"):
        llm.chat(QUESTION, **{option: value})


def test_a_message_that_is_not_a_chat_message_is_a_typed_error(llm: ModelMuxerLLM) -> None:
    with pytest.raises(InvalidRequest, match=r"messages\.1: expected a LlamaIndex ChatMessage"):
        llm.chat([QUESTION[0], {"role": "user", "content": "hi"}])  # type: ignore[list-item]


def test_muxer_or_models_not_both(make_llm: MakeLLM) -> None:
    muxer = Muxer(["offline/openai/gpt-4o-mini"], load_entrypoints=False)
    llm = ModelMuxerLLM(muxer=muxer)
    assert llm.muxer is muxer
    assert llm.chat(QUESTION).additional_kwargs["model"] == "offline/openai/gpt-4o-mini"
    with pytest.raises(ConfigError):
        ModelMuxerLLM(["offline/openai/gpt-4o"], muxer=muxer)
    muxer.close()


# -- tools ----------------------------------------------------------------------------------------


async def test_tool_calls_are_tool_call_blocks_and_results_go_back(llm: ModelMuxerLLM) -> None:
    tool = FunctionTool.from_defaults(fn=weather)
    response = await llm.achat_with_tools([tool], user_msg="What is the weather in Paris?")
    blocks = [b for b in response.message.blocks if isinstance(b, ToolCallBlock)]
    assert [b.tool_name for b in blocks] == ["weather"]
    (selection,) = llm.get_tool_calls_from_response(response)
    assert selection.tool_name == "weather"
    assert selection.tool_kwargs == {"city": "Paris"}
    assert response.additional_kwargs["completion"].finish_reason == "tool_calls"
    history = [
        ChatMessage(role="user", content="What is the weather in Paris?"),
        response.message,
        ChatMessage(
            role="tool",
            content=weather(**selection.tool_kwargs),
            additional_kwargs={"tool_call_id": selection.tool_id},
        ),
    ]
    answer = await llm.achat_with_tools([tool], chat_history=history)
    assert llm.get_tool_calls_from_response(answer, error_on_no_tool_call=False) == []
    assert "Sunny in Paris" in (answer.message.content or "")


def test_no_tool_call_raises_only_when_asked(llm: ModelMuxerLLM) -> None:
    response = llm.chat(QUESTION)
    assert llm.get_tool_calls_from_response(response, error_on_no_tool_call=False) == []
    with pytest.raises(ValueError, match="0 tool calls"):
        llm.get_tool_calls_from_response(response)


def test_prepare_chat_with_tools_shapes_tool_choice(llm: ModelMuxerLLM) -> None:
    tool = FunctionTool.from_defaults(fn=weather)
    prepared = llm._prepare_chat_with_tools([tool], user_msg="hi", tool_required=True)
    assert prepared["tools"][0]["function"]["name"] == "weather"
    assert prepared["tool_choice"] == "required"
    named = llm._prepare_chat_with_tools([tool], user_msg="hi", tool_choice="weather")
    assert named["tool_choice"] == {"type": "function", "function": {"name": "weather"}}
    bare = llm._prepare_chat_with_tools([], user_msg="hi")
    assert "tools" not in bare
    assert bare["messages"][0].content == "hi"


async def test_streamed_tool_calls_assemble(llm: ModelMuxerLLM) -> None:
    tool = FunctionTool.from_defaults(fn=weather)
    stream = await llm.astream_chat_with_tools([tool], user_msg="Weather in Oslo?")
    chunks = [c async for c in stream]
    assert len(chunks) > 2
    (selection,) = llm.get_tool_calls_from_response(chunks[-1])
    assert selection.tool_kwargs == {"city": "Oslo"}
    assert chunks[-2].message.blocks[-1].tool_name == "weather"  # before the final chunk too


def test_single_tool_call_unless_parallel(llm: ModelMuxerLLM) -> None:
    message = ChatMessage(
        role="assistant",
        blocks=[
            ToolCallBlock(tool_call_id="a", tool_name="x", tool_kwargs={}),
            ToolCallBlock(tool_call_id="b", tool_name="y", tool_kwargs={}),
        ],
    )
    kept = llm._validate_chat_with_tools_response(ChatResponse(message=message.model_copy()), [])
    assert [s.tool_id for s in llm.get_tool_calls_from_response(kept)] == ["a"]
    both = llm._validate_chat_with_tools_response(
        ChatResponse(message=message), [], allow_parallel_tool_calls=True
    )
    assert len(llm.get_tool_calls_from_response(both)) == 2


def test_single_tool_call_also_in_the_openai_shaped_calls(llm: ModelMuxerLLM) -> None:
    calls = [ToolCall(id=i, function=FunctionCall(name=n, arguments="{}")) for i, n in ("ax", "by")]
    response = ChatResponse(message=to_chat_message("", calls))
    kept = llm._validate_chat_with_tools_response(response, [])
    assert [c["id"] for c in kept.message.additional_kwargs["tool_calls"]] == ["a"]


# -- instrumentation ------------------------------------------------------------------------------


class _Events(BaseEventHandler):
    names: list[str] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "Events"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.names.append(event.class_name())


@pytest.fixture
def events() -> Any:
    handler = _Events(names=[])
    dispatcher = get_dispatcher()
    dispatcher.add_event_handler(handler)
    yield handler
    dispatcher.event_handlers.remove(handler)


async def test_chat_and_completion_events_fire(llm: ModelMuxerLLM, events: _Events) -> None:
    await llm.achat(QUESTION)
    assert events.names[:2] == ["LLMChatStartEvent", "LLMChatEndEvent"]
    events.names.clear()
    async for _ in await llm.astream_chat(QUESTION):
        pass
    assert events.names[0] == "LLMChatStartEvent"
    assert events.names[-1] == "LLMChatEndEvent"
    assert "LLMChatInProgressEvent" in events.names
    events.names.clear()
    llm.complete("hello")
    assert events.names == ["LLMCompletionStartEvent", "LLMCompletionEndEvent"]


@pytest.mark.parametrize("stream", [False, True])
def test_token_counting_handler_counts_the_routed_model_tokens(
    make_llm: MakeLLM, stream: bool
) -> None:
    counter = TokenCountingHandler(tokenizer=lambda text: [0])  # estimates would be 1 token
    llm = make_llm(callback_manager=CallbackManager([counter]))
    last = list(llm.stream_chat(QUESTION))[-1] if stream else llm.chat(QUESTION)
    usage = last.additional_kwargs["completion"].usage
    assert counter.prompt_llm_token_count == usage.prompt_tokens > 1
    assert counter.completion_llm_token_count == usage.completion_tokens > 1


# -- concurrency and import cost ------------------------------------------------------------------


async def test_many_concurrent_achat_calls(make_llm: MakeLLM, recorder: Any) -> None:
    llm = make_llm(plugins=[recorder])
    prompts = [f"Question number {i}: what is {i} plus {i}?" for i in range(200)]
    responses = await asyncio.gather(
        *(
            llm.achat([ChatMessage(role="user", content=p)], tags=[str(i)])
            for i, p in enumerate(prompts)
        )
    )
    assert len({r.additional_kwargs["request_id"] for r in responses}) == 200
    assert len(recorder.records) == 200
    assert {next(iter(r.tags)) for r in recorder.records} == {str(i) for i in range(200)}


def test_importing_modelmuxer_does_not_import_llama_index() -> None:
    code = (
        "import sys, modelmuxer; from modelmuxer import Muxer; "
        "assert not any(m.startswith('llama_index') for m in sys.modules), 'llama_index loaded'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_pickling_or_deep_copying_is_refused_with_what_to_do(llm: ModelMuxerLLM) -> None:
    """The LLM holds a live muxer: a pickled copy would fail on its first call (LlamaIndex
    drops unpicklable private attributes), so pickling says so at once; a shallow copy shares
    the muxer."""
    import copy
    import pickle

    with pytest.raises(TypeError, match=r"cannot be pickled or deep-copied.*each process"):
        pickle.dumps(llm)
    with pytest.raises(TypeError, match="cannot be pickled or deep-copied"):
        copy.deepcopy(llm)
    for shallow in (copy.copy(llm), llm.model_copy()):
        assert shallow.muxer is llm.muxer
        assert shallow.complete("What is the capital of France?").text


def test_parallel_tool_calls_is_a_request_parameter(make_llm: MakeLLM) -> None:
    """``parallel_tool_calls=False`` (OpenAI's option) goes to the routed model with the
    tools; ``allow_parallel_tool_calls`` stays LlamaIndex's trim of the answer."""
    from modelmuxer import hookimpl

    seen: list[bool | None] = []

    class Params:
        @hookimpl
        def modelmuxer_request_start(self, ctx: Any) -> None:
            seen.append(ctx.request.params.parallel_tool_calls)

    llm = make_llm(plugins=[Params()])
    tool = FunctionTool.from_defaults(fn=weather)
    llm.chat_with_tools([tool], user_msg="What is the weather in Paris?", parallel_tool_calls=False)
    llm.chat_with_tools([tool], user_msg="What is the weather in Paris?")
    assert seen == [False, None]
