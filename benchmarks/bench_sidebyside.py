"""Side by side on one mock workload: LiteLLM alone, LiteLLM's Router (two strategies, and with
ModelMuxer registered), ModelMuxer's own ``Muxer.acomplete`` (litellm and offline backends) and
the LangChain / LlamaIndex adapters against their frameworks' fake models.

Every configuration answers the same one-line question with a canned answer and no network:
litellm's ``mock_response``, ModelMuxer's offline backend, LangChain's
``GenericFakeChatModel``, LlamaIndex's ``MockLLM``. For each configuration and each concurrency
(1, 10, 100, 1000 asyncio tasks, no semaphore: ``c`` tasks each making calls back to back, so
``c`` calls are always in flight, in one event loop on one core):

- CPU per call: the process's CPU time (every thread: LiteLLM logs from a worker) over the
  calls at concurrency 1, LiteLLM's logging queue flushed inside the measured window;
- p50 / p99 latency of one call (at concurrency ``c`` a call waits behind the others);
- throughput: calls per second of wall time, first call to last answer (logging flushed).

Each configuration is built afresh for each block (a Router's global callbacks are removed
after its block, so no configuration pays for another's listeners) and warmed up first;
blocks run in a rotated order. The garbage collector stays on (a throughput figure without it
would flatter every configuration).

Run alone: ``python benchmarks/bench_sidebyside.py [--quick]``.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from _stats import percentiles

__all__ = ["CONFIGS", "bench_sidebyside", "render_sidebyside", "sidebyside_goals"]

PROMPT = "What is the capital of France?"
MESSAGES = [{"role": "user", "content": PROMPT}]
ANSWER = "Paris."
LEVELS = (1, 10, 100, 1000)
OFFLINE = ["offline/openai/gpt-4o-mini", "offline/openai/gpt-4o"]

Call = Callable[[], Awaitable[Any]]
Close = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Config:
    """One column of the comparison: how to build it, and whether LiteLLM runs inside it."""

    key: str
    label: str
    build: Callable[[], Awaitable[tuple[Call, Close]]]
    litellm: bool


# -- LiteLLM ----------------------------------------------------------------------------------


def _model_list() -> list[dict[str, Any]]:
    return [
        {
            "model_name": "chat",
            "litellm_params": {"model": model, "mock_response": ANSWER},
            "model_info": {"id": ident},
        }
        for ident, model in (("mini", "openai/gpt-4o-mini"), ("4o", "openai/gpt-4o"))
    ]


_CALLBACK_SUFFIXES = ("callback", "callbacks")


def _callback_lists() -> dict[str, list[Any]]:
    import litellm

    return {
        name: list(value)
        for name in dir(litellm)
        if name.endswith(_CALLBACK_SUFFIXES) and isinstance(value := getattr(litellm, name), list)
    }


def _restore_callbacks(saved: dict[str, list[Any]]) -> None:
    """Put litellm's global callback lists back as they were (a Router's strategy handler, e.g.
    cost-based routing's, stays there after the Router is dropped and would see every call)."""
    import litellm

    for name, value in saved.items():
        getattr(litellm, name)[:] = value


async def _flush_litellm() -> None:
    from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER

    await GLOBAL_LOGGING_WORKER.flush()
    await asyncio.sleep(0)


async def _bare() -> tuple[Call, Close]:
    import litellm

    saved = _callback_lists()

    def call() -> Awaitable[Any]:
        return litellm.acompletion(
            model="openai/gpt-4o-mini", messages=MESSAGES, mock_response=ANSWER
        )

    async def close() -> None:
        _restore_callbacks(saved)

    return call, close


def _router(strategy: str | None = None, *, muxed: bool = False) -> Callable[[], Awaitable[Any]]:
    async def build() -> tuple[Call, Close]:
        import litellm

        saved = _callback_lists()
        kwargs = {} if strategy is None else {"routing_strategy": strategy}
        router = litellm.Router(model_list=_model_list(), **kwargs)
        if muxed:
            from modelmuxer_litellm import register

            register(router, load_entrypoints=False, auto_group=None)

        def call() -> Awaitable[Any]:
            return router.acompletion(model="chat", messages=MESSAGES)

        async def close() -> None:
            if muxed:
                from modelmuxer_litellm import unregister

                unregister(router)
            _restore_callbacks(saved)

        return call, close

    return build


