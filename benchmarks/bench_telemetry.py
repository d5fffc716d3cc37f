"""Telemetry benchmark: latency that metrics and tracing add to ``Muxer.acomplete``.

The same offline request is answered by muxers that differ only in their telemetry, measured in
interleaved blocks in one run (machine drift hits every variant alike):

- ``off``: no telemetry (the baseline);
- ``record_sink``: a plugin that only listens to ``modelmuxer_record``: the cost of building
  the call record, which any record listener causes (the ledger does in production);
- ``metrics``: Prometheus metrics on (a registry of the muxer's own);
- ``metrics_tracing``: metrics and tracing on, spans recorded by the OpenTelemetry SDK and
  exported by a ``BatchSpanProcessor`` (to an exporter that drops them);
- ``metrics_tracing_sampled``: as ``metrics_tracing``, with the sampler an application would
  use to keep one trace in ten, ``ParentBased(TraceIdRatioBased(0.1))``: nine requests in ten
  make two spans that do not record (the p50 is one of those; the mean counts both kinds);
- ``metrics_tracing_no_provider``: metrics and tracing on while no tracer provider is
  configured (the library's default state until the application sets one up): no span is made.

Reported: p50 / p99 wall time of one ``acomplete``, the p50 and the mean (below the p99) added
over ``off``, and the p50 added in CPU time of the thread. Goal: metrics and tracing add at
most 15 µs p50.

Run alone: ``python benchmarks/bench_telemetry.py [--quick]``.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from modelmuxer import Muxer, hookimpl
from modelmuxer.types import CallRecord

__all__ = ["bench_telemetry", "render_telemetry", "telemetry_goals"]

MODELS = [
    "offline/openai/gpt-4o-mini",
    "offline/openai/gpt-4o",
    "offline/anthropic/claude-haiku-4-5",
]
PROMPT = "What is the capital of France, and why did it become the capital?"
VARIANTS = (
    "off",
    "record_sink",
    "metrics",
    "metrics_tracing",
    "metrics_tracing_live",
    "metrics_tracing_sampled",
    "metrics_tracing_no_provider",
)
#: the share of traces the sampled variant keeps
SAMPLED = 0.1


class _Drop(SpanExporter):
    """Exports nowhere: the SDK's cost without a collector's."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


class _RecordSink:
    @hookimpl
    def modelmuxer_record(self, record: CallRecord) -> None:
        return None


