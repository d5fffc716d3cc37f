"""ModelMuxerLLM as ``Settings.llm`` inside LlamaIndex's chat engines, query engines and agents."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core import Document, MockEmbedding, VectorStoreIndex
from llama_index.core.agent.workflow import AgentStream, FunctionAgent, ReActAgent, ToolCallResult
from llama_index.core.bridge.pydantic import BaseModel
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool

from llama_index.llms.modelmuxer import ModelMuxerLLM

DOCS = [
    Document(text="The Eiffel Tower is in Paris. It was completed in 1889."),
    Document(text="Mount Fuji is the highest mountain in Japan, at 3776 metres."),
]


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


class City(BaseModel):
    """A city and its country."""

    name: str
    country: str


def test_simple_chat_engine_chat_and_stream(global_llm: ModelMuxerLLM, recorder: Any) -> None:
    global_llm.muxer.plugins.register(recorder)
    engine = SimpleChatEngine.from_defaults()
    answer = engine.chat("Hello! Who are you?")
    assert answer.response
    streamed = engine.stream_chat("And what can you do?")
    text = "".join(streamed.response_gen)
    assert text
    assert len(recorder.records) == 2
    assert len(engine.chat_history) == 4  # both turns remembered


async def test_simple_chat_engine_async(global_llm: ModelMuxerLLM) -> None:
    engine = SimpleChatEngine.from_defaults()
    answer = await engine.achat("Hello there")
    assert answer.response
    streamed = await engine.astream_chat("Tell me more")
    text = "".join([t async for t in streamed.async_response_gen()])
    assert text


@pytest.mark.parametrize("streaming", [False, True])
async def test_query_engine_over_vector_index(
    global_llm: ModelMuxerLLM, recorder: Any, streaming: bool
) -> None:
    global_llm.muxer.plugins.register(recorder)
    index = VectorStoreIndex.from_documents(DOCS)
    engine = index.as_query_engine(similarity_top_k=2, streaming=streaming)
    if streaming:
        response = engine.query("Where is the Eiffel Tower?")
        text = "".join(response.response_gen)
    else:
        response = await engine.aquery("Where is the Eiffel Tower?")
        text = str(response)
    assert text
    assert len(response.source_nodes) == 2
    assert recorder.records, "the query engine's LLM call went through the muxer"
    prompt = recorder.started[-1].request.prompt_text
    assert "Eiffel Tower is in Paris" in prompt  # the retrieved context reached the model


@pytest.mark.parametrize("streaming", [False, True])
async def test_function_agent_calls_tools(global_llm: ModelMuxerLLM, streaming: bool) -> None:
    agent = FunctionAgent(
        tools=[FunctionTool.from_defaults(fn=multiply)],
        system_prompt="You are a calculator.",
        streaming=streaming,
    )
    handler = agent.run("What is 6 times 7?")
    results, deltas = [], []
    async for event in handler.stream_events():
        if isinstance(event, ToolCallResult):
            results.append(event)
        elif isinstance(event, AgentStream):
            deltas.append(event.delta)
    output = await handler
    assert [(r.tool_name, r.tool_kwargs, r.tool_output.raw_output) for r in results] == [
        ("multiply", {"a": 6, "b": 7}, 42)
    ]
    assert "42" in str(output)
    assert output.raw["usage"]["total_tokens"] > 0
    assert bool("".join(deltas)) == streaming


async def test_react_agent_answers(global_llm: ModelMuxerLLM, recorder: Any) -> None:
    global_llm.muxer.plugins.register(recorder)
    agent = ReActAgent(tools=[FunctionTool.from_defaults(fn=multiply)])
    output = await agent.run("Say hello.")
    assert str(output)
    assert recorder.records
    assert "multiply" in recorder.started[0].request.prompt_text  # the ReAct prompt lists tools


def test_structured_predict(global_llm: ModelMuxerLLM) -> None:
    prompt = PromptTemplate("Name a city in {country}.")
    city = global_llm.structured_predict(City, prompt, country="France")
    assert isinstance(city, City)
    assert city.name
    assert city.country


async def test_astructured_predict(global_llm: ModelMuxerLLM) -> None:
    prompt = PromptTemplate("Name a city in {country}.")
    city = await global_llm.astructured_predict(City, prompt, country="Japan")
    assert isinstance(city, City)


async def test_streamed_structured_predict_ends_with_the_object(global_llm: ModelMuxerLLM) -> None:
    # LlamaIndex reads streamed tool calls from message.additional_kwargs["tool_calls"]
    prompt = PromptTemplate("Name a city in {country}.")
    expected = global_llm.structured_predict(City, prompt, country="France").model_dump()
    *_, last = global_llm.stream_structured_predict(City, prompt, country="France")
    assert last.model_dump() == expected
    partials = [
        p async for p in await global_llm.astream_structured_predict(City, prompt, country="France")
    ]
    assert partials[-1].model_dump() == expected


def test_chat_engine_goes_on_after_an_empty_answer(make_llm: Any) -> None:
    empty = {"offline": {"empty": True}}
    llm = make_llm([{"id": "offline/openai/gpt-4o-mini", "deployment": {"extra": empty}}])
    engine = SimpleChatEngine.from_defaults(llm=llm)
    assert engine.chat("Hello").response == ""
    engine.chat("Are you there?")  # the empty answer is in the history it sends
    assert len(engine.chat_history) == 4


def test_query_engine_over_a_model_whose_output_limit_is_its_window(make_llm: Any) -> None:
    # as ollama/llama3 in litellm's price map: LlamaIndex reserves num_output of the window
    card = {"id": "offline/openai/gpt-4o-mini", "context_window": 8192, "max_output_tokens": 8192}
    llm = make_llm([card])
    assert 0 < llm.metadata.num_output < llm.metadata.context_window
    index = VectorStoreIndex.from_documents(DOCS, embed_model=MockEmbedding(embed_dim=8))
    response = index.as_query_engine(llm=llm).query("Where is the Eiffel Tower?")
    assert str(response)