# -- ModelMuxer -------------------------------------------------------------------------------


def _muxer(models: list[Any], **settings: Any) -> Callable[[], Awaitable[Any]]:
    async def build() -> tuple[Call, Close]:
        from modelmuxer import Muxer
        from modelmuxer.config import MuxerSettings

        saved = _callback_lists() if "litellm" in sys.modules else {}
        muxer = Muxer(settings=MuxerSettings(models=models, load_entrypoints=False, **settings))
        request = muxer.request(PROMPT, identity={"user": "ann", "org": "acme"})

        def call() -> Awaitable[Any]:
            return muxer.acomplete(request)

        async def close() -> None:
            await muxer.aclose()
            if saved:
                _restore_callbacks(saved)

        return call, close

    return build


_IN_MEMORY = {
    "budgets": {"budgets": [{"scope": "org", "subject": "*", "limit_usd": "1e9"}]},
    "limits": {"limits": [{"scope": "user", "subject": "*", "amount": 10**9, "window_s": 60}]},
}
_LITELLM_MODELS = [
    {"id": model, "deployment": {"extra": {"mock_response": ANSWER}}}
    for model in ("openai/gpt-4o-mini", "openai/gpt-4o")
]


# -- LangChain and LlamaIndex -----------------------------------------------------------------


def _langchain(muxed: bool) -> Callable[[], Awaitable[Any]]:
    async def build() -> tuple[Call, Close]:
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage

        fake = GenericFakeChatModel(messages=itertools.cycle([AIMessage(content=ANSWER)]))
        if not muxed:
            return lambda: fake.ainvoke(PROMPT), _nothing
        from langchain_modelmuxer import ChatModelMuxer, wrap

        chat = ChatModelMuxer(
            models=[wrap(fake, id="fake", input_price_per_mtok=0.15, output_price_per_mtok=0.6)],
            load_entrypoints=False,
        )

        async def close() -> None:
            assert chat.muxer is not None
            await chat.muxer.aclose()

        return lambda: chat.ainvoke(PROMPT), close

    return build


def _llamaindex(muxed: bool) -> Callable[[], Awaitable[Any]]:
    async def build() -> tuple[Call, Close]:
        from llama_index.core.base.llms.types import ChatMessage
        from llama_index.core.llms import MockLLM

        messages = [ChatMessage(role="user", content=PROMPT)]
        if not muxed:
            mock = MockLLM(max_tokens=16)
            return lambda: mock.achat(messages), _nothing
        from llama_index.llms.modelmuxer import LlamaIndexModel, ModelMuxerLLM

        prices = {"input_price_per_mtok": 0.1, "output_price_per_mtok": 0.4}
        llm = ModelMuxerLLM(
            [
                LlamaIndexModel(MockLLM(max_tokens=16), id="mock-small", quality=0.6, **prices),
                LlamaIndexModel(MockLLM(max_tokens=16), id="mock-large", quality=0.9, **prices),
            ],
            load_entrypoints=False,
        )

        async def close() -> None:
            llm.close()

        return lambda: llm.achat(messages), close

    return build


async def _nothing() -> None:
    return None


CONFIGS: tuple[Config, ...] = (
    Config("litellm_bare", "`litellm.acompletion` (no Router)", _bare, True),
    Config("router_shuffle", "`Router`, `simple-shuffle`", _router(), True),
    Config("router_cost", "`Router`, `cost-based-routing`", _router("cost-based-routing"), True),
    Config("router_muxer", "`Router`, `simple-shuffle` + ModelMuxer", _router(muxed=True), True),
    Config("muxer_litellm", "`Muxer.acomplete`, litellm backend", _muxer(_LITELLM_MODELS), True),
    Config("muxer_offline", "`Muxer.acomplete`, offline backend", _muxer(OFFLINE), False),
    Config(
        "muxer_offline_memory",
        "`Muxer.acomplete`, offline, budgets + rate limits in memory",
        _muxer(OFFLINE, **_IN_MEMORY),
        False,
    ),
    Config("langchain_fake", "LangChain `GenericFakeChatModel.ainvoke`", _langchain(False), False),
    Config("langchain_muxer", "`ChatModelMuxer.ainvoke` over that fake", _langchain(True), False),
    Config("llamaindex_mock", "LlamaIndex `MockLLM.achat`", _llamaindex(False), False),
    Config(
        "llamaindex_muxer", "`ModelMuxerLLM.achat` over two `MockLLM`s", _llamaindex(True), False
    ),
)


