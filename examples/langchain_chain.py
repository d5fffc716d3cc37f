"""LangChain: swap ChatModelMuxer in for ChatOpenAI in an LCEL chain, and stream from it.

Offline by default (offline twins of real models, priced as the real ones). With OPENAI_API_KEY,
ANTHROPIC_API_KEY or MISTRAL_API_KEY set, the same chain calls those providers for real.

    uv run python examples/langchain_chain.py
"""

from __future__ import annotations

import asyncio
import os

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from langchain_modelmuxer import ChatModelMuxer

REAL_MODELS = {
    "OPENAI_API_KEY": ["openai/gpt-4o-mini", "openai/gpt-4o"],
    "ANTHROPIC_API_KEY": ["anthropic/claude-haiku-4-5"],
    "MISTRAL_API_KEY": ["mistral/mistral-small-latest"],
}
OFFLINE_MODELS = ["offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"]


def candidates() -> list[str]:
    real = [m for key, models in REAL_MODELS.items() if os.environ.get(key) for m in models]
    return real or OFFLINE_MODELS


async def main() -> None:
    llm = ChatModelMuxer(models=candidates(), strategy="hybrid", max_tokens=200)
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You answer briefly."), ("human", "{question}")]
    )
    chain = prompt | llm | StrOutputParser()
    config = {"metadata": {"user": "demo-user", "org": "demo-org"}}  # budgets apply per user

    for question in ["What is the capital of Australia?", "Prove that sqrt(2) is irrational."]:
        message = await (prompt | llm).ainvoke({"question": question}, config=config)
        meta = message.response_metadata
        print(f"{question!r}\n  -> {meta['model_name']} (${meta['cost_usd']:.6f})")
        print(f"     why: {meta['routing_reason'][:100]}")
        print(f"     answer: {message.text[:80]!r}")

    print("\nstreaming: ", end="")
    async for piece in chain.astream({"question": "Say hello in three words."}, config=config):
        print(piece, end="", flush=True)
    print()


if __name__ == "__main__":
    asyncio.run(main())
