"""ModelMuxer for LangChain: :class:`ChatModelMuxer`, a chat model that routes each call.

    from langchain_modelmuxer import ChatModelMuxer

    llm = ChatModelMuxer(models=["openai/gpt-4o-mini", "openai/gpt-4o"], strategy="hybrid")
    chain = prompt | llm | parser

Candidates may also be LangChain chat model objects, bare or through :func:`wrap`.
"""

from langchain_modelmuxer.backend import LangChainBackend
from langchain_modelmuxer.candidates import WrappedModel, wrap
from langchain_modelmuxer.chat_model import ChatModelMuxer
from langchain_modelmuxer.embeddings import LangChainEmbedder

__all__ = ["ChatModelMuxer", "LangChainBackend", "LangChainEmbedder", "WrappedModel", "wrap"]
