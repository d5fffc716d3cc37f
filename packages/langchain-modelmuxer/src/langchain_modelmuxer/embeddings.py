"""A LangChain ``Embeddings`` object as the semantic cache's embedder."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from langchain_core.embeddings import Embeddings

from modelmuxer import hookimpl
from modelmuxer.cache import Embedder

__all__ = ["LangChainEmbedder"]


class LangChainEmbedder:
    """Wraps any LangChain :class:`~langchain_core.embeddings.Embeddings` (OpenAI, HuggingFace,
    Ollama...) for the semantic cache. It is its own plugin: pass it to the muxer and name it in
    the settings::

        embedder = LangChainEmbedder(OpenAIEmbeddings(), name="openai-small")
        muxer = Muxer(models, settings=load_settings(cache={"enabled": True, "semantic": True,
                      "embedder": "openai-small"}), plugins=[embedder])

    Prompts are embedded with ``aembed_documents`` (stored and searched alike, so the vectors
    compare like with like).
    """

    def __init__(self, embeddings: Embeddings, *, name: str = "langchain") -> None:
        self.embeddings = embeddings
        self.name = name

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, from the wrapped embeddings."""
        return await self.embeddings.aembed_documents(list(texts))

    @hookimpl
    def modelmuxer_register_embedders(self, register: Callable[[Embedder], None]) -> None:
        """Register this embedder under its ``name``."""
        register(self)

    def __repr__(self) -> str:
        return f"LangChainEmbedder({type(self.embeddings).__name__}, name={self.name!r})"
