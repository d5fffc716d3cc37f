"""A LangChain ``Embeddings`` object as the semantic cache's embedder."""

from __future__ import annotations

import os
import re

from langchain_core.embeddings import DeterministicFakeEmbedding

from langchain_modelmuxer import LangChainEmbedder
from modelmuxer import Muxer
from modelmuxer.cache import Embedder
from modelmuxer.config import load_settings

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MODEL = "offline/openai/gpt-4o-mini"


class _PunctuationBlind(DeterministicFakeEmbedding):
    """The fake embedding of the text without punctuation: variants embed identically."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return super().embed_documents([re.sub(r"[^\w\s]", "", t).strip() for t in texts])


def _muxer(embedder: LangChainEmbedder) -> Muxer:
    cache = {"enabled": True, "semantic": True, "embedder": embedder.name}
    return Muxer(
        [MODEL], settings=load_settings(cache=cache), plugins=[embedder], load_entrypoints=False
    )


async def test_vectors_come_from_the_wrapped_embeddings() -> None:
    fake = DeterministicFakeEmbedding(size=32)
    embedder = LangChainEmbedder(fake, name="fake")
    assert isinstance(embedder, Embedder)
    vectors = await embedder.aembed(["a", "b"])
    assert vectors == fake.embed_documents(["a", "b"])
    assert "DeterministicFakeEmbedding" in repr(embedder)


async def test_the_semantic_cache_uses_the_wrapped_embeddings() -> None:
    muxer = _muxer(LangChainEmbedder(_PunctuationBlind(size=64), name="blind"))
    with muxer:
        first = await muxer.acomplete("What is the capital of France?", temperature=0)
        variant = await muxer.acomplete("What is the capital of France", temperature=0)
        other = await muxer.acomplete("What is the capital of Spain?", temperature=0)
        assert (first.cache, variant.cache, other.cache) == ("miss", "semantic", "miss")
        assert variant.text == first.text


async def test_guards_apply_whatever_the_embedder() -> None:
    muxer = _muxer(LangChainEmbedder(_PunctuationBlind(size=64), name="blind"))
    with muxer:
        await muxer.acomplete("What is 2+2?", temperature=0)
        assert (await muxer.acomplete("What is 2+3", temperature=0)).cache == "miss"
