"""Streams belong to their LangChain run as calls do: the identity and tags of the run's config,
and wrapped models' runs as its children. LangChain calls ``_stream`` / ``_astream`` without the
run's callback manager, on every path that streams (``stream``, ``astream``, ``streaming=True``,
``astream_events`` and LangGraph's "messages" stream mode)."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import pytest
from _support import Recorder
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate

from langchain_modelmuxer import ChatModelMuxer, wrap

MakeChat = Callable[..., ChatModelMuxer]  # the make_chat fixture (tests/langchain/conftest.py)
_CONFIG: dict[str, Any] = {"metadata": {"user": "u1", "org": "acme"}, "tags": ["beta"]}


class Starts(BaseCallbackHandler):
    """Remembers each chat model run's id and parent."""

    def __init__(self) -> None:
        self.runs: list[tuple[UUID, UUID | None]] = []

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self.runs.append((run_id, parent_run_id))


async def _stream(chat: ChatModelMuxer, config: dict[str, Any]) -> None:
    for _ in chat.stream("Hello", config=config):  # type: ignore[arg-type]
        pass


async def _astream(chat: ChatModelMuxer, config: dict[str, Any]) -> None:
    async for _ in chat.astream("Hello", config=config):  # type: ignore[arg-type]
        pass


async def _streaming_invoke(chat: ChatModelMuxer, config: dict[str, Any]) -> None:
    chat.streaming = True
    await chat.ainvoke("Hello", config=config)  # type: ignore[arg-type]


async def _streaming_sync_invoke(chat: ChatModelMuxer, config: dict[str, Any]) -> None:
    chat.streaming = True
    chat.invoke("Hello", config=config)  # type: ignore[arg-type]


async def _events_in_a_chain(chat: ChatModelMuxer, config: dict[str, Any]) -> None:
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | chat
    async for _ in chain.astream_events({"q": "Hello"}, config=config, version="v2"):  # type: ignore[arg-type]
        pass


_PATHS: dict[str, Callable[[ChatModelMuxer, dict[str, Any]], Awaitable[None]]] = {
    "stream": _stream,
    "astream": _astream,
    "streaming_ainvoke": _streaming_invoke,
    "streaming_invoke": _streaming_sync_invoke,
    "astream_events": _events_in_a_chain,
}


@pytest.mark.parametrize("path", sorted(_PATHS))
async def test_streams_take_identity_and_tags_from_the_run(make_chat: MakeChat, path: str) -> None:
    records = Recorder()
    await _PATHS[path](make_chat(plugins=[records]), _CONFIG)
    (record,) = records.records
    assert (record.identity.user, record.identity.org) == ("u1", "acme")
    assert record.tags == frozenset({"beta"})


@pytest.mark.parametrize("path", sorted(_PATHS))
async def test_a_streamed_wrapped_model_runs_as_a_child(make_chat: MakeChat, path: str) -> None:
    fake = GenericFakeChatModel(messages=itertools.cycle([AIMessage(content="one two")]))
    free = wrap(fake, id="fake", input_price_per_mtok=0, output_price_per_mtok=0)
    chat = make_chat(models=[free])
    starts = Starts()
    await _PATHS[path](chat, {**_CONFIG, "callbacks": [starts]})
    outer, inner = starts.runs[-2:]
    assert inner[1] == outer[0]  # the wrapped model's run is a child of the muxer's run
