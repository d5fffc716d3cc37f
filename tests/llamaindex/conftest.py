"""Fixtures for the LlamaIndex adapter: ModelMuxerLLMs over offline models, Settings restored."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from llama_index.core import MockEmbedding, Settings

from llama_index.llms.modelmuxer import ModelMuxerLLM

OFFLINE = ("offline/openai/gpt-4o-mini", "offline/openai/gpt-4o")

MakeLLM = Callable[..., ModelMuxerLLM]


@pytest.fixture
def make_llm() -> Iterator[MakeLLM]:
    """Builds ModelMuxerLLMs (offline models, no entry points) and closes them afterwards."""
    built: list[ModelMuxerLLM] = []

    def make(models: Any = OFFLINE, **kwargs: Any) -> ModelMuxerLLM:
        kwargs.setdefault("load_entrypoints", False)
        llm = ModelMuxerLLM(models, **kwargs)
        built.append(llm)
        return llm

    yield make
    for llm in built:
        llm.close()


@pytest.fixture
def llm(make_llm: MakeLLM) -> ModelMuxerLLM:
    return make_llm()


@pytest.fixture
def global_llm(llm: ModelMuxerLLM) -> Iterator[ModelMuxerLLM]:
    """``Settings.llm`` set to a ModelMuxerLLM (and a MockEmbedding), restored afterwards."""
    saved_llm, saved_embed = Settings._llm, Settings._embed_model
    Settings.llm = llm
    Settings.embed_model = MockEmbedding(embed_dim=8)
    yield llm
    Settings._llm, Settings._embed_model = saved_llm, saved_embed