# -- measuring --------------------------------------------------------------------------------


async def _level(call: Call, concurrency: int, total: int, flush: bool) -> dict[str, float]:
    """``total`` calls by ``concurrency`` tasks: latencies, wall time and CPU time."""
    latencies: list[int] = []
    per_task = max(1, total // concurrency)

    async def worker() -> None:
        for _ in range(per_task):
            t0 = time.perf_counter_ns()
            await call()
            latencies.append(time.perf_counter_ns() - t0)

    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if concurrency == 1:
        await worker()
    else:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    if flush:
        await _flush_litellm()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    calls = len(latencies)
    return {
        **percentiles(latencies),
        "cpu_per_call_us": cpu / calls * 1e6,
        "calls_per_s": calls / wall,
        "calls": calls,
    }


def _calls(config: Config, concurrency: int, scale: float) -> int:
    """Calls per block: fewer through LiteLLM (milliseconds each), at least one full wave."""
    base = {1: 300, 10: 400, 100: 1000, 1000: 2000}[concurrency]
    if config.litellm:
        base = {1: 150, 10: 200, 100: 400, 1000: 1000}[concurrency]
    return max(concurrency, int(base * scale))


async def _run(scale: float, keys: tuple[str, ...] | None) -> dict[str, Any]:
    configs = [c for c in CONFIGS if keys is None or c.key in keys]
    out: dict[str, Any] = {c.key: {} for c in configs}
    for index, concurrency in enumerate(LEVELS):
        shift = index % len(configs)
        for config in [*configs[shift:], *configs[:shift]]:  # rotated each level
            call, close = await config.build()
            try:
                for _ in range(20 if config.litellm else 100):
                    await call()
                if config.litellm:
                    await _flush_litellm()
                calls = _calls(config, concurrency, scale)
                out[config.key][str(concurrency)] = await _level(
                    call, concurrency, calls, config.litellm
                )
            finally:
                await close()
    return out


def bench_sidebyside(scale: float = 1.0, keys: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Every configuration at every concurrency; ``scale`` multiplies the calls per block."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    return asyncio.run(_run(scale, keys))


# -- reporting --------------------------------------------------------------------------------


def overheads(result: dict[str, Any]) -> dict[str, float]:
    """What each layer adds, from one run's concurrency-1 figures (CPU µs per call and p50)."""

    def cpu(key: str) -> float:
        return float(result[key]["1"]["cpu_per_call_us"])

    def p50(key: str) -> float:
        return float(result[key]["1"]["p50_us"])

    out = {
        "router_over_bare_cpu_us": cpu("router_shuffle") - cpu("litellm_bare"),
        "router_over_bare_p50_us": p50("router_shuffle") - p50("litellm_bare"),
        "muxer_on_router_cpu_us": cpu("router_muxer") - cpu("router_shuffle"),
        "muxer_on_router_cpu_ratio": cpu("router_muxer") / cpu("router_shuffle"),
        "muxer_litellm_over_bare_cpu_us": cpu("muxer_litellm") - cpu("litellm_bare"),
        "muxer_litellm_over_bare_p50_us": p50("muxer_litellm") - p50("litellm_bare"),
        "offline_min_calls_per_s": min(
            float(result["muxer_offline"][str(c)]["calls_per_s"]) for c in LEVELS
        ),
        # one core's worth: calls per second of CPU time (robust to the machine's other load)
        "offline_min_calls_per_cpu_s": min(
            1e6 / float(result["muxer_offline"][str(c)]["cpu_per_call_us"]) for c in LEVELS
        ),
    }
    return out


def _cell(row: dict[str, Any], ranges: dict[str, Any] | None, key: str, fmt: str) -> str:
    text = fmt.format(row[key])
    span = (ranges or {}).get(key)
    if span:
        text += f" ({fmt.format(span[0])}–{fmt.format(span[1])})"
    return text


def render_sidebyside(
    result: dict[str, Any], ranges: dict[str, Any] | None, extra: dict[str, Any]
) -> list[str]:
    """The RESULTS.md section; ``ranges`` the min-max over repeats (``None``: one run),
    ``extra`` the overheads (:func:`overheads`, summarised over repeats) and ModelMuxer's
    ``acomplete`` overhead from the core benchmark."""
    ranges = ranges or {}
    lines = [
        "## Side by side: LiteLLM, its Router, ModelMuxer and the adapters on one mock workload",
        "",
        "| configuration | CPU µs per call | p50 µs | p99 µs | calls/s at 1 | at 10 | at 100 "
        "| at 1000 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for config in CONFIGS:
        if config.key not in result:
            continue
        rows, spans = result[config.key], ranges.get(config.key) or {}
        one, one_span = rows["1"], spans.get("1")
        lines.append(
            f"| {config.label} | {_cell(one, one_span, 'cpu_per_call_us', '{:.0f}')} "
            f"| {_cell(one, one_span, 'p50_us', '{:.0f}')} "
            f"| {one['p99_us']:.0f} | "
            + " | ".join(f"{rows[str(c)]['calls_per_s']:.0f}" for c in LEVELS)
            + " |"
        )
    lines += [
        "",
        "Latency under load (p50 / p99 µs of one call while `c` calls are in flight):",
        "",
        "| configuration | c = 10 | c = 100 | c = 1000 |",
        "|---|---:|---:|---:|",
    ]
    for config in CONFIGS:
        if config.key not in result:
            continue
        rows = result[config.key]
        lines.append(
            f"| {config.label} | "
            + " | ".join(
                f"{rows[str(c)]['p50_us']:.0f} / {rows[str(c)]['p99_us']:.0f}" for c in LEVELS[1:]
            )
            + " |"
        )
    o = extra
    calls = {c: result["muxer_offline"][str(c)]["calls"] for c in LEVELS}
    lines += [
        "",
        f"What each layer adds (concurrency 1, median of the repeats): LiteLLM's Router over a "
        f"bare `litellm.acompletion` **{o['router_over_bare_cpu_us']:.0f} µs** CPU per call "
        f"({o['router_over_bare_p50_us']:.0f} µs p50); ModelMuxer on that Router "
        f"{o['muxer_on_router_cpu_us']:.0f} µs CPU ({o['muxer_on_router_cpu_ratio']:.2f}x; the "
        "paired measurement in the LiteLLM section below is the precise one); "
        f"`Muxer.acomplete` over the offline backend **{o['acomplete_added_p50_us']:.0f} µs** "
        f"p50 over the backend itself (the core section): "
        f"**{o['router_vs_muxer']:.0f}x** less than the Router adds. "
        f"`Muxer.acomplete` with the litellm backend costs "
        f"{o['muxer_litellm_over_bare_cpu_us']:.0f} µs CPU more than the bare litellm call it "
        "makes.",
        "",
        f"Throughput of `Muxer.acomplete` on the offline backend, one core: at least "
        f"**{o['offline_min_calls_per_cpu_s']:.0f}** calls per CPU-second at every "
        f"concurrency ({o['offline_min_calls_per_s']:.0f} per wall-clock second, which "
        "counts the time other processes on this shared machine held the core).",
        "",
        "Values in brackets: min–max over the repeats. Calls per block: "
        + ", ".join(f"{calls[c]} at {c}" for c in LEVELS)
        + " without LiteLLM, fewer through LiteLLM (milliseconds each); every block has its "
        "own warm-up. One event loop, one core: throughput at 1000 in flight is what one "
        "process serves, not what a server with many workers would.",
        "",
    ]
    return lines


def sidebyside_goals(extra: dict[str, Any]) -> list[tuple[str, float, float, str, str]]:
    """(goal, measured, limit, unit, direction) rows."""
    return [
        (
            "LiteLLM Router's overhead over bare litellm >= 10x `Muxer.acomplete`'s (offline)",
            extra["router_vs_muxer"],
            10.0,
            "x",
            ">=",
        ),
        (
            "routed calls per CPU-second (one core), offline backend, in memory "
            "(lowest of c = 1..1000)",
            extra["offline_min_calls_per_cpu_s"],
            5000.0,
            "/s",
            ">=",
        ),
    ]


if __name__ == "__main__":
    import json

    quick = "--quick" in sys.argv
    outcome = bench_sidebyside(0.2 if quick else 1.0)
    print(json.dumps(outcome, indent=2))
