"""LlamaIndex adapter benchmark: ``ModelMuxerLLM.achat`` over a MockLLM baseline.

The baseline is LlamaIndex's own ``MockLLM``; the routed variant is a ``ModelMuxerLLM`` whose
candidates are that same kind of MockLLM object (wrapped by the adapter's backend, two of them so
routing really chooses). Both run ``achat`` interleaved in the same run; the figure is the ratio
of p50s (goal at most 1.5x). A second routed variant answers from the offline backend instead.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.llms import MockLLM

from llama_index.llms.modelmuxer import LlamaIndexModel, ModelMuxerLLM

__all__ = ["bench_llamaindex"]

_FREE = {"input_price_per_mtok": 0.1, "output_price_per_mtok": 0.4}


def _p50_us(samples_ns: list[int]) -> float:
    return sorted(samples_ns)[len(samples_ns) // 2] / 1000


async def _run(n_calls: int) -> dict[str, Any]:
    baseline = MockLLM(max_tokens=16)
    routed = ModelMuxerLLM(
        [
            LlamaIndexModel(MockLLM(max_tokens=16), id="mock-small", quality=0.6, **_FREE),
            LlamaIndexModel(MockLLM(max_tokens=16), id="mock-large", quality=0.9, **_FREE),
        ],
        load_entrypoints=False,
    )
    offline = ModelMuxerLLM(
        ["offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"], load_entrypoints=False
    )
    messages = [ChatMessage(role="user", content="What is the capital of France?")]
    variants = {"baseline": baseline, "routed_mock": routed, "routed_offline": offline}
    times: dict[str, list[int]] = {name: [] for name in variants}
    for llm in variants.values():  # warm caches and lazy imports
        for _ in range(20):
            await llm.achat(messages)
    gc.disable()
    try:
        for _ in range(n_calls):
            for name, llm in variants.items():
                t0 = time.perf_counter_ns()
                await llm.achat(messages)
                times[name].append(time.perf_counter_ns() - t0)
    finally:
        gc.enable()
        routed.close()
        offline.close()
    p50 = {name: _p50_us(samples) for name, samples in times.items()}
    return {
        "baseline_p50_us": p50["baseline"],
        "routed_mock_p50_us": p50["routed_mock"],
        "routed_offline_p50_us": p50["routed_offline"],
        "ratio_mock": p50["routed_mock"] / p50["baseline"],
        "ratio_offline": p50["routed_offline"] / p50["baseline"],
        "n": n_calls,
    }


def bench_llamaindex(n_calls: int) -> dict[str, Any]:
    """p50 of ``achat``: MockLLM directly, and ModelMuxerLLM over MockLLMs / offline models."""
    return asyncio.run(_run(n_calls))


if __name__ == "__main__":
    print(bench_llamaindex(2000))
