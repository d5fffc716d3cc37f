"""Quickstart: route, call, stream, and read the decision.

Offline by default (the offline backend answers at real models' prices). With OPENAI_API_KEY set,
the same code calls OpenAI's gpt-4o-mini and gpt-4o for real.

    uv run python examples/quickstart.py
"""

from __future__ import annotations

import asyncio
import os

from modelmuxer import Muxer

REAL = bool(os.environ.get("OPENAI_API_KEY"))
PREFIX = "" if REAL else "offline/"
MODELS = [f"{PREFIX}openai/gpt-4o-mini", f"{PREFIX}openai/gpt-4o"]

PROMPTS = [
    "Hi! How are you today?",
    "What is the capital of Australia?",
    "Prove that there are infinitely many prime numbers, step by step.",
    "Write a Python function that returns the n-th Fibonacci number in O(log n) time.",
]


async def main() -> None:
    muxer = Muxer(MODELS, strategy="hybrid")
    print(f"candidates: {', '.join(muxer.catalog.ids())} ({'real' if REAL else 'offline'})\n")

    for prompt in PROMPTS:
        decision = muxer.route(prompt)  # no model is called
        print(f"{prompt[:60]!r}\n  -> {decision.model}\n     {decision.reason}")

    completion = await muxer.acomplete(PROMPTS[1], identity={"user": "demo-user"}, max_tokens=200)
    print(f"\nanswer from {completion.model}: {completion.text[:80]!r}")
    print(f"usage {completion.usage.total_tokens} tokens, cost ${completion.cost_usd:.6f}")

    print("\nstreaming: ", end="")
    async for chunk in muxer.astream(PROMPTS[0], max_tokens=60):
        if chunk.completion is not None:
            print(f"\n  ({chunk.completion.model}, ${chunk.completion.cost_usd:.6f})")
        else:
            print(chunk.text, end="", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
