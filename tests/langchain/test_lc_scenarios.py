"""ChatModelMuxer where LangChain users put a chat model: chains, agents, fallbacks, caches."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
from _support import Recorder
from langchain_core.caches import InMemoryCache
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.globals import set_llm_cache
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.messages.tool import invalid_tool_call
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import ConfigurableField, RunnableLambda, RunnableParallel
from langchain_core.tools import tool

from langchain_modelmuxer import ChatModelMuxer, wrap
from modelmuxer.errors import InvalidRequest

MakeChat = Callable[..., ChatModelMuxer]  # the make_chat fixture (tests/langchain/conftest.py)


class Starts(BaseCallbackHandler):
    """Remembers each chat model run's id, parent and metadata."""

    def __init__(self) -> None:
        self.runs: list[tuple[UUID, UUID | None, dict[str, Any]]] = []

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.runs.append((run_id, parent_run_id, metadata or {}))


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"It is sunny in {city}."


def _fake(text: str = "fake answer here") -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=itertools.cycle([AIMessage(content=text)]))


def test_lcel_chain(make_chat: MakeChat) -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{q}")])
    chain = prompt | make_chat() | StrOutputParser()
    answer = chain.invoke({"q": "What is the capital of France?"})
    assert isinstance(answer, str)
    assert answer


async def test_wrapped_object_runs_as_child_with_prices(make_chat: MakeChat) -> None:
    records = Recorder()
    chat = make_chat(
        models=[wrap(_fake(), id="fake", input_price_per_mtok=1.0, output_price_per_mtok=2.0)],
        plugins=[records],
    )
    starts = Starts()
    message = await chat.ainvoke("Hello there", config={"callbacks": [starts]})
    assert message.content == "fake answer here"
    assert message.response_metadata["model_name"] == "fake"
    outer, inner = starts.runs
    assert inner[1] == outer[0]  # the wrapped model's run is a child of the muxer's run
    (record,) = records.records
    usage = record.usage
    expected = (usage.prompt_tokens * 1.0 + usage.completion_tokens * 2.0) / 1e6
    assert expected > 0
    assert record.cost_usd == pytest.approx(expected)


async def test_wrapped_object_streams_usage_once(make_chat: MakeChat) -> None:
    chat = make_chat(
        models=[wrap(_fake("one two three"), input_price_per_mtok=0, output_price_per_mtok=0)]
    )
    chunks = [chunk async for chunk in chat.astream("count")]
    assert "".join(str(c.content) for c in chunks) == "one two three"
    assert [c for c in chunks if c.usage_metadata] == [chunks[-1]]
    assert chunks[-1].response_metadata["model_name"] == "langchain/GenericFakeChatModel"


def test_wrapped_object_without_price_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="input_price_per_mtok"):
        ChatModelMuxer(models=[_fake()], load_entrypoints=False)