def _percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)
    n = len(ordered)
    p99 = min(n - 1, int(n * 0.99))
    return {
        "p50_us": ordered[n // 2] / 1000,
        "p99_us": ordered[p99] / 1000,
        # the mean of the calls below the p99: a preempted call does not move it
        "mean_us": sum(ordered[:p99]) / max(p99, 1) / 1000,
        "n": n,
    }


def _provider(sampled: bool) -> TracerProvider:
    sampler = ParentBased(TraceIdRatioBased(SAMPLED)) if sampled else None
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(BatchSpanProcessor(_Drop(), max_queue_size=65536))
    return provider


def _muxers(providers: dict[str, TracerProvider]) -> dict[str, Muxer]:
    muxers = {name: Muxer(MODELS, load_entrypoints=False) for name in VARIANTS}
    muxers["record_sink"].plugins.register(_RecordSink())
    for name in VARIANTS:
        if name.startswith("metrics"):
            muxers[name].telemetry.enable_metrics()
    for name, provider in providers.items():
        live = name == "metrics_tracing_live"  # the SDK's own spans, for comparison
        muxers[name].telemetry.enable_tracing(tracer_provider=provider, live_spans=live)
    muxers["metrics_tracing_no_provider"].telemetry.enable_tracing()
    return muxers


async def _run(n_calls: int, block: int) -> dict[str, Any]:
    providers = {
        "metrics_tracing": _provider(sampled=False),
        "metrics_tracing_live": _provider(sampled=False),
        "metrics_tracing_sampled": _provider(sampled=True),
    }
    muxers = _muxers(providers)
    assert muxers["metrics_tracing_no_provider"].telemetry.tracing is not None
    no_provider = muxers["metrics_tracing_no_provider"].telemetry.tracing.tracer() is None
    requests = {name: m.request(PROMPT) for name, m in muxers.items()}
    wall: dict[str, list[int]] = {name: [] for name in VARIANTS}
    cpu: dict[str, list[int]] = {name: [] for name in VARIANTS}
    for name, muxer in muxers.items():  # warm up: caches, bound label children, the tracer
        for _ in range(300):
            await muxer.acomplete(requests[name])
    gc.disable()
    try:
        for _ in range(max(1, n_calls // block)):
            for name in VARIANTS:
                acomplete, request = muxers[name].acomplete, requests[name]
                for _ in range(block):
                    c0 = time.thread_time_ns()
                    t0 = time.perf_counter_ns()
                    await acomplete(request)
                    wall[name].append(time.perf_counter_ns() - t0)
                    cpu[name].append(time.thread_time_ns() - c0)
            gc.collect()  # between blocks, never inside one
    finally:
        gc.enable()
    for muxer in muxers.values():
        await muxer.aclose()
    for provider in providers.values():
        provider.shutdown()
    p = {name: _percentiles(samples) for name, samples in wall.items()}
    c = {name: _percentiles(samples)["p50_us"] for name, samples in cpu.items()}
    base, base_mean, base_cpu = p["off"]["p50_us"], p["off"]["mean_us"], c["off"]
    return {
        "variants": {
            name: {
                **p[name],
                "cpu_p50_us": c[name],
                "added_p50_us": p[name]["p50_us"] - base,
                "added_mean_us": p[name]["mean_us"] - base_mean,
                "added_cpu_p50_us": c[name] - base_cpu,
            }
            for name in VARIANTS
        },
        "block": block,
        "no_provider_makes_no_span": no_provider,
    }


def bench_telemetry(n_calls: int = 20_000, block: int = 200) -> dict[str, Any]:
    """p50 / p99 of ``acomplete`` per telemetry variant, and what each adds over ``off``."""
    return asyncio.run(_run(n_calls, block))


def render_telemetry(result: dict[str, Any]) -> list[str]:
    """The RESULTS.md section."""
    v = result["variants"]
    lines = [
        "## Telemetry (goal: metrics and tracing add at most 15 µs p50 to `acomplete`)",
        "",
        "| variant | p50 µs | p99 µs | added p50 µs | added mean µs | added CPU p50 µs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in VARIANTS:
        row = v[name]
        cells = [f"`{name}`", f"{row['p50_us']:.1f}", f"{row['p99_us']:.1f}"]
        for key in ("added_p50_us", "added_mean_us", "added_cpu_p50_us"):
            cells.append("" if name == "off" else f"{row[key]:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Offline backend, one model call per request, {v['off']['n']} calls per variant in "
        f"interleaved blocks of {result['block']}. `record_sink` is the cost of building the",
        "call record for any `modelmuxer_record` listener (the ledger causes it too);",
        "`metrics_tracing` records two spans per request with the OpenTelemetry SDK and a",
        "`BatchSpanProcessor` (direct spans: docs/observability.md); `metrics_tracing_live`",
        "the same with the SDK's own spans (`live_spans`); `metrics_tracing_sampled` is",
        "`metrics_tracing` with the sampler",
        f"`ParentBased(TraceIdRatioBased({SAMPLED}))` (its p50 is a request whose spans do not",
        "record; its mean counts the recorded ones too); `metrics_tracing_no_provider` is",
        "tracing switched on while no tracer provider is configured (no span is made). The mean",
        "is taken below the p99.",
        "",
    ]
    return lines


def telemetry_goals(result: dict[str, Any]) -> list[tuple[str, float, float, str]]:
    """(goal, measured, limit, unit) rows."""
    v = result["variants"]
    return [
        (
            "metrics + tracing (SDK provider, direct spans) added p50 <= 15 µs",
            v["metrics_tracing"]["added_p50_us"],
            15.0,
            "µs",
        ),
        (
            "metrics + tracing (no tracer provider) added p50 <= 15 µs",
            v["metrics_tracing_no_provider"]["added_p50_us"],
            15.0,
            "µs",
        ),
    ]


if __name__ == "__main__":
    import json

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("MODELMUXER_DISABLE_PLUGIN_AUTOLOAD", "1")
    quick = "--quick" in sys.argv
    result = bench_telemetry(4_000 if quick else 20_000)
    print(json.dumps(result, indent=2))
    print("\n".join(render_telemetry(result)))
