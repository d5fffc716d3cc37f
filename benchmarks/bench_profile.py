"""Hot-path profiles: where the time of a call goes, by package and by function.

Profiler: ``cProfile`` (the standard library's deterministic profiler). pyinstrument is not in
the project's lock and py-spy is not available here; cProfile counts every call exactly, which
suits a flat table per call, but it adds a fixed cost to every Python call, so its absolute µs
are inflated (each section gives the unprofiled figure beside the profiled one). Shares between
packages and the ranking of functions are what to read.

Profiled paths:

- ``Muxer.acomplete`` over the offline backend (3 candidates, hybrid);
- ``Muxer.route`` with 10 candidates (hybrid), the decision alone;
- ``Muxer.acomplete`` with budgets and rate limits in memory (the bookkeeping);
- ``litellm.Router.acompletion`` with ModelMuxer registered against the plain Router: the time
  spent in ModelMuxer's frames, and the CPU the Router spends in all;
- ``ChatModelMuxer.ainvoke`` over LangChain's fake chat model.

Run alone: ``python benchmarks/bench_profile.py``.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import itertools
import os
import pstats
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["bench_profile", "render_profile"]

_TOP = 12
_OFFLINE = [
    "offline/openai/gpt-4o-mini",
    "offline/openai/gpt-4o",
    "offline/anthropic/claude-haiku-4-5",
]
_PROMPT = "What is the capital of France, and why did it become the capital?"

_PACKAGES = (
    ("/modelmuxer-litellm/", "modelmuxer_litellm (adapter)"),
    ("/langchain-modelmuxer/", "langchain_modelmuxer (adapter)"),
    ("/llama-index-llms-modelmuxer/", "llama_index.llms.modelmuxer (adapter)"),
    ("/packages/modelmuxer/src/modelmuxer/", "modelmuxer (core)"),
)


def _package(filename: str) -> str:
    for marker, name in _PACKAGES:
        if marker in filename:
            return name
    found = re.search(r"site-packages/([A-Za-z0-9_]+)", filename)
    if found:
        return found.group(1)
    if filename.startswith("~") or filename.startswith("<built-in"):
        return "builtins (C)"
    if "/asyncio/" in filename:
        return "asyncio"
    if "/lib/python3" in filename or filename.startswith("<frozen"):
        return "stdlib"
    return "other"


def _short_name(key: tuple[str, int, str]) -> str:
    filename, line, func = key
    if filename == "~":
        return func
    for marker, _ in _PACKAGES:
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    else:
        found = re.search(r"site-packages/(.+)", filename)
        if found:
            filename = found.group(1)
        elif "/lib/python3" in filename:
            filename = filename.split("/lib/", 1)[1]
    return f"{filename}:{line}({func})"


_NOT_CUMULATIVE = ("asyncio", "stdlib", "other", "builtins (C)")


def _summarise(
    profile: cProfile.Profile, calls: int, focus: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """Per-package own time and the top functions (own and cumulative µs per call).

    ``focus``: keep only functions whose package or path holds one of these strings. The
    cumulative table leaves out the event loop and the benchmark's own frames (they contain
    everything)."""
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    by_package: dict[str, float] = {}
    rows = []
    total = 0.0
    for key, (_, ncalls, tottime, cumtime, _) in stats.items():
        package = _package(key[0])
        by_package[package] = by_package.get(package, 0.0) + tottime
        total += tottime
        name = _short_name(key)
        if focus is None or any(f in package or f in name for f in focus):
            rows.append(
                {
                    "function": name,
                    "package": package,
                    "calls_per_call": ncalls / calls,
                    "own_us": tottime / calls * 1e6,
                    "cumulative_us": cumtime / calls * 1e6,
                }
            )
    rows.sort(key=lambda r: r["own_us"], reverse=True)
    by_cum = sorted(
        (r for r in rows if r["package"] not in _NOT_CUMULATIVE),
        key=lambda r: r["cumulative_us"],
        reverse=True,
    )
    return {
        "profiled_us_per_call": total / calls * 1e6,
        "packages": {
            name: seconds / calls * 1e6
            for name, seconds in sorted(by_package.items(), key=lambda kv: -kv[1])
        },
        "top_own": rows[:_TOP],
        "top_cumulative": by_cum[:_TOP],
        "calls": calls,
    }


async def _profiled(call: Callable[[], Awaitable[Any]], calls: int, warm: int) -> tuple[Any, float]:
    """Profile ``calls`` awaited calls after ``warm`` unprofiled ones; also the unprofiled CPU
    per call (µs, the process's CPU time) measured just before."""
    for _ in range(warm):
        await call()
    gc.collect()
    c0 = time.process_time()
    for _ in range(calls):
        await call()
    plain_us = (time.process_time() - c0) / calls * 1e6
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(calls):
        await call()
    profile.disable()
    return profile, plain_us


async def _acomplete(calls: int) -> dict[str, Any]:
    from modelmuxer import Muxer

    muxer = Muxer(_OFFLINE, load_entrypoints=False)
    request = muxer.request(_PROMPT)
    profile, plain = await _profiled(lambda: muxer.acomplete(request), calls, 300)
    return {**_summarise(profile, calls), "unprofiled_us_per_call": plain}


async def _bookkeeping(calls: int) -> dict[str, Any]:
    from modelmuxer import Muxer
    from modelmuxer.config import MuxerSettings

    settings = MuxerSettings(
        models=_OFFLINE,
        load_entrypoints=False,
        budgets={"budgets": [{"scope": "org", "subject": "*", "limit_usd": "1e9"}]},
        limits={"limits": [{"scope": "user", "subject": "*", "amount": 10**9, "window_s": 60}]},
    )
    muxer = Muxer(settings=settings)
    request = muxer.request(_PROMPT, identity={"user": "ann", "org": "acme"})
    plain_muxer = Muxer(_OFFLINE, load_entrypoints=False)
    plain_request = plain_muxer.request(_PROMPT, identity={"user": "ann", "org": "acme"})
    _, without = await _profiled(lambda: plain_muxer.acomplete(plain_request), calls, 300)
    profile, plain = await _profiled(lambda: muxer.acomplete(request), calls, 300)
    await muxer.aclose()
    return {
        **_summarise(profile, calls, ("budgets/", "limits/")),
        "unprofiled_us_per_call": plain,
        "unprofiled_without_us_per_call": without,
    }


async def _telemetry(calls: int) -> dict[str, Any]:
    from bench_telemetry import _Drop
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from modelmuxer import Muxer

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_Drop(), max_queue_size=65536))
    plain = Muxer(_OFFLINE, load_entrypoints=False)
    muxer = Muxer(_OFFLINE, load_entrypoints=False)
    muxer.telemetry.enable_metrics()
    muxer.telemetry.enable_tracing(tracer_provider=provider)
    plain_request, request = plain.request(_PROMPT), muxer.request(_PROMPT)
    _, without = await _profiled(lambda: plain.acomplete(plain_request), calls, 300)
    profile, with_ = await _profiled(lambda: muxer.acomplete(request), calls, 300)
    await muxer.aclose()
    provider.shutdown()
    return {
        **_summarise(profile, calls, ("opentelemetry", "prometheus", "telemetry/")),
        "unprofiled_us_per_call": with_,
        "unprofiled_without_us_per_call": without,
    }


