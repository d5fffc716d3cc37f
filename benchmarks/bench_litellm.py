"""LiteLLM adapter benchmark: the same ``litellm.Router`` and ``mock_response`` deployments, with
ModelMuxer registered against LiteLLM's default ``simple-shuffle`` (goal: at most 1.10x the CPU
per call).

Blocks of calls alternate in one run between the plain Router, the Router with a no-op
``CustomLogger`` overriding the same hooks (what LiteLLM's own machinery costs any such plugin),
and the Router with ModelMuxer registered (only during its blocks, so the baseline runs without
it). Each block's CPU time (``time.process_time``, every thread of the process: LiteLLM logs from
worker tasks and threads) includes LiteLLM's logging of its calls, so the records ModelMuxer
builds after each call are paid for; the figure is the median block's CPU per call.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.metadata
import os
import time
from typing import Any

from modelmuxer import hookimpl
from modelmuxer.types import CallRecord

__all__ = ["bench_litellm", "litellm_goals", "render_litellm"]

# litellm (and modelmuxer_litellm, which imports it) are imported in bench_litellm(): importing
# this module (run.py does, first) stays cheap and leaves the benchmarks that run before this one
# without litellm loaded.

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
_BLOCK = 25


def _model_list() -> list[dict[str, Any]]:
    return [
        {
            "model_name": "chat",
            "litellm_params": {"model": model, "mock_response": "Paris."},
            "model_info": {"id": ident},
        }
        for ident, model in (("mini", "openai/gpt-4o-mini"), ("4o", "openai/gpt-4o"))
    ]


def _noop_logger() -> Any:
    """A CustomLogger overriding the hooks ModelMuxer's callback overrides, doing nothing: what
    LiteLLM's own callback machinery costs any such plugin."""
    from litellm.integrations.custom_logger import CustomLogger

    class NoopLogger(CustomLogger):  # type: ignore[misc]
        async def async_filter_deployments(self, model, healthy_deployments, *a, **k):  # type: ignore[no-untyped-def]
            return healthy_deployments

        async def async_post_call_success_deployment_hook(self, request_data, response, call_type):  # type: ignore[no-untyped-def]
            return response

        async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):  # type: ignore[no-untyped-def]
            return None

        async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):  # type: ignore[no-untyped-def]
            return None

    return NoopLogger()


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def _drop(callback: object) -> None:
    """Take ``callback`` off every litellm callback list it was copied into."""
    import litellm

    for name in dir(litellm):
        listed = getattr(litellm, name, None)
        if name.endswith(("callback", "callbacks")) and isinstance(listed, list):
            listed[:] = [cb for cb in listed if cb is not callback]


class _CountRecords:
    def __init__(self) -> None:
        self.count = 0

    @hookimpl
    def modelmuxer_record(self, record: CallRecord) -> None:
        self.count += 1


async def _block(
    router: Any, n: int, records: _CountRecords | None = None
) -> tuple[float, list[int]]:
    """CPU seconds for ``n`` calls (their logging done) and each call's wall time in ns."""
    walls: list[int] = []
    expected = records.count + n if records is not None else 0
    cpu0 = time.process_time()
    for _ in range(n):
        t0 = time.perf_counter_ns()
        await router.acompletion(model="chat", messages=MESSAGES)
        walls.append(time.perf_counter_ns() - t0)
    from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER

    await GLOBAL_LOGGING_WORKER.flush()
    # A few success events are dispatched outside the worker's queue: let them run inside the
    # block that caused them (an idle wait costs no CPU), so none reaches the next block.
    await asyncio.sleep(0.02)
    for _ in range(1000):
        if records is None or records.count >= expected:
            break
        await asyncio.sleep(0.001)
    return time.process_time() - cpu0, walls


