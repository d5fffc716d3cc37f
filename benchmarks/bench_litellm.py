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
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from modelmuxer import hookimpl
from modelmuxer.types import CallRecord

__all__ = ["bench_litellm", "count_instructions", "litellm_goals", "render_litellm"]

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


def _quantile(values: list[float], q: float) -> float:
    return sorted(values)[min(int(q * len(values)), len(values) - 1)]


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
    cpu: dict[str, list[float]] = {"plain": [], "noop": [], "mux": []}
    walls: dict[str, list[int]] = {"plain": [], "noop": [], "mux": []}
    noop = _noop_logger()
    records.count = 0
    gc.collect()

    async def run(config: str) -> None:
        if config == "noop":
            litellm.callbacks.append(noop)
        elif config == "mux":
            register(router, plugins=[records], load_entrypoints=False, auto_group=None)
        seconds, block_walls = await _block(router, _BLOCK, records if config == "mux" else None)
        cpu[config].append(seconds / _BLOCK)
        walls[config] += block_walls
        if config == "noop":
            _drop(noop)
        elif config == "mux":
            unregister(router)

    orders = (("plain", "noop", "mux"), ("mux", "plain", "noop"), ("noop", "mux", "plain"))
    for round_ in range(max(n_calls // _BLOCK, 1)):
        for config in orders[round_ % 3]:  # rotated, so a drift favours no configuration
            await run(config)
    n = len(walls["plain"])
    assert records.count == len(walls["mux"]), "one record per routed call"
    # Each round's blocks ran back to back: their ratio is robust to the machine's load drifting
    # during the run; the median round's ratio is the figure (the median block is shown too).
    mux_ratios = [m / p for m, p in zip(cpu["mux"], cpu["plain"], strict=True)]
    noop_ratios = [m / p for m, p in zip(cpu["noop"], cpu["plain"], strict=True)]
    plain_us, muxed_us = _median(cpu["plain"]) * 1e6, _median(cpu["mux"]) * 1e6
    return {
        "plain_cpu_per_call_us": plain_us,
        "noop_logger_cpu_per_call_us": _median(cpu["noop"]) * 1e6,
        "modelmuxer_cpu_per_call_us": muxed_us,
        "cpu_ratio": _median(mux_ratios),
        "cpu_ratio_quartiles": [_quantile(mux_ratios, 0.25), _quantile(mux_ratios, 0.75)],
        "noop_cpu_ratio": _median(noop_ratios),
        "rounds": len(mux_ratios),
        "added_cpu_per_call_us": muxed_us - plain_us,
        "plain_p50_us": sorted(walls["plain"])[n // 2] / 1000,
        "modelmuxer_p50_us": sorted(walls["mux"])[len(walls["mux"]) // 2] / 1000,
        "records": records.count,
        "goal_ratio": 1.10,
        "n": n,
        "litellm": importlib.metadata.version("litellm"),
    }


def bench_litellm(n_calls: int) -> dict[str, Any]:
    """CPU per call of a Router with and without ModelMuxer registered (``n_calls`` each)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    return asyncio.run(_measure(n_calls))


# -- instruction counts (deterministic, where CPU time is noisy) --------------------------------

_CONFIGS = ("plain", "noop", "mux")
_ICOUNT_CALLS = (40, 140)  # two runs per configuration: their difference is 100 calls


async def _icount_calls(config: str, n: int) -> None:
    """What one counted run does: a Router in ``config``, 60 warm-up calls, then ``n`` calls."""
    import litellm

    from modelmuxer_litellm import register

    router = litellm.Router(model_list=_model_list())
    records = _CountRecords()
    if config == "noop":
        litellm.callbacks.append(_noop_logger())
    elif config == "mux":
        register(router, plugins=[records], load_entrypoints=False, auto_group=None)
    counted = records if config == "mux" else None
    await _block(router, 60, counted)
    await _block(router, n, counted)


def _instructions(config: str, n: int) -> int:
    """Instructions the whole process executes for a run of ``n`` calls (cachegrind)."""
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONHASHSEED": "0"}
    command = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--icount-child",
        config,
        str(n),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output: {done.stderr[-500:]}")
    return int(found.group(1).replace(",", ""))


def count_instructions() -> dict[str, Any] | None:
    """Instructions per call of each configuration, counted by valgrind's cachegrind (the same
    on every run, unlike CPU time on a shared machine); ``None`` without valgrind. Each
    configuration runs twice (40 and 140 calls after the same warm-up): the difference over 100
    calls leaves out start-up, imports and warm-up. Takes several minutes."""
    if shutil.which("valgrind") is None:
        return None
    jobs = [(config, n) for config in _CONFIGS for n in _ICOUNT_CALLS]
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = dict(zip(jobs, pool.map(lambda job: _instructions(*job), jobs), strict=True))
    calls = _ICOUNT_CALLS[1] - _ICOUNT_CALLS[0]
    per_call = {
        config: (counts[(config, _ICOUNT_CALLS[1])] - counts[(config, _ICOUNT_CALLS[0])]) / calls
        for config in _CONFIGS
    }
    return {
        "plain_instr_per_call": per_call["plain"],
        "noop_instr_per_call": per_call["noop"],
        "mux_instr_per_call": per_call["mux"],
        "instr_ratio": per_call["mux"] / per_call["plain"],
        "noop_instr_ratio": per_call["noop"] / per_call["plain"],
    }


def render_litellm(result: dict[str, Any]) -> list[str]:
    """The RESULTS.md section."""
    low, high = result["cpu_ratio_quartiles"]
    lines = [
        "## LiteLLM Router (goal: at most 1.10x the CPU per call of `simple-shuffle`)",
        "",
        "| | CPU µs per call | p50 µs | ratio (CPU) |",
        "|---|---:|---:|---:|",
        f"| `Router.acompletion`, `simple-shuffle` | {result['plain_cpu_per_call_us']:.0f} "
        f"| {result['plain_p50_us']:.0f} | 1.00 |",
        f"| the same with a no-op `CustomLogger` on the same hooks "
        f"| {result['noop_logger_cpu_per_call_us']:.0f} | | {result['noop_cpu_ratio']:.3f} |",
        f"| the same with ModelMuxer registered | {result['modelmuxer_cpu_per_call_us']:.0f} "
        f"| {result['modelmuxer_p50_us']:.0f} | **{result['cpu_ratio']:.3f}** "
        f"({low:.3f}-{high:.3f}) |",
        "",
        f"litellm {result['litellm']}, two `mock_response` deployments, {result['n']} calls "
        f"each, in {result['rounds']} rounds of one block of {_BLOCK} calls per configuration "
        "(the order rotated each round); CPU time of the whole process (LiteLLM's logging "
        "included) per call. The ratio is the median over rounds of a block's CPU time over "
        "the plain block of the same round (in brackets: the quartiles); the µs columns are "
        f"median blocks. {result['records']} ModelMuxer records built.",
        "",
    ]
    icount = result.get("icount")
    if icount:
        lines += [
            "Instructions per call, counted by valgrind (cachegrind): within 1-2% from run to "
            "run here (LiteLLM's logging threads and waits depend on timing), where CPU time on a "
            "shared 2-core machine varies far more. Each configuration runs 40 and "
            "140 calls after the same warm-up, in separate processes; the difference over "
            "100 calls is the figure.",
            "",
            "| | instructions per call | ratio |",
            "|---|---:|---:|",
            f"| `simple-shuffle` | {icount['plain_instr_per_call'] / 1e6:.2f} M | 1.000 |",
            f"| no-op `CustomLogger` | {icount['noop_instr_per_call'] / 1e6:.2f} M "
            f"| {icount['noop_instr_ratio']:.3f} |",
            f"| ModelMuxer registered | {icount['mux_instr_per_call'] / 1e6:.2f} M "
            f"| **{icount['instr_ratio']:.3f}** |",
            "",
        ]
    return lines


def litellm_goals(result: dict[str, Any]) -> list[tuple[str, float, float, str]]:
    """The goal checks for RESULTS.md."""
    goals = [
        (
            "LiteLLM Router with ModelMuxer <= 1.10x CPU per call of simple-shuffle",
            result["cpu_ratio"],
            1.10,
            "x",
        )
    ]
    if result.get("icount"):
        goals.append(
            (
                "LiteLLM Router with ModelMuxer <= 1.10x instructions per call of simple-shuffle",
                result["icount"]["instr_ratio"],
                1.10,
                "x",
            )
        )
    return goals


if __name__ == "__main__":
    if sys.argv[1:2] == ["--icount-child"]:  # one counted run, under valgrind
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        asyncio.run(_icount_calls(sys.argv[2], int(sys.argv[3])))
    elif sys.argv[1:2] == ["--icount"]:
        print(count_instructions())
    else:
        print(bench_litellm(2000))