def _route(calls: int) -> dict[str, Any]:
    from bench_core import prompt_of, synthetic_cards

    from modelmuxer import Muxer

    muxer = Muxer(synthetic_cards(10), load_entrypoints=False)
    request = muxer.request(prompt_of(100))
    for _ in range(300):
        muxer.route(request)
    c0 = time.process_time()
    for _ in range(calls):
        muxer.route(request)
    plain = (time.process_time() - c0) / calls * 1e6
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(calls):
        muxer.route(request)
    profile.disable()
    return {**_summarise(profile, calls), "unprofiled_us_per_call": plain}


async def _router(calls: int) -> dict[str, Any]:
    import litellm
    from bench_litellm import _block, _CountRecords, _model_list

    from modelmuxer_litellm import register, unregister

    router = litellm.Router(model_list=_model_list())
    records = _CountRecords()
    await _block(router, 50)
    register(router, plugins=[records], load_entrypoints=False, auto_group=None)
    await _block(router, 50, records)
    out: dict[str, Any] = {}
    for name in ("plain", "modelmuxer"):
        if name == "plain":
            unregister(router)
        else:
            register(router, plugins=[records], load_entrypoints=False, auto_group=None)
        counted = records if name == "modelmuxer" else None
        cpu, _ = await _block(router, calls, counted)
        profile = cProfile.Profile()
        profile.enable()
        await _block(router, calls, counted)
        profile.disable()
        summary = _summarise(profile, calls, ("modelmuxer",) if name == "modelmuxer" else None)
        out[name] = {**summary, "unprofiled_us_per_call": cpu / calls * 1e6}
    unregister(router)
    return out


