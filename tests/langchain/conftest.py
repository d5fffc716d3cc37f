"""Fixtures for the LangChain adapter: offline candidates, a recorder, chat models."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from langchain_modelmuxer import ChatModelMuxer

#: Offline twins of real models: priced from litellm's price map, answered locally.
LC_OFFLINE_MODELS: tuple[str, ...] = (
    "offline/openai/gpt-4o-mini",
    "offline/openai/gpt-4o",
    "offline/anthropic/claude-haiku-4-5",
)

MakeChat = Callable[..., ChatModelMuxer]


@pytest.fixture
def make_chat() -> Iterator[MakeChat]:
    """Builds ChatModelMuxers (offline models, no entry points) and closes their muxers."""
    built: list[ChatModelMuxer] = []

    def make(**kwargs: Any) -> ChatModelMuxer:
        kwargs.setdefault("models", list(LC_OFFLINE_MODELS))
        kwargs.setdefault("load_entrypoints", False)
        chat = ChatModelMuxer(**kwargs)
        built.append(chat)
        return chat

    yield make
    for chat in built:
        assert chat.muxer is not None
        chat.muxer.close()