def test_tool_loop_with_bind_tools(make_chat: MakeChat) -> None:
    chat = make_chat().bind_tools([get_weather])
    messages: list[Any] = [HumanMessage("What's the weather in Paris?")]
    first = chat.invoke(messages)
    assert isinstance(first, AIMessage)
    (call,) = first.tool_calls
    assert call["name"] == "get_weather"
    assert call["args"] == {"city": "Paris"}
    messages += [first, ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"])]
    final = chat.invoke(messages)
    assert not final.tool_calls
    assert "sunny" in final.text


def test_create_agent(make_chat: MakeChat) -> None:
    agents = pytest.importorskip("langchain.agents")
    agent = agents.create_agent(make_chat(), tools=[get_weather])
    result = agent.invoke({"messages": [HumanMessage("What's the weather in Paris?")]})
    messages = result["messages"]
    tool_messages = [m for m in messages if isinstance(m, ToolMessage)]
    assert tool_messages
    assert "sunny in Paris" in tool_messages[0].text
    assert isinstance(messages[-1], AIMessage)
    assert not messages[-1].tool_calls


def test_with_fallbacks(make_chat: MakeChat) -> None:
    failing = make_chat(
        models=[
            {
                "id": "offline/openai/gpt-4o-mini",
                "deployment": {"extra": {"offline": {"fail": "auth"}}},
            }
        ]
    )
    backup = make_chat(models=["offline/openai/gpt-4o"])
    answer = failing.with_fallbacks([backup]).invoke("Hello")
    assert answer.response_metadata["model_name"] == "offline/openai/gpt-4o"


async def test_runnable_parallel_many_concurrent(make_chat: MakeChat) -> None:
    records = Recorder()
    chat = make_chat(plugins=[records])
    parallel = RunnableParallel(
        {f"q{i}": RunnableLambda(lambda x, i=i: f"{x} #{i}") | chat for i in range(40)}
    )
    out = await parallel.ainvoke("Say hello")
    assert len(out) == 40
    assert all(isinstance(m, AIMessage) and m.text for m in out.values())
    assert len(records.records) == 40
    assert len({r.request_id for r in records.records}) == 40


def test_llm_cache_does_not_double_count(make_chat: MakeChat) -> None:
    records = Recorder()
    chat = make_chat(plugins=[records])
    set_llm_cache(InMemoryCache())
    try:
        first = chat.invoke("What is the capital of Italy?")
        second = chat.invoke("What is the capital of Italy?")
    finally:
        set_llm_cache(None)
    assert second.text == first.text
    assert len(records.records) == 1  # the hit never reached the muxer


def test_cache_keys_differ_by_configuration(make_chat: MakeChat) -> None:
    a = make_chat(strategy="hybrid")
    b = make_chat(strategy="quality_first")
    c = make_chat(models=["offline/openai/gpt-4o"])
    keys = {m._get_llm_string() for m in (a, b, c)}
    assert len(keys) == 3
    assert a._identifying_params["models"] == list(a.muxer.catalog.ids())  # type: ignore[union-attr]


def test_identity_and_tags_from_config(make_chat: MakeChat) -> None:
    records = Recorder()
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | make_chat(plugins=[records])
    chain.invoke(
        {"q": "hi"},
        config={"metadata": {"user": "u1", "org": "acme", "role": "admin"}, "tags": ["beta"]},
    )
    (record,) = records.records
    assert (record.identity.user, record.identity.org, record.identity.role) == (
        "u1",
        "acme",
        "admin",
    )
    assert record.tags == frozenset({"beta"})


def test_identity_from_call_kwargs(make_chat: MakeChat) -> None:
    records = Recorder()
    chat = make_chat(plugins=[records])
    chat.invoke("hi", identity={"user": "u2", "project": "p"}, config={"tags": ["x"]})
    (record,) = records.records
    assert (record.identity.user, record.identity.project, record.tags) == (
        "u2",
        "p",
        frozenset({"x"}),
    )


def test_model_pin_and_configurable_strategy(make_chat: MakeChat) -> None:
    chat = make_chat()
    pinned = chat.invoke("Hello", model="offline/anthropic/claude-haiku-4-5")
    assert pinned.response_metadata["model_name"] == "offline/anthropic/claude-haiku-4-5"
    configurable = chat.configurable_fields(strategy=ConfigurableField(id="strategy"))
    best = configurable.with_config(configurable={"strategy": "quality_first"}).invoke("Hello")
    assert best.response_metadata["strategy"] == "quality_first"
    assert chat.invoke("Hello").response_metadata["strategy"] == "hybrid"


def test_tool_choice_names_a_tool(make_chat: MakeChat) -> None:
    @tool
    def lookup(term: str) -> str:
        """Look a term up in the glossary."""
        return term

    chat = make_chat().bind_tools([get_weather, lookup], tool_choice="lookup")
    assert chat.invoke("What's the weather in Paris?").tool_calls[0]["name"] == "lookup"


class _ToolFake(GenericFakeChatModel):
    """A fake chat model that takes tools (and ignores them)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def test_an_invalid_tool_call_is_reported_not_dropped_or_emptied(make_chat: MakeChat) -> None:
    bad = invalid_tool_call(name="get_weather", args='{"city": "Par', id="c1", error="bad JSON")
    fake = _ToolFake(messages=itertools.cycle([AIMessage("", invalid_tool_calls=[bad])]))
    chat = make_chat(
        models=[wrap(fake, id="fake", input_price_per_mtok=0, output_price_per_mtok=0)]
    )
    answer = chat.bind_tools([get_weather]).invoke("What's the weather in Paris?")
    assert answer.tool_calls == []  # not called with empty arguments
    (call,) = answer.invalid_tool_calls
    assert (call["name"], call["args"], call["id"]) == ("get_weather", '{"city": "Par', "c1")
    assert call["error"]
    assert answer.response_metadata["finish_reason"] == "tool_calls"


def test_tool_choice_naming_no_offered_tool_is_a_clear_error(make_chat: MakeChat) -> None:
    with pytest.raises(InvalidRequest, match=r"'lookup'.*get_weather"):
        make_chat().bind_tools([get_weather], tool_choice="lookup")


def test_tools_need_a_tool_capable_candidate(make_chat: MakeChat) -> None:
    chat = make_chat(
        models=[wrap(_fake(), id="no-tools", input_price_per_mtok=0, output_price_per_mtok=0)]
    )
    with pytest.raises(Exception, match="cannot call tools"):
        chat.bind_tools([get_weather]).invoke("weather in Paris?")


def test_get_num_tokens_needs_no_tokenizer(make_chat: MakeChat) -> None:
    chat = make_chat()
    assert 5 <= chat.get_num_tokens("The quick brown fox jumps over the lazy dog.") <= 20


def test_pickling_or_deep_copying_is_refused_with_what_to_do(make_chat: MakeChat) -> None:
    """The chat model holds a live muxer: pickling or deep-copying it says so (not "cannot
    pickle 'module' object"); a shallow copy shares the muxer."""
    import copy
    import pickle

    chat = make_chat()
    with pytest.raises(TypeError, match=r"cannot be pickled or deep-copied.*each process"):
        pickle.dumps(chat)
    with pytest.raises(TypeError, match="cannot be pickled or deep-copied"):
        copy.deepcopy(chat)
    for shallow in (copy.copy(chat), chat.model_copy()):
        assert shallow.muxer is chat.muxer
        assert shallow.invoke("What is the capital of France?").content


def test_on_llm_end_gets_token_usage_in_llm_output_as_from_openai(make_chat: MakeChat) -> None:
    """Handlers written against ``on_llm_end``'s ``llm_output`` (as ChatOpenAI fills it) see the
    routed call's usage and model."""
    from langchain_core.outputs import LLMResult

    outputs: list[dict[str, Any] | None] = []

    class Ends(BaseCallbackHandler):
        def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
            outputs.append(response.llm_output)

    answer = make_chat().invoke("What is the capital of France?", {"callbacks": [Ends()]})
    (output,) = outputs
    assert output is not None
    usage = answer.usage_metadata
    assert usage is not None
    assert output["token_usage"] == {
        "prompt_tokens": usage["input_tokens"],
        "completion_tokens": usage["output_tokens"],
        "total_tokens": usage["total_tokens"],
    }
    assert output["model_name"] == answer.response_metadata["model_name"]