async def _langchain(calls: int) -> dict[str, Any]:
    from langchain_core.language_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from langchain_modelmuxer import ChatModelMuxer, wrap

    fake = GenericFakeChatModel(messages=itertools.cycle([AIMessage(content="Paris.")]))
    chat = ChatModelMuxer(
        models=[wrap(fake, id="fake", input_price_per_mtok=0.15, output_price_per_mtok=0.6)],
        load_entrypoints=False,
    )
    _, fake_us = await _profiled(lambda: fake.ainvoke(_PROMPT), calls, 100)
    profile, plain = await _profiled(lambda: chat.ainvoke(_PROMPT), calls, 100)
    assert chat.muxer is not None
    await chat.muxer.aclose()
    return {
        **_summarise(profile, calls),
        "unprofiled_us_per_call": plain,
        "fake_unprofiled_us_per_call": fake_us,
    }


def bench_profile(quick: bool = False) -> dict[str, Any]:
    """Profiles of the hot paths (a few seconds each)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    n = 1000 if quick else 5000
    return {
        "profiler": "cProfile",
        "acomplete": asyncio.run(_acomplete(n)),
        "route": _route(n),
        "bookkeeping": asyncio.run(_bookkeeping(n)),
        "telemetry": asyncio.run(_telemetry(n)),
        "langchain": asyncio.run(_langchain(n // 2)),
        "router": asyncio.run(_router(100 if quick else 400)),
    }


# -- RESULTS.md -------------------------------------------------------------------------------


def _packages_line(section: dict[str, Any], limit: int = 6) -> str:
    total = section["profiled_us_per_call"]
    parts = [
        f"{name} {us / total:.0%}"
        for name, us in itertools.islice(section["packages"].items(), limit)
    ]
    return "Own time by package: " + ", ".join(parts) + "."


def _table(rows: list[dict[str, Any]], sort: str) -> list[str]:
    out = [
        f"| function ({sort}) | calls per call | own µs | cumulative µs |",
        "|---|---:|---:|---:|",
    ]
    for row in rows:
        out.append(
            f"| `{row['function']}` | {row['calls_per_call']:.1f} | {row['own_us']:.1f} "
            f"| {row['cumulative_us']:.1f} |"
        )
    return out


def _verdict(met: bool, near: bool = False) -> str:
    if near:
        said = "Met" if met else "Not met"
        return (
            f"{said}, within 1% of the goal (one run here can land on either side); what was done"
        )
    return "Met; what it took" if met else "What would move it"


def _near(value: float, goal: float) -> bool:
    """Within 1% of ``goal``: then one run's pass or fail is this machine's noise."""
    return abs(value - goal) <= 0.01 * goal


def render_profile(result: dict[str, Any], goals: dict[str, Any]) -> list[str]:
    """The RESULTS.md section; ``goals`` holds this run's figures the text refers to."""
    acc, route, books = result["acomplete"], result["route"], result["bookkeeping"]
    lc, router = result["langchain"], result["router"]
    mux, plain = router["modelmuxer"], router["plain"]
    books_added = books["unprofiled_us_per_call"] - books["unprofiled_without_us_per_call"]
    tel = result["telemetry"]
    validate_us = sum(r["own_us"] for r in route["top_own"] if "validate_python" in r["function"])
    inflation = route["profiled_us_per_call"] / route["unprofiled_us_per_call"]
    added = mux["unprofiled_us_per_call"] - plain["unprofiled_us_per_call"]
    otel_share = tel["packages"].get("opentelemetry", 0.0) / tel["profiled_us_per_call"]
    mm_frames = sum(r["own_us"] for r in mux["top_own"])
    hooks = {r["function"]: r["cumulative_us"] for r in mux["top_cumulative"]}
    hook_us = sum(us for name, us in hooks.items() if "callback.py" in name and "(async_" in name)
    lines = [
        "## Hot-path profiles",
        "",
        f"Profiler: **{result['profiler']}** (pyinstrument is not in the lock, py-spy not "
        "available). cProfile adds a fixed cost to every Python call, so profiled µs run "
        "2-3x the real ones (each path gives its unprofiled CPU per call); read the shares "
        "and the ranking. Own µs: in the function itself; cumulative: with what it calls.",
        "",
        f"### `Muxer.acomplete`, offline backend: {acc['unprofiled_us_per_call']:.0f} µs CPU "
        f"per call unprofiled ({acc['profiled_us_per_call']:.0f} profiled)",
        "",
        _packages_line(acc),
        "",
        *_table(acc["top_own"], "by own time"),
        "",
        f"### `Muxer.route`, 10 candidates: {route['unprofiled_us_per_call']:.0f} µs "
        f"unprofiled ({route['profiled_us_per_call']:.0f} profiled)",
        "",
        _packages_line(route),
        "",
        *_table(route["top_own"], "by own time"),
        "",
        f"{_verdict(goals['route10'] <= 50)} (goal 50 µs, this run {goals['route10']:.1f} µs "
        "for the slowest strategy): the per-card data routing reads is copied into a tuple "
        "once per catalog, the common hard constraints are checked inline (or skipped when the "
        "prompt fits the smallest window), the estimates, scores and ranking take one pass, "
        "and the cascade's chain search is linear. What is left is spread thin: the query "
        f"analysis (a fixed {goals['analyze_us']:.0f} µs, the scaling section), one pydantic "
        f"validation of the `Decision` with a row per candidate (`validate_python`: "
        f"{validate_us:.0f} µs of C per call here, not inflated by the profiler), the "
        "strategy's arithmetic and its reason string. Building the `Decision` without "
        "validating it would be the largest single step left; it would let a third-party "
        "strategy's bad row through unchecked, so it is not done.",
        "",
        f"### Bookkeeping: `Muxer.acomplete` with budgets and rate limits in memory: "
        f"{books['unprofiled_us_per_call']:.0f} µs CPU per call, against "
        f"{books['unprofiled_without_us_per_call']:.0f} µs without them",
        "",
        _packages_line(books),
        "",
        *_table(books["top_cumulative"], "by cumulative time"),
        "",
        f"What would move it ({books_added:.0f} µs "
        "added): which budgets and limits apply to an identity is already worked out once "
        "and reused until a budget changes or a window rolls over (the guard's `lines` is "
        "that cache's read). What is left is spread over the guard's steps: the in-memory store's "
        "reserve and settle (a lock and the lease's bookkeeping: what the budget's guarantee "
        "costs), the `Decimal` to integer nano-dollar conversions of each amount "
        "(`nano_ceil`), a snapshot of each budget's last-seen state for each routing hook "
        "that reads it (`last_seen`: the cost lean, the candidate filter and the budget "
        "alerts' check after the call each take one), "
        "and the limiter's admission and count. One snapshot per request shared by those "
        "hooks, and amounts kept as integers from the card's price on, would cut the part "
        "outside the store; the store's own pair is the floor.",
        "",
        "### Telemetry: `Muxer.acomplete` with metrics and tracing (OpenTelemetry SDK, "
        f"direct spans): "
        f"{tel['unprofiled_us_per_call']:.0f} µs CPU per call, against "
        f"{tel['unprofiled_without_us_per_call']:.0f} µs with telemetry off",
        "",
        _packages_line(tel, limit=8),
        "",
        *_table(tel["top_cumulative"], "telemetry frames, by cumulative time"),
        "",
        f"{_verdict(goals['tracing_added_us'] <= 15)} (goal 15 µs added; this run "
        f"{goals['tracing_added_us']:.0f} µs with direct spans, "
        f"{goals['no_provider_added_us']:.0f} µs with tracing on and no tracer provider, "
        f"{goals['metrics_added_us']:.0f} µs for metrics alone): the call record, built once "
        "per call for every `modelmuxer_record` listener without validating again what was "
        f"validated, costs {goals['record_added_us']:.0f} µs (the `record_sink` row); the rest "
        "of the metrics' part is two hook calls and the counting. With the SDK's batch "
        "processor, spans are direct (built whole when they end, without the SDK's per-span "
        f"machinery; its own spans, the `metrics_tracing_live` row, cost "
        f"{goals['live_added_us']:.0f} µs): the OpenTelemetry SDK still takes "
        f"{otel_share:.0%} of the profiled time (above), for each span's ids and "
        "`SpanContext`, the context made current around the model call and the batch "
        "processor's `on_end` (the stock samplers' decisions are read from their "
        "configuration, and the ended span is handed over as it is). What is left beyond "
        "that is ModelMuxer's part of two spans: the wrapper of the model call (called by "
        "the pipeline itself when it is the only one, without pluggy's machinery), the "
        "attributes of the request and of the call. Two spans per request are what the issue "
        "asks for, and with the metrics' part they cost more than the goal even as plain "
        "data: reaching it would take spans made outside Python (a native span recorder) or "
        "fewer spans (one per request, the attempts as its events), which the OpenTelemetry "
        "GenAI conventions do not describe. A sampler in the application's tracer provider "
        "(`ParentBased(TraceIdRatioBased)`, the `metrics_tracing_sampled` row) cuts the cost "
        "for the traces it drops.",
        "",
        f"### LiteLLM Router with ModelMuxer: {mux['unprofiled_us_per_call']:.0f} µs CPU per "
        f"call against {plain['unprofiled_us_per_call']:.0f} µs without (unprofiled, "
        "this profile's own blocks)",
        "",
        f"ModelMuxer's own frames (the adapter and the core) take **{mm_frames:.0f} µs** "
        f"profiled per call; its four LiteLLM hooks together {hook_us:.0f} µs cumulative "
        f"(profiled), about {hook_us / inflation:.0f} µs unprofiled (at the {inflation:.1f}x "
        f"inflation `route()` shows above) of the {added:.0f} µs measured. The rest is spent "
        "outside ModelMuxer's frames: LiteLLM dispatching to a callback on these hooks (a "
        f"no-op `CustomLogger` on the same hooks costs {goals['noop_added_us']:.0f} µs, the "
        "LiteLLM section below) and LiteLLM's own work on what the hooks return; this "
        "profile does not split that remainder further.",
        "",
        *_table(mux["top_cumulative"], "ModelMuxer frames, by cumulative time"),
        "",
        f"{_verdict(goals['litellm_ratio'] <= 1.10, _near(goals['litellm_ratio'], 1.10))} "
        f"(goal 1.10x, this run {goals['litellm_ratio']:.3f}x): "
        "ModelMuxer's share is its deployment filter (reading LiteLLM's request into a "
        "`Request` and routing it: the same `route()` as above) and the call record it "
        "builds from LiteLLM's logging payload. Already cut: identities, empty routing "
        "options and the router of each deployment set are reused, the record is built "
        "without validating again what was validated (`CallRecord.trusted`), LiteLLM's "
        "naive local times are converted with an offset cached per quarter hour. What is "
        "left is `route()` itself (the query analysis, the `Decision`'s validation) and the "
        "`Request`'s validation, and it runs cold: between two requests LiteLLM's own call "
        "pushes ModelMuxer's code and data out of the CPU caches, so the same steps take "
        "about twice as long inside a Router call as in a tight loop (measured with a "
        "thread-time wrapper around each hook while writing this). Fewer steps per request "
        "is the lever, not faster ones; LiteLLM's own per-callback cost (the no-op row) is "
        "out of ModelMuxer's hands.",
        "",
        f"### `ChatModelMuxer.ainvoke` over LangChain's fake model: "
        f"{lc['unprofiled_us_per_call']:.0f} µs CPU per call, against "
        f"{lc['fake_unprofiled_us_per_call']:.0f} µs for the fake model's own `ainvoke`",
        "",
        _packages_line(lc),
        "",
        *_table(lc["top_cumulative"], "by cumulative time"),
        "",
        f"{_verdict(goals['langchain_ratio'] <= 1.5)} (goal 1.5x, this run "
        f"{goals['langchain_ratio']:.3f}x): when nothing needs LangChain's cache path (no "
        "cache, no streaming, no callbacks of the wrapped model's own) the adapter calls the "
        "wrapped model's `_agenerate` directly, with its rate limiter and response metadata, "
        "and computes signatures and routing options once. What `ChatModelMuxer.ainvoke` "
        "costs is LangChain's own `ainvoke` machinery for `ChatModelMuxer` (callbacks, run "
        "manager, message conversion: what the fake model's `ainvoke` pays around its "
        "generation), plus the wrapped model's generation, plus ModelMuxer's routing and "
        f"call (about {goals['acomplete_added_us']:.0f} µs, the core section). With the fake "
        f"model at {goals['fake_p50_us']:.0f} µs, the 1.5x goal leaves "
        f"{0.5 * goals['fake_p50_us']:.0f} µs for the last two together: the ratio is set "
        "by how cheap the fake model is, and ModelMuxer's core is now most of what is left "
        "(building the request, routing). Against a real provider call (milliseconds) the "
        "same overhead is a few percent.",
        "",
    ]
    return lines


if __name__ == "__main__":
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    print(json.dumps(bench_profile("--quick" in sys.argv), indent=2))
