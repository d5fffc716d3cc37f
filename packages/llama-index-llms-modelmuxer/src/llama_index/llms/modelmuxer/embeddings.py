"""A LlamaIndex embedding model as the semantic cache's embedder."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from llama_index.core.base.embeddings.base import BaseEmbedding

from modelmuxer import hookimpl
from modelmuxer.cache import Embedder

__all__ = ["LlamaIndexEmbedder"]


class LlamaIndexEmbedder:
    """Wraps any LlamaIndex :class:`~llama_index.core.base.embeddings.base.BaseEmbedding`
    (``Settings.embed_model``, OpenAI, HuggingFace...) for the semantic cache. It is its own
    plugin: pass it to the muxer and name it in the settings::

        embedder = LlamaIndexEmbedder(Settings.embed_model, name="li")
        muxer = Muxer(models, settings=load_settings(cache={"enabled": True, "semantic": True,
                      "embedder": "li"}), plugins=[embedder])

    Prompts are embedded with ``aget_text_embedding_batch`` (stored and searched alike).
    """

    def __init__(self, embed_model: BaseEmbedding, *, name: str = "llamaindex") -> None:
        self.embed_model = embed_model
        self.name = name

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, from the wrapped embedding model."""
        return await self.embed_model.aget_text_embedding_batch(list(texts))

    @hookimpl
    def modelmuxer_register_embedders(self, register: Callable[[Embedder], None]) -> None:
        """Register this embedder under its ``name``."""
        register(self)

    def __repr__(self) -> str:
        return f"LlamaIndexEmbedder({type(self.embed_model).__name__}, name={self.name!r})"
