"""RAG with LlamaIndex, every LLM call routed by ModelMuxer.

Offline by default (offline models at real prices, MockEmbedding). With OPENAI_API_KEY set, the
same code calls OpenAI's gpt-4o-mini and gpt-4o through litellm (embeddings stay mock so the
example needs no extra package).

    uv run python examples/llamaindex_rag.py
"""

from __future__ import annotations

import os

from llama_index.core import Document, MockEmbedding, Settings, VectorStoreIndex
from llama_index.core.chat_engine import SimpleChatEngine

from llama_index.llms.modelmuxer import ModelMuxerLLM

REAL = bool(os.environ.get("OPENAI_API_KEY"))
PREFIX = "" if REAL else "offline/"

DOCS = [
    Document(text="ModelMuxer routes each LLM request to the model that should answer it."),
    Document(text="The Eiffel Tower is in Paris; it was completed in 1889 for the World's Fair."),
    Document(text="Mount Fuji, 3776 m, is the highest mountain in Japan."),
]


def main() -> None:
    llm = ModelMuxerLLM(
        [f"{PREFIX}openai/gpt-4o-mini", f"{PREFIX}openai/gpt-4o"],
        strategy="hybrid",
        identity={"user": "demo-user", "org": "demo"},
        tags=["rag-example"],
    )
    Settings.llm = llm
    Settings.embed_model = MockEmbedding(embed_dim=16)
    print(f"candidates: {', '.join(llm.muxer.catalog.ids())} ({'real' if REAL else 'offline'})")
    print(f"context window LlamaIndex packs for: {llm.metadata.context_window} tokens\n")

    engine = VectorStoreIndex.from_documents(DOCS).as_query_engine(similarity_top_k=2)
    for question in ("When was the Eiffel Tower completed?", "What does ModelMuxer do?"):
        response = engine.query(question)
        print(f"Q: {question}\nA: {str(response)[:100]!r} ({len(response.source_nodes)} sources)")

    chat = SimpleChatEngine.from_defaults()
    reply = chat.chat("Hi! Summarise what you can do in one sentence.")
    print(f"\nchat: {reply.response[:100]!r}")
    print("stream: ", end="")
    for token in chat.stream_chat("Thanks, and how do you choose a model?").response_gen:
        print(token, end="", flush=True)

    answer = llm.chat_with_tools([], user_msg="Prove that sqrt(2) is irrational, step by step.")
    kw = answer.additional_kwargs
    print(f"\n\nhard question -> {kw['model']} (${kw['cost_usd']:.6f})")
    print(f"  why: {kw['decision'].reason}")
    llm.close()


if __name__ == "__main__":
    main()
