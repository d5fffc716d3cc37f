"""LangChain adapter benchmark: ``ChatModelMuxer.ainvoke`` over a fake chat model, against that
fake model's own ``ainvoke``, interleaved in the same run (goal: at most 1.5x)."""

from __future__ import annotations

import asyncio
import gc
import itertools
import time
from typing import Any

from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from langchain_modelmuxer import ChatModelMuxer, wrap

PROMPT = "What is the capital of France?"


def _p50_us(samples_ns: list[int]) -> float:
    return sorted(samples_ns)[len(samples_ns) // 2] / 1000


async def _measure(n_calls: int) -> dict[str, Any]:
    fake = GenericFakeChatModel(messages=itertools.cycle([AIMessage(content="Paris.")]))
    chat = ChatModelMuxer(
        models=[wrap(fake, id="fake", input_price_per_mtok=0.15, output_price_per_mtok=0.6)],
        load_entrypoints=False,
    )
    for _ in range(50):  # warm up both paths (imports, caches, pydantic validators)
        await fake.ainvoke(PROMPT)
        await chat.ainvoke(PROMPT)
    direct: list[int] = []
    muxed: list[int] = []
    gc.disable()
    try:
        for _ in range(n_calls):
            t0 = time.perf_counter_ns()
            await fake.ainvoke(PROMPT)
            t1 = time.perf_counter_ns()
            await chat.ainvoke(PROMPT)
            t2 = time.perf_counter_ns()
            direct.append(t1 - t0)
            muxed.append(t2 - t1)
    finally:
        gc.enable()
        assert chat.muxer is not None
        chat.muxer.close()
    fake_p50, muxer_p50 = _p50_us(direct), _p50_us(muxed)
    return {
        "fake_ainvoke_p50_us": fake_p50,
        "chatmodelmuxer_ainvoke_p50_us": muxer_p50,
        "ratio": muxer_p50 / fake_p50,
        "overhead_p50_us": muxer_p50 - fake_p50,
        "goal_ratio": 1.5,
        "n": n_calls,
    }


def bench_langchain(n_calls: int) -> dict[str, Any]:
    """p50 latencies of the fake model's ``ainvoke`` and of ``ChatModelMuxer.ainvoke`` over it."""
    return asyncio.run(_measure(n_calls))


if __name__ == "__main__":
    print(bench_langchain(2000))