async def _measure(n_calls: int) -> dict[str, Any]:
    import litellm

    from modelmuxer_litellm import register, unregister

    router = litellm.Router(model_list=_model_list())  # routing_strategy: simple-shuffle
    records = _CountRecords()
    for _ in range(2):  # warm up both configurations (imports, caches, validators)
        await _block(router, 50)
        register(router, plugins=[records], load_entrypoints=False, auto_group=None)
        await _block(router, 50, records)
        unregister(router)
    plain_cpu: list[float] = []
    muxed_cpu: list[float] = []
    noop_cpu: list[float] = []
    plain_walls: list[int] = []
    muxed_walls: list[int] = []
    noop = _noop_logger()
    records.count = 0
    gc.collect()
    for _ in range(max(n_calls // _BLOCK, 1)):
        cpu, walls = await _block(router, _BLOCK)
        plain_cpu.append(cpu / _BLOCK)
        plain_walls += walls
        litellm.callbacks.append(noop)
        cpu, _ = await _block(router, _BLOCK)
        noop_cpu.append(cpu / _BLOCK)
        _drop(noop)
        register(router, plugins=[records], load_entrypoints=False, auto_group=None)
        cpu, walls = await _block(router, _BLOCK, records)
        muxed_cpu.append(cpu / _BLOCK)
        muxed_walls += walls
        unregister(router)
    n = len(plain_walls)
    assert records.count == len(muxed_walls), "one record per routed call"
    # the median block: robust to the other processes of a shared machine
    plain_us, muxed_us = _median(plain_cpu) * 1e6, _median(muxed_cpu) * 1e6
    return {
        "plain_cpu_per_call_us": plain_us,
        "noop_logger_cpu_per_call_us": _median(noop_cpu) * 1e6,
        "modelmuxer_cpu_per_call_us": muxed_us,
        "cpu_ratio": muxed_us / plain_us,
        "added_cpu_per_call_us": muxed_us - plain_us,
        "plain_p50_us": sorted(plain_walls)[n // 2] / 1000,
        "modelmuxer_p50_us": sorted(muxed_walls)[len(muxed_walls) // 2] / 1000,
        "records": records.count,
        "goal_ratio": 1.10,
        "n": n,
        "litellm": importlib.metadata.version("litellm"),
    }


def bench_litellm(n_calls: int) -> dict[str, Any]:
    """CPU per call of a Router with and without ModelMuxer registered (``n_calls`` each)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    return asyncio.run(_measure(n_calls))


def render_litellm(result: dict[str, Any]) -> list[str]:
    """The RESULTS.md section."""
    return [
        "## LiteLLM Router (goal: at most 1.10x the CPU per call of `simple-shuffle`)",
        "",
        "| | CPU µs per call | p50 µs | ratio (CPU) |",
        "|---|---:|---:|---:|",
        f"| `Router.acompletion`, `simple-shuffle` | {result['plain_cpu_per_call_us']:.0f} "
        f"| {result['plain_p50_us']:.0f} | 1.00 |",
        f"| the same with a no-op `CustomLogger` on the same hooks "
        f"| {result['noop_logger_cpu_per_call_us']:.0f} | | "
        f"{result['noop_logger_cpu_per_call_us'] / result['plain_cpu_per_call_us']:.2f} |",
        f"| the same with ModelMuxer registered | {result['modelmuxer_cpu_per_call_us']:.0f} "
        f"| {result['modelmuxer_p50_us']:.0f} | **{result['cpu_ratio']:.2f}** |",
        "",
        f"litellm {result['litellm']}, two `mock_response` deployments, {result['n']} calls "
        f"each, blocks of {_BLOCK} "
        "alternating in one run; CPU time of the whole process (LiteLLM's logging included) "
        "per call, median block; "
        f"{result['records']} ModelMuxer records built. ModelMuxer adds "
        f"{result['added_cpu_per_call_us']:.0f} µs CPU per call; a no-op `CustomLogger` on the "
        "same hooks (LiteLLM's own cost for any such plugin) "
        f"{result['noop_logger_cpu_per_call_us'] - result['plain_cpu_per_call_us']:+.0f} µs.",
        "",
    ]


def litellm_goals(result: dict[str, Any]) -> list[tuple[str, float, float, str]]:
    """The goal checks for RESULTS.md."""
    return [
        (
            "LiteLLM Router with ModelMuxer <= 1.10x CPU per call of simple-shuffle",
            result["cpu_ratio"],
            1.10,
            "x",
        )
    ]


if __name__ == "__main__":
    print(bench_litellm(2000))
