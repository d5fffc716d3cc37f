"""A LlamaIndex embedding model as the semantic cache's embedder."""

from __future__ import annotations

import os

from llama_index.core import MockEmbedding

from llama_index.llms.modelmuxer import LlamaIndexEmbedder
from modelmuxer import Muxer
from modelmuxer.cache import Embedder
from modelmuxer.config import load_settings

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MODEL = "offline/openai/gpt-4o-mini"


def _muxer(embedder: LlamaIndexEmbedder) -> Muxer:
    cache = {"enabled": True, "semantic": True, "embedder": embedder.name}
    return Muxer(
        [MODEL], settings=load_settings(cache=cache), plugins=[embedder], load_entrypoints=False
    )


async def test_vectors_come_from_the_wrapped_model() -> None:
    mock = MockEmbedding(embed_dim=8)
    embedder = LlamaIndexEmbedder(mock, name="mock")
    assert isinstance(embedder, Embedder)
    vectors = await embedder.aembed(["a", "b"])
    assert vectors == [mock.get_text_embedding("a"), mock.get_text_embedding("b")]
    assert "MockEmbedding" in repr(embedder)


async def test_the_semantic_cache_uses_the_wrapped_model_and_keeps_its_guards() -> None:
    # MockEmbedding gives every text the same vector: only the guards tell prompts apart
    muxer = _muxer(LlamaIndexEmbedder(MockEmbedding(embed_dim=8), name="mock"))
    with muxer:
        first = await muxer.acomplete("Tell me a story about a dragon.", temperature=0)
        unrelated = await muxer.acomplete("explain how tides work", temperature=0)
        assert (first.cache, unrelated.cache) == ("miss", "semantic")
        await muxer.acomplete("What is 2+2?", temperature=0)
        assert (await muxer.acomplete("What is 2+3?", temperature=0)).cache == "miss"
        await muxer.acomplete("Is it safe?", temperature=0)
        assert (await muxer.acomplete("Is it not safe?", temperature=0)).cache == "miss"
